"""End-to-end `capo train` on a tiny local policy, for each algorithm: a few real TRL steps,
parameters change, metrics / checkpoints / plots written, resume continues at the right step.

The policy is the tiny random test model after a few seconds of SFT on two answers to "What is
1 + 1?": "1 + 1 = 2 ... \\boxed{2}" and "1 + 1 = 3 ... \\boxed{3}". Sampling then mixes right and
wrong answers and true and false arithmetic steps, so the rule verifier, the calculator judge
and therefore every algorithm get a real, non-zero learning signal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from capo.cli import main as capo_main

TARGETS = ["1 + 1 = 2\n\nThe answer is \\boxed{2}.", "1 + 1 = 3\n\nThe answer is \\boxed{3}."]
NUM_PROBLEMS = 24


def problem_text(k: int) -> str:
    return f"Question {k}: What is 1 + 1?"


def make_boxer(tiny_dir: Path, out: Path, steps: int = 80) -> Path:
    """Fine-tune the tiny model on the two TARGETS (prompted with the training template)."""
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from capo.eval.prompting import format_prompt

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        pairs = []
        for k in range(4):
            p = tok(format_prompt(tok, problem_text(k)), add_special_tokens=False).input_ids
            for t in TARGETS:
                pairs.append((p, tok(t, add_special_tokens=False).input_ids + [tok.eos_token_id]))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(steps):
            loss = sum(model(input_ids=torch.tensor([p + c]), labels=torch.tensor([[-100] * len(p) + c])).loss
                       for p, c in pairs)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def write_data(path: Path, n: int = NUM_PROBLEMS, verl: bool = False) -> Path:
    with path.open("w") as f:
        for k in range(n):
            if verl:
                row = {"prompt": [{"role": "user", "content": problem_text(k) + "\n\nPlease reason step by step, "
                                   "and put your final answer within \\boxed{}."}],
                       "reward_model": {"style": "rule", "ground_truth": "2"}, "data_source": "test"}
            else:
                row = {"problem": problem_text(k), "answer": "2"}
            f.write(json.dumps(row) + "\n")
    return path


def train_args(model: Path, data: Path, out: Path, *extra: str, steps: int = 3) -> list[str]:
    return ["train", "-o", str(out), "--model", str(model), f"data.train={data}", "data.eval_size=4",
            "data.train_size=null", f"trl.max_steps={steps}", "trl.per_device_train_batch_size=8",
            "trl.num_generations=4", "trl.max_completion_length=24", "trl.learning_rate=1e-3",
            "trl.temperature=1.0", "run.save_steps=2", "run.eval_max_new_tokens=24", "run.progress=false",
            "capo.num_critiques=2", *extra]


def state_dict(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def metric_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def boxer_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return make_boxer(tiny_model_dir, tmp_path_factory.mktemp("boxer") / "model")


@pytest.fixture(scope="session")
def data_file(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("data") / "train.jsonl")


@pytest.mark.parametrize("algorithm", ["capo", "grpo", "genorm"])
def test_each_algorithm_trains_and_writes_its_run_dir(algorithm, boxer_dir, data_file, tmp_path, capsys):
    run = tmp_path / algorithm
    assert capo_main(train_args(boxer_dir, data_file, run, f"algorithm={algorithm}")) == 0
    assert metric_steps(run) == [1, 2, 3]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert any(0.0 < r["accuracy"] < 1.0 for r in rows)  # a real signal
    assert all(r["loss"] is not None for r in rows)
    if algorithm == "capo":
        for key in ("judge/flagged_step_rate", "judge/vote_agreement", "judge/parse_failures", "judge/failures",
                    "judge/seconds", "judge/correct_with_flagged_steps", "token_reward"):
            assert key in rows[0], key
        assert any(r["judge/flagged_step_rate"] > 0 for r in rows)  # "1 + 1 = 3" is flagged
    if algorithm == "genorm":
        assert "judge/verdict_matches_rule" in rows[0]
    # parameters changed
    before, after = state_dict(boxer_dir), state_dict(run / "final")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # checkpoints, plots, summary, tensorboard, evaluations
    assert (run / "checkpoint-3" / "trainer_state.json").is_file()
    assert (run / "checkpoint-3" / "optimizer.pt").is_file()
    assert (run / "checkpoint-3" / "rng_state.pth").is_file()
    for name in ("curves.png", "summary.json", "summary.md", "eval_before.json", "eval_after.json", "config.yaml"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 3 and "before" in summary["eval"] and "after" in summary["eval"]
    assert (run / "completions.jsonl").read_text().strip()
    # --list-keys with the same command line shows exactly the run's resolved config.yaml
    if algorithm == "capo":
        import yaml
        from test_train_config import flatten, listed_keys

        assert capo_main([*train_args(boxer_dir, data_file, run, f"algorithm={algorithm}"), "--list-keys"]) == 0
        saved = flatten(yaml.safe_load((run / "config.yaml").read_text()))
        assert listed_keys(capsys.readouterr().out) == {k: repr(v) for k, v in saved.items()}
    # our model card replaces TRL's generic one ("a fine-tuned version of [None]")
    card = (run / "README.md").read_text()
    assert f"base_model: {boxer_dir}" in card and "[None]" not in card and "![" in card
    assert "held-out accuracy" in card and "before training" in card and "after training" in card
    assert ("process_groups" in card) is (algorithm == "capo")
    assert (run / "final" / "README.md").read_text().count("../curves.png") == 1


def test_resume_continues_exactly(boxer_dir, data_file, tmp_path):
    """3 steps in one go == 2 steps, stop, resume for the rest: same weights, same metric rows."""
    straight = tmp_path / "straight"
    assert capo_main(train_args(boxer_dir, data_file, straight, "--no-eval", steps=3)) == 0

    split = tmp_path / "split"
    assert capo_main(train_args(boxer_dir, data_file, split, "--no-eval", steps=2)) == 0
    assert metric_steps(split) == [1, 2]
    # an interrupted run may leave rows past its last checkpoint: they must not survive a resume
    with (split / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "accuracy": -1}) + "\n")
    assert capo_main(["train", "-o", str(split), "--resume", "trl.max_steps=3"]) == 0
    assert metric_steps(split) == [1, 2, 3]

    a, b = state_dict(straight / "final"), state_dict(split / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ra = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    for x, y in zip(ra, rb):
        for key in ("accuracy", "token_reward", "completions/mean_length", "loss"):
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-7), key


def test_verl_schema_parquet_lora_and_credit_options(boxer_dir, tmp_path):
    pytest.importorskip("peft")
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = write_data(tmp_path / "verl.jsonl", verl=True)
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    parquet = tmp_path / "verl.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    run = tmp_path / "lora"
    assert capo_main(train_args(boxer_dir, parquet, run, "model.lora=true", "model.lora_r=4", "--no-eval",
                                "capo.separators=next", "capo.critique=incorrect", "capo.vote=average",
                                steps=2)) == 0
    assert metric_steps(run) == [1, 2]
    assert (run / "final" / "adapter_config.json").is_file()


def test_refuses_to_overwrite_and_resume_needs_a_checkpoint(boxer_dir, data_file, tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "junk").write_text("x")
    assert capo_main(train_args(boxer_dir, data_file, run)) == 2
    assert "--resume" in capsys.readouterr().err
    assert capo_main(["train", "-o", str(tmp_path / "none"), "--resume"]) == 2
    assert "holds no run" in capsys.readouterr().err
