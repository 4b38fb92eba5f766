"""Benchmark loaders: each benchmark's local format (hand-written rows in the real schemas), the
hub fallback error, --data parsing, in-memory items, and the shared prompt template."""

import csv
import json
from pathlib import Path

import pytest

from capo.errors import CapoError
from capo.eval import benchmarks as B
from capo.eval.benchmarks import EvalItem, coerce_items, load_benchmark, parse_benchmarks, parse_data_args
from capo.eval.prompting import CHOICE_INSTRUCTION, MATH_INSTRUCTION, format_prompt
from support.data import math_items


# One or two rows per benchmark, in each source's own field names (see benchmarks.py's table).
ROWS = {
    "math500": [{"problem": "Compute $1+1$.", "solution": "It is $\\boxed{2}$.", "answer": "2",
                 "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"}],
    "gsm8k": [{"question": "Tom has 3 apples and buys 4. How many?",
               "answer": "3+4=<<3+4=7>>7\n#### 1,007"}],
    "aime24": [{"id": 60, "problem": "Find $x$.", "solution": "... $\\framebox{204}$", "answer": "204",
                "url": "u"}],
    "amc23": [{"id": 0, "problem": "How far?", "answer": 27.0, "url": "u", "question": "How far?"},
              {"id": 1, "question": "Half?", "answer": 0.5}],
    "minerva": [{"problem": "Diameter?", "solution": "$s=\\boxed{1.6} \\mathrm{~cm}$", "type": "Astro", "idx": 0},
                {"question": "Hub schema?", "answer": "4.5e33"}],
    "olympiadbench": [{"id": 1606, "subfield": "Combinatorics", "context": None, "question": "How many moves?",
                       "solution": ["Two."], "final_answer": ["$2$"], "is_multiple_answer": False,
                       "unit": None, "answer_type": "Numerical", "error": None},
                      {"id": 7, "context": "Let $n=3$.", "question": "Pairs?",
                       "final_answer": ["$(6,3),(9,3)$"], "is_multiple_answer": True}],
    "arc_challenge": [{"id": "Mercury_1", "question": "Which is a metal?",
                       "choices": {"text": ["wood", "iron", "glass", "air"], "label": ["A", "B", "C", "D"]},
                       "answerKey": "B"},
                      {"id": "NYSED_2", "question": "Pick three.",
                       "choices": {"text": ["one", "two", "three"], "label": ["1", "2", "3"]}, "answerKey": "3"},
                      {"id": "orig_3", "question": {"stem": "Original ARC jsonl?",
                                                    "choices": [{"text": "no", "label": "A"},
                                                                {"text": "yes", "label": "B"}]},
                       "answerKey": "B"}],
    "mmlu_pro": [{"question_id": 70, "question": "Ten options?", "options": [f"o{i}" for i in range(10)],
                  "answer": "I", "answer_index": 8, "cot_content": "", "category": "math", "src": "x"},
                 {"question_id": 71, "question": "Index only?", "options": ["a", "b", "c"], "answer_index": 2}],
}
GPQA_ROWS = [{"Record ID": f"rec{i}", "Question": f"Question {i}?", "Correct Answer": f"right {i}",
              "Incorrect Answer 1": f"wrong {i}a", "Incorrect Answer 2": f"wrong {i}b",
              "Incorrect Answer 3": f"wrong {i}c", "Subdomain": "Physics"} for i in range(12)]


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def data_root(tmp_path):
    """A --data root laid out like ../shared/data: <root>/<folder>/test.jsonl."""
    folders = {"minerva": "minerva_math"}
    for name, rows in ROWS.items():
        write_jsonl(tmp_path / folders.get(name, name) / "test.jsonl", rows)
    gpqa = tmp_path / "gpqa_diamond" / "gpqa_diamond.csv"
    gpqa.parent.mkdir()
    with gpqa.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(GPQA_ROWS[0]))
        w.writeheader()
        w.writerows(GPQA_ROWS)
    return tmp_path


def test_math_loaders_map_fields(data_root):
    got = {n: load_benchmark(n, data_root) for n in B.GROUPS["math"]}
    assert [(i.problem, i.answer) for i in got["math500"]] == [("Compute $1+1$.", "2")]
    assert got["math500"][0].id == "test/algebra/1.json" and got["math500"][0].meta["level"] == 1
    assert got["gsm8k"][0].answer == "1007" and got["gsm8k"][0].problem.startswith("Tom")
    assert got["aime24"][0].answer == "204" and got["aime24"][0].id == "60"
    assert [i.answer for i in got["amc23"]] == ["27", "0.5"]
    assert [i.problem for i in got["amc23"]] == ["How far?", "Half?"]
    assert [i.answer for i in got["minerva"]] == ["1.6", "4.5e33"]
    assert [i.answer for i in got["olympiadbench"]] == ["2", "(6,3),(9,3)"]
    assert got["olympiadbench"][1].problem == "Let $n=3$.\n\nPairs?"
    for name, items in got.items():
        assert all(i.kind == "math" and i.benchmark == name and i.options is None for i in items)


def test_choice_loaders_map_fields(data_root):
    arc = load_benchmark("arc", data_root)
    assert [(i.answer, i.options) for i in arc] == [("B", ["wood", "iron", "glass", "air"]),
                                                    ("C", ["one", "two", "three"]), ("B", ["no", "yes"])]
    assert arc[2].problem == "Original ARC jsonl?" and all(i.kind == "choice" for i in arc)
    mmlu = load_benchmark("mmlu-pro", data_root)
    assert mmlu[0].answer == "I" and len(mmlu[0].options) == 10 and mmlu[0].meta["category"] == "math"
    assert mmlu[1].answer == "C"  # from answer_index
    gpqa = load_benchmark("gpqa", data_root)
    assert len(gpqa) == 12 and all(len(i.options) == 4 for i in gpqa)
    for i, item in enumerate(gpqa):
        assert item.options["ABCD".index(item.answer)] == f"right {i}"
        assert sorted(item.options) == sorted([f"right {i}", f"wrong {i}a", f"wrong {i}b", f"wrong {i}c"])
    assert len({i.answer for i in gpqa}) > 1  # shuffled, not always A


def test_gpqa_shuffle_is_deterministic_and_independent_of_order_and_limit(tmp_path):
    f = write_jsonl(tmp_path / "g.jsonl", GPQA_ROWS)
    r = write_jsonl(tmp_path / "r.jsonl", GPQA_ROWS[::-1])
    a = load_benchmark("gpqa_diamond", f, seed=0)
    assert [i.options for i in a] == [i.options for i in load_benchmark("gpqa_diamond", f, seed=0)]
    assert [i.options for i in a] == [i.options for i in load_benchmark("gpqa_diamond", r, seed=0)][::-1]
    assert [i.options for i in a[:3]] == [i.options for i in load_benchmark("gpqa_diamond", f, limit=3)]
    assert [i.options for i in a] != [i.options for i in load_benchmark("gpqa_diamond", f, seed=1)]


def test_other_file_formats_and_limit(tmp_path):
    rows = ROWS["mmlu_pro"][:1] * 5
    j = tmp_path / "m.json"
    j.write_text(json.dumps(rows))
    assert len(load_benchmark("mmlu_pro", j)) == 5
    j2 = tmp_path / "m2.json"
    j2.write_text(json.dumps({"data": rows}))
    assert len(load_benchmark("mmlu_pro", j2, limit=2)) == 2
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS["math500"] * 3), tmp_path / "m.parquet")
    assert [i.answer for i in load_benchmark("math500", tmp_path / "m.parquet")] == ["2"] * 3
    # a folder holding just one data file
    write_jsonl(tmp_path / "only" / "whatever.jsonl", ROWS["gsm8k"])
    assert load_benchmark("gsm8k", tmp_path / "only")[0].answer == "1007"


def test_bad_data_gives_one_line_errors(tmp_path, data_root):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"foo": 1}])
    with pytest.raises(CapoError, match=r"bad.jsonl: row 0 is not in gsm8k's format.*'question'"):
        load_benchmark("gsm8k", bad)
    with pytest.raises(CapoError, match="no such file"):
        load_benchmark("gsm8k", tmp_path / "missing")
    with pytest.raises(CapoError, match="11 options"):
        load_benchmark("mmlu_pro", write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "options": list("abcdefghijk"),
                                                                        "answer": "A"}]))
    with pytest.raises(CapoError, match="unknown benchmark"):
        load_benchmark("nope", data_root)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CapoError, match="no data for aime24"):
        load_benchmark("aime24", empty)
    for err in (pytest.raises(CapoError),):
        with err as info:
            load_benchmark("gsm8k", bad)
        assert "\n" not in str(info.value)


def test_hub_unreachable_is_a_clean_error(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(B, "hub_reachable", lambda timeout=5.0: False)
    with pytest.raises(CapoError, match=r"cannot download math500 .*HuggingFaceH4/MATH-500.*pass --data PATH"):
        load_benchmark("math500")


def test_parse_benchmarks_and_data_args(tmp_path):
    assert parse_benchmarks("gsm8k, MATH500,gsm") == ["gsm8k", "math500"]
    assert parse_benchmarks("math") == list(B.GROUPS["math"])
    assert len(parse_benchmarks("all")) == 9 and parse_benchmarks("choice") == ["arc_challenge", "gpqa_diamond",
                                                                             "mmlu_pro"]
    with pytest.raises(CapoError):
        parse_benchmarks(" , ")
    names = ["gsm8k", "math500"]
    assert parse_data_args(None, names) == {"gsm8k": None, "math500": None}
    assert parse_data_args(["/d"], names) == {"gsm8k": "/d", "math500": "/d"}
    assert parse_data_args(["/d", "math-500=/m.jsonl"], names) == {"gsm8k": "/d", "math500": "/m.jsonl"}
    with pytest.raises(CapoError, match="not in --benchmarks"):
        parse_data_args(["aime24=/a.jsonl"], names)


def test_real_math_data_loads():
    sizes = {"math500": 500, "gsm8k": 1319, "aime24": 30, "amc23": 40, "minerva": 272, "olympiadbench": 675}
    for name, n in sizes.items():
        items = math_items(name)
        assert len(items) == n, name
        assert all(i.problem.strip() and i.answer.strip() for i in items), name
    assert math_items("gsm8k", limit=1)[0].answer == "18"
    assert math_items("amc23", limit=1)[0].answer == "27"


def test_coerce_items():
    items = coerce_items([("1+1?", 2), {"problem": "p", "answer": 3.0, "benchmark": "lab"},
                          EvalItem("q", "B", kind="choice", options=["x", "y"])])
    assert [(i.problem, i.answer, i.benchmark) for i in items] == [("1+1?", "2", "custom"), ("p", "3", "lab"),
                                                                  ("q", "B", "custom")]
    with pytest.raises(ValueError):
        coerce_items([EvalItem("q", "A", kind="choice")])
    with pytest.raises(TypeError):
        coerce_items([42])


class ChatTok:
    chat_template = "x"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def test_format_prompt_is_the_training_template():
    p = format_prompt(ChatTok(), "What is 2+2?")
    assert p == f"<user>What is 2+2?\n\n{MATH_INSTRUCTION}</user><assistant>"
    assert "\\boxed{}" in MATH_INSTRUCTION
    c = format_prompt(ChatTok(), "Pick.", kind="choice", options=["x", "y", "z"], system="Be brief.")
    assert c.startswith("<system>Be brief.</system><user>Pick.\n\nOptions:\nA. x\nB. y\nC. z\n\n")
    assert CHOICE_INSTRUCTION in c
    plain = format_prompt(None, "2+2?")
    assert plain.startswith("Question: 2+2?") and plain.endswith("Answer:")
    with pytest.raises(ValueError):
        format_prompt(ChatTok(), "Pick.", kind="choice")
    with pytest.raises(ValueError):
        format_prompt(ChatTok(), "Pick.", kind="choice", options=list("abcdefghijk"))
