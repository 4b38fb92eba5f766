"""`capo critique` and `capo processbench` end to end (calculator judge and a local HTTP judge)."""

import json
from pathlib import Path

import pytest

from capo.cli import main
from support.fake_servers import FakeChatServer
from support.data import data_root


ROWS = [
    {"problem": "Janet has 16 eggs, eats 3, bakes 4, sells the rest at $2. Dollars?",
     "response": "She sells 16 - 3 - 4 = 9 eggs.\n\nShe makes 9 * 2 = 19 dollars.\n\nSo \\boxed{19}",
     "reference": "18", "group": "q1"},
    {"problem": "Janet has 16 eggs, eats 3, bakes 4, sells the rest at $2. Dollars?",
     "response": "She sells 16 - 3 - 4 = 9 eggs.\n\nShe makes 9 * 2 = 18 dollars.\n\nSo \\boxed{18}",
     "reference": "18", "group": "q1", "correct": True},
    {"problem": "What is 2 + 3?", "response": "2 + 3 = 5\n\n\\boxed{5}", "correct": 1},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_critique_calculator_jsonl_out(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    assert main(["critique", str(src), "-o", str(out), "--n", "2", "--no-progress"]) == 0
    rows = read_jsonl(out)
    assert len(rows) == 3
    assert rows[0]["steps"][1] == "She makes 9 * 2 = 19 dollars." and rows[0]["wrong_steps"] == [1]
    assert rows[0]["step_weights"] == [0.0, 1.0, 0.0] and rows[0]["has_verdict"]
    assert rows[1]["wrong_steps"] == [] and len(rows[1]["critiques"]) == 2
    assert rows[0]["group"] == "q1" and "tokens" not in rows[0]
    err = capsys.readouterr().err
    assert "3 responses, 6 critiques, 0 failed, 0 unparsable" in err and "flagged 1/" in err


def test_critique_with_tokenizer_gives_token_rewards_and_advantages(tmp_path, tiny_model_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    assert main(["critique", str(src), "-o", str(out), "--tokenizer", str(tiny_model_dir), "--no-progress",
                 "--C", "2", "--P", "1", "--vote", "union"]) == 0
    rows = read_jsonl(out)
    for r in rows:
        assert len(r["tokens"]) == len(r["token_ids"]) == len(r["token_rewards"]) == len(r["token_advantages"])
        assert "".join(r["tokens"]) == r["response"]
    # row 0: wrong answer (verified against reference 18) and a flagged step: rewards 0 or -P
    assert rows[0]["outcome"] == 0.0 and set(rows[0]["token_rewards"]) == {0.0, -1.0}
    assert rows[1]["outcome"] == 1.0 and set(rows[1]["token_rewards"]) == {2.0}
    # the flagged step's tokens are exactly the tokens with reward -P
    flagged = "".join(t for t, rw in zip(rows[0]["tokens"], rows[0]["token_rewards"]) if rw == -1.0)
    assert flagged.strip() == rows[0]["steps"][1]
    # rows 0 and 1 form one group: advantages normalized together; row 2 is alone: zero advantage
    assert max(rows[1]["token_advantages"]) > 0 > min(rows[0]["token_advantages"])
    assert set(rows[2]["token_advantages"]) == {0.0}


def test_critique_guards_follow_the_flags(tmp_path, tiny_model_dir):
    # an all-wrong group: honest work with a flagged step, and a bare answer with nothing to check
    rows = [{**ROWS[0], "correct": False},
            {"problem": ROWS[0]["problem"], "response": "\\boxed{7}", "group": "q1", "correct": False}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)

    def advantages(*flags):
        out = tmp_path / "out.jsonl"
        assert main(["critique", str(src), "-o", str(out), "--tokenizer", str(tiny_model_dir), "--no-progress",
                     *flags]) == 0
        return [sum(r["token_advantages"]) / len(r["token_advantages"]) for r in read_jsonl(out)]

    honest, bare = advantages("--process-groups", "all", "--unjudgeable", "ignore", "--separators", "outside")
    assert bare > 0 > honest  # the paper's rule: saying nothing checkable wins
    honest, bare = advantages()  # the default: unjudgeable=flagged, process_groups=all
    assert bare < honest
    assert advantages("--process-groups", "with_correct") == [0.0, 0.0]  # no process signal here


def test_critique_tokenizer_needs_an_outcome(tmp_path, tiny_model_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"problem": "p", "response": "1 + 1 = 2"}])
    assert main(["critique", str(src), "--tokenizer", str(tiny_model_dir), "--no-progress"]) == 2
    assert "in.jsonl:1: --tokenizer needs `correct` or `reference`" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ('{"problem": "x"}\n', "in.jsonl:1: missing field 'response'"),
    ('{"problem": "x", "response": "y"}\n\n{bad json\n', "in.jsonl:3: invalid JSON"),
    ('[1, 2]\n', "in.jsonl:1: expected a JSON object"),
    ('{"problem": "x", "response": 3}\n', "in.jsonl:1: field 'response' must be a string"),
    ('{"problem": "x", "response": "y", "correct": "yes"}\n', "in.jsonl:1: field 'correct' must be"),
])
def test_critique_bad_input_is_one_line_error(tmp_path, capsys, content, message):
    src = tmp_path / "in.jsonl"
    src.write_text(content)
    assert main(["critique", str(src), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_critique_bad_options(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    assert main(["critique", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["critique", str(src), "--judge", "nope:x"]) == 2
    assert main(["critique", str(src), "--vote", "dictator"]) == 2
    assert main(["critique", str(src), "--judge", "openai:m", "--base-url", "http://h:1", "--temperature", "-1"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "unknown judge" in err and "unknown --vote" in err and "temperature" in err


def test_critique_openai_judge_with_cache_and_failures(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    cache = tmp_path / "cache.sqlite"
    args = ["critique", str(src), "-o", str(out), "--n", "3", "--max-tokens", "16", "--cache", str(cache),
            "--retries", "0", "--no-progress"]
    with FakeChatServer(answer="Wrong step list: [0]") as srv:
        assert main([*args, "--judge", "openai:fake", "--base-url", srv.base_url]) == 0
        rows = read_jsonl(out)
        assert all(r["wrong_steps"] == [0] and len(r["critiques"]) == 3 for r in rows)
        assert srv.requests == 3
        srv.mode = "error"  # a broken server now: everything comes from the cache
        assert main([*args, "--judge", "openai:fake", "--base-url", srv.base_url]) == 0
        assert srv.requests == 3 and all(c["cached"] for r in read_jsonl(out) for c in r["critiques"])
    # a dead server and no cache: no verdicts, counted, exit 0
    assert main([*args[:-3], "--no-cache", "--retries", "0", "--no-progress", "--judge", "openai:fake",
                 "--base-url", srv.base_url]) == 0
    rows = read_jsonl(out)
    assert not any(r["has_verdict"] for r in rows) and rows[0]["critiques"][0]["error"].startswith("connection")
    assert "9 failed (connection=9)" in capsys.readouterr().err


def test_processbench_calculator_local(tmp_path, capsys):
    root = data_root()
    data = ["--data", str(root / "processbench")] if root is not None else []  # None: the hub
    out = tmp_path / "pb.json"
    preds = tmp_path / "pred.jsonl"
    assert main(["processbench", *data, "--split", "gsm8k", "--limit", "300",
                 "--output", str(out), "--predictions", str(preds), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    captured = capsys.readouterr()
    assert json.loads(captured.out) == report
    assert report["items"] == 300 and report["erroneous_items"] + report["correct_items"] == 300
    assert report["correct_items"] > 50
    assert report["acc_correct"] == 1.0  # the calculator never flags these correct solutions
    for key in ("acc_erroneous", "f1", "step_precision", "step_recall"):
        assert 0.0 <= report[key] <= 1.0
    assert len(read_jsonl(preds)) == 300 and "capo processbench: gsm8k 300 items" in captured.err
    assert main(["processbench", *data, "--limit", "30", "--sample-seed", "1",
                 "--output", str(out), "--no-progress"]) == 0
    sampled = json.loads(out.read_text())
    assert sampled["items"] == 30 and sampled["correct_items"] > 5 and sampled["sample_seed"] == 1


def test_processbench_metrics_definitions():
    from capo.judges.processbench import processbench_metrics

    items = [{"steps": ["a", "b", "c"], "label": 1}, {"steps": ["a", "b"], "label": -1},
             {"steps": ["a", "b", "c"], "label": 0}, {"steps": ["a"], "label": -1}]
    m = processbench_metrics(items, [[1, 2], [], [1], None])
    assert m["acc_erroneous"] == 0.5 and m["acc_correct"] == 0.5 and m["f1"] == 0.5
    only_errors = processbench_metrics(items[:1], [[]])
    assert only_errors["acc_correct"] is None and only_errors["f1"] is None
    assert only_errors["step_precision"] is None and only_errors["step_recall"] == 0.0
    # scored steps: item0 steps 0..1 (step 1 wrong: TP), item1 both right, item2 step 0 (FN); item3 no verdict
    assert m["step_precision"] == 1.0 and m["step_recall"] == 0.5 and m["no_verdict_items"] == 1
    assert m["scored_steps"] == 2 + 2 + 1


def test_processbench_data_errors(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "gsm8k.json"
    bad.write_text(json.dumps([{"problem": "p", "steps": ["a"], "label": 5}]))
    assert main(["processbench", "--data", str(tmp_path), "--no-progress"]) == 2
    assert main(["processbench", "--data", str(tmp_path), "--split", "math", "--no-progress"]) == 2
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # an unreachable hub: fast, clean error
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["processbench", "--limit", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "label 5 out of range" in err[0] and "no math.json" in err[1]
    assert "cannot reach the Hugging Face hub" in err[2] and "--data PATH" in err[2]
