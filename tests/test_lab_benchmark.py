"""benchmarks/real_model_grpo_vs_capo.py: the report (intervals, pairing by seed) from run folders."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "real_model_grpo_vs_capo.py"


def _load():
    spec = importlib.util.spec_from_file_location("real_model_grpo_vs_capo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_from_run_folders(tmp_path):
    bench = _load()
    for alg, base in (("grpo", 0.4), ("capo", 0.5)):
        for seed in (0, 1, 2):
            run = tmp_path / f"{alg}-seed{seed}"
            run.mkdir()
            n_right = int(100 * (base + 0.02 * seed))
            correct = [i < n_right for i in range(100)]
            (run / "eval_after.json").write_text(json.dumps({"accuracy": n_right / 100, "correct": correct}))
            (run / "eval_before.json").write_text(json.dumps({"accuracy": 0.3, "correct": [False] * 100}))
            (run / "summary.json").write_text(json.dumps({"seconds": {"total": 60.0}}))
    text = bench.report(tmp_path, [0, 1, 2])
    assert "| grpo | 3 | 42.0 ± 2.0 % |" in text
    assert "| capo | 3 | 52.0 ± 2.0 % |" in text
    assert "- seed 0: +10.0 points" in text and "mean over 3 seeds: +10.0 points" in text
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["differences"] == [0.1, 0.1, 0.1]
    lo, hi = bench.hierarchical_ci([[True, False] * 50] * 3)
    assert lo < 0.5 < hi


def test_missing_runs_are_reported_not_fatal(tmp_path):
    text = _load().report(tmp_path, [0, 1])
    assert "| grpo | 0 | n/a |" in text


def test_capo_against_a_baseline_folder_is_paired_by_seed(tmp_path):
    bench = _load()
    for folder, base in (("new", 0.5), ("old", 0.45)):
        for seed in (0, 1):
            run = tmp_path / folder / f"capo-seed{seed}"
            run.mkdir(parents=True)
            n_right = int(100 * base) + seed
            correct = [i < n_right for i in range(100)]
            (run / "eval_after.json").write_text(json.dumps({"accuracy": n_right / 100, "correct": correct}))
    text = bench.report(tmp_path / "new", [0, 1], baseline=tmp_path / "old")
    assert "- seed 0: +5.0 points" in text and "- seed 1: +5.0 points" in text
    data = json.loads((tmp_path / "new" / "report.json").read_text())["capo_vs_baseline"]
    assert data["differences"] == [0.05, 0.05]
    assert data["difference_ci95"][0] > 0  # every item pair agrees in direction
