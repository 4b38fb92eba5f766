"""The suite on a fresh clone with no ../shared beside it: data tests skip with their reason
(a user's machine), and fail under CAPO_REQUIRE_DATA=1 (CI, which always has the data)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from support import ROOT

DATA_TESTS = [
    "tests/test_steps.py::test_processbench_steps_round_trip",
    "tests/test_verify_real_data.py",
    "tests/test_judges_calculator.py::test_gsm8k_reference_solutions_false_flags_and_detection",
    "tests/test_judges_cli.py::test_processbench_calculator_local",
    "tests/test_eval_benchmarks.py::test_real_math_data_loads",
]
NUM_DATA_TESTS = 8  # test_verify_real_data holds 4


def _clone_without_shared(tmp_path):
    repo = tmp_path / "clone" / "capo"  # nothing named shared/ beside it
    for name in ("tests", "benchmarks"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    assert not (repo.parent / "shared").exists()
    return repo


def _pytest(repo, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("CAPO_TEST_DATA", "CAPO_REQUIRE_DATA")}
    environ.update(HF_HUB_OFFLINE="1", **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", *DATA_TESTS],
                          cwd=repo, env=environ, capture_output=True, text=True, timeout=600)


def test_data_tests_skip_with_a_reason_without_shared_and_fail_in_ci(tmp_path):
    repo = _clone_without_shared(tmp_path)
    user = _pytest(repo)
    assert user.returncode == 0, user.stdout[-3000:]
    assert f"{NUM_DATA_TESTS} skipped" in user.stdout and "failed" not in user.stdout, user.stdout[-3000:]
    # the reason is in the summary (pytest groups identical reasons: "SKIPPED [8] ...")
    assert "SKIPPED" in user.stdout and "shared/data or the Hugging Face hub" in user.stdout, user.stdout[-3000:]
    ci = _pytest(repo, CAPO_REQUIRE_DATA="1")
    assert ci.returncode != 0 and f"{NUM_DATA_TESTS} failed" in ci.stdout, ci.stdout[-3000:]
    assert "CAPO_REQUIRE_DATA=1" in ci.stdout
