"""Lab experiment definitions, resumption bookkeeping and reports (no training here)."""

from __future__ import annotations

import json

import pytest

from capo.errors import CapoError
from capo.lab import experiments as ex
from capo.lab.command import resolve_names


def test_experiment_arms():
    main = ex.EXPERIMENTS["main"](ex.QUICK)
    assert [s.algorithm for _, s in main] == ["sft", "grpo", "capo", "capo"]
    capo = main[2][1]
    assert (capo.judge, capo.C, capo.P, capo.separators) == ("oracle", 2.0, 1.0, "outside")
    assert main[3][1].key() == capo.key() + "-sepnext"
    voting = ex.EXPERIMENTS["voting"](ex.QUICK)
    keys = [s.key() for _, s in voting]
    assert len(keys) == len(set(keys)) == 1 + 1 + 3 * 4  # grpo, N=1, {2,4,8} x 4 methods
    penalty = ex.EXPERIMENTS["penalty"](ex.QUICK)
    assert [s.P for _, s in penalty if s.algorithm == "capo"] == [0.1, 1, 2, 5, 1, 2, 5]
    # the C=2, P=1 oracle arm and GRPO are the same cells in main, penalty and noise
    shared = {s.key() for _, s in main} & {s.key() for _, s in penalty} & {
        s.key() for _, s in ex.EXPERIMENTS["noise"](ex.QUICK)}
    assert shared == {"grpo", capo.key()}


def test_noisy_judge_seed_follows_the_run_seed():
    spec = ex.RunSpec("capo", "noisy:ff=0.1,miss=0.2")
    assert ex._judge_spec_for_seed(spec, 2) == "noisy:ff=0.1,miss=0.2,seed=1002"
    assert ex._judge_spec_for_seed(ex.RunSpec("capo", "noisy"), 0) == "noisy:seed=1000"
    assert ex._judge_spec_for_seed(ex.RunSpec("capo", "oracle"), 0) == "oracle"


def test_resolve_names():
    assert resolve_names(["all"]) == ["main", "voting", "penalty", "noise", "guards"]
    assert resolve_names(["penalty", "main", "penalty"]) == ["penalty", "main"]
    with pytest.raises(CapoError):
        resolve_names(["bogus"])


def _fake_cell(out, spec, seed, settings, accs):
    curve = [{"step": 10 * i, "accuracy": a, "wrong_step_rate": 0.3 - a / 10, "process_correct": a - 0.1,
              "right_answer_wrong_process": 0.05} for i, a in enumerate(accs)]
    path = ex.cell_path(out, spec, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": settings.fingerprint(), "seed": seed, "curve": curve}))


def test_report_from_cells(tmp_path):
    settings = ex.settings_with(ex.QUICK, steps=30, seeds=(0, 1, 2))
    main = {s.algorithm: s for _, s in ex.EXPERIMENTS["main"](settings)[:3]}
    for seed in (0, 1, 2):
        _fake_cell(tmp_path, main["sft"], seed, settings, [0.5])
        _fake_cell(tmp_path, main["grpo"], seed, settings, [0.5, 0.55, 0.58, 0.6 + 0.01 * seed])
        _fake_cell(tmp_path, main["capo"], seed, settings, [0.5, 0.6, 0.66, 0.7])
    md = ex.write_report("main", settings, tmp_path).read_text()
    assert "| GRPO-Rule | 3 | 61.0 ± 1.0 |" in md
    assert "| CAPO (oracle, C=2, P=1) | 3 | 70.0 ± 0.0 |" in md
    assert "| 20 of 30 |" in md  # CAPO's mean curve first reaches GRPO's final mean (61 %) at step 20
    assert (tmp_path / "main_curves.png").stat().st_size > 1000
    # a cell written with other settings does not count (and will be rerun)
    other = ex.settings_with(settings, learning_rate=1e-3)
    assert ex.load_cell(ex.cell_path(tmp_path, main["grpo"], 0), other) is None
    assert ex.load_cell(ex.cell_path(tmp_path, main["grpo"], 0), settings) is not None


def test_paired_gain_and_noise_axes():
    grpo = [{"seed": s, "curve": [{"accuracy": 0.5 + 0.1 * s}]} for s in (0, 1)]
    capo = [{"seed": s, "curve": [{"accuracy": 0.6 + 0.1 * s}]} for s in (0, 1, 2)]
    assert [round(g, 6) for g in ex._paired_gains(capo, grpo)] == [0.1, 0.1]
    assert ex._noise_of(ex.RunSpec("capo", "noisy:ff=0.2,miss=0.3")) == (0.2, 0.3)
    assert ex._noise_of(ex.RunSpec("capo", "oracle")) == (0.0, 0.0)


def test_lab_separators_option_reaches_the_trainer():
    """RunSpec(separators="next") is passed to the production trainer as its `separators` setting."""
    from capo.lab.trainer_adapter import credit_settings

    fixed = credit_settings(ex.RunSpec("capo", "oracle", C=2, P=5, separators="next"))
    assert (fixed.separators, fixed.P, fixed.vote) == ("next", 5, "intersection")
    assert credit_settings(ex.RunSpec("capo", "oracle")).separators == "outside"


def test_guard_keys_extend_the_paper_key_only_when_set():
    base = ex.RunSpec("capo", "oracle", separators="next")
    assert base.key() == "capo-oracle-intersection-n1-C2-P1-sepnext"  # earlier cells stay valid
    assert ex.RunSpec("capo", "oracle", separators="next", penalty="response").key() == base.key() + "-penaltyresponse"
    keys = [spec.key() for _, spec in ex.EXPERIMENTS["guards"](ex.FULL)]
    assert len(keys) == len(set(keys))
