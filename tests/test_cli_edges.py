"""Issue 15, CLI edges: every path is checked before any work, outputs are written whole or not at
all, run directories appear only once validation passed. Each error: exit 2, one line naming
what and where, nothing written."""

import json

import pytest

from capo.cli import main
from capo.outputs import atomic_output

ROW = {"problem": "What is 2 + 3?", "response": "2 + 3 = 5\n\n\\boxed{5}", "correct": 1}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def no_judge(monkeypatch):
    """Fail the test if a command gets as far as building its judge."""
    def refuse(*args, **kwargs):
        raise AssertionError("the judge was built before the paths were checked")

    monkeypatch.setattr("capo.judges.critique_command.judge_from_args", refuse)
    monkeypatch.setattr("capo.judges.processbench_command.judge_from_args", refuse)


def test_critique_output_into_a_missing_folder_fails_before_any_critique(tmp_path, capsys, no_judge):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROW) + "\n")
    out = tmp_path / "missing" / "out.jsonl"
    assert main(["critique", str(src), "-o", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("capo critique: error: -o ") and str(out) in line and "no such folder" in line
    assert not out.parent.exists()
    assert main(["critique", str(src), "-o", str(tmp_path), "--no-progress"]) == 2  # a folder, not a file
    assert "is a folder" in one_error_line(capsys)


def test_critique_empty_input_leaves_an_existing_output_alone(tmp_path, capsys, no_judge):
    src = tmp_path / "in.jsonl"
    src.write_text("\n \n")
    out = tmp_path / "out.jsonl"
    out.write_text("earlier results\n")
    assert main(["critique", str(src), "-o", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "in.jsonl: no rows to critique" in line
    assert out.read_text() == "earlier results\n"


def test_critique_missing_tokenizer_folder_is_named(tmp_path, capsys, no_judge):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROW) + "\n")
    assert main(["critique", str(src), "--tokenizer", "/nonexistent", "--no-progress"]) == 2
    assert one_error_line(capsys) == "capo critique: error: --tokenizer /nonexistent: no such folder"
    assert main(["critique", str(src), "--tokenizer", str(src), "--no-progress"]) == 2
    assert "not a folder" in one_error_line(capsys)


def test_critique_output_is_replaced_whole(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROW) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    assert main(["critique", str(src), "-o", str(out), "--n", "1", "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["has_verdict"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no temporary file left


def test_atomic_output_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    target.chmod(0o640)
    with pytest.raises(RuntimeError):
        with atomic_output(target) as fh:
            fh.write("half of the new ")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    with atomic_output(target) as fh:
        fh.write("new\n")
    assert target.read_text() == "new\n" and target.stat().st_mode & 0o777 == 0o640


def test_processbench_bad_split_lists_the_valid_ones(tmp_path, capsys, no_judge):
    (tmp_path / "gsm8k.json").write_text(json.dumps([{"problem": "p", "steps": ["a"], "label": -1}]))
    assert main(["processbench", "--split", "bogus", "--data", str(tmp_path), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert f"--data {tmp_path}" in line and "no bogus.json" in line
    assert "gsm8k, math, olympiadbench, omnimath" in line and "this folder has: gsm8k" in line


@pytest.mark.parametrize("option", ["--output", "--predictions"])
def test_processbench_outputs_are_checked_before_the_work(tmp_path, capsys, no_judge, option):
    (tmp_path / "gsm8k.json").write_text(json.dumps([{"problem": "p", "steps": ["a"], "label": -1}]))
    target = tmp_path / "missing" / "x.json"
    assert main(["processbench", "--data", str(tmp_path), option, str(target), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert f"{option} {target}" in line and "no such folder" in line


def test_processbench_writes_its_outputs_whole(tmp_path, capsys):
    (tmp_path / "gsm8k.json").write_text(json.dumps([{"problem": "p", "steps": ["1 + 1 = 2"], "label": -1}]))
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    assert main(["processbench", "--data", str(tmp_path), "--output", str(out), "--predictions", str(preds),
                 "--no-progress"]) == 0
    assert json.loads(out.read_text())["items"] == 1 and len(preds.read_text().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gsm8k.json", "p.jsonl", "r.json"]


@pytest.mark.parametrize("args, message", [
    (["--model", "/nonexistent/policy"], "config key 'model.name_or_path': no such folder '/nonexistent/policy'"),
    (["data.train=/nonexistent/train.jsonl"], "config key 'data.train': no such file '/nonexistent/train.jsonl'"),
    (["data.eval=./missing.parquet"], "config key 'data.eval': no such file './missing.parquet'"),
    (["--judge", "hf:/nonexistent/judge"], "config key 'judge.spec': no such folder '/nonexistent/judge'"),
])
def test_train_bad_paths_fail_fast_and_leave_no_run_directory(tmp_path, capsys, monkeypatch, args, message):
    run = tmp_path / "run"
    import capo.models.smollm2

    def no_model(*a, **k):
        raise AssertionError("a model was resolved before the paths were checked")

    monkeypatch.setattr(capo.models.smollm2, "resolve_model", no_model)  # fail fast: no model, no data
    assert main(["train", "-o", str(run), *args]) == 2
    assert one_error_line(capsys) == f"capo train: error: {message}"
    assert not run.exists()


def test_train_bad_data_is_reported_before_the_policy_loads(tmp_path, capsys, monkeypatch):
    """A data file that exists but holds no problems: found before the policy is even resolved,
    and the corrected rerun is not refused ("not empty")."""
    def no_model(name):
        raise AssertionError("the policy was resolved before the data was checked")

    monkeypatch.setattr("capo.models.smollm2.resolve_model", no_model)
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"text": "no problem or answer column"}) + "\n")
    run = tmp_path / "run"
    assert main(["train", "-o", str(run), f"data.train={data}", "data.eval_size=0"]) == 2
    line = one_error_line(capsys)
    assert str(data) in line and "expected verl columns" in line
    assert not run.exists()


def test_train_folder_that_is_no_model_leaves_no_run_directory(tmp_path, capsys):
    """The case from the issue: a bad policy used to leave config.yaml, so the rerun refused."""
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    run = tmp_path / "run"
    assert main(["train", "-o", str(run), "--model", str(empty), "data.train_size=8", "data.eval_size=0"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("capo train: error: config key 'model.name_or_path': cannot load") and str(empty) in line
    assert not run.exists()
