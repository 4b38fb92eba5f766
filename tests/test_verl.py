"""The verl plugin's tests (tests/verl_plugin), run in their own environment.

verl pins its own transformers and tensordict, so its tests run in .venv-verl (scripts/setup-verl.sh,
idempotent: a few minutes the first time, instant afterwards), in a subprocess; this test fails
with their output when they fail. About two minutes on a busy 2-core machine (one local CPU Ray
cluster, a CPU TransferQueue).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from support import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def verl_python() -> str:
    """A Python with verl and capo: $CAPO_VERL_PYTHON, else .venv-verl from scripts/setup-verl.sh."""
    env_python = os.environ.get("CAPO_VERL_PYTHON")
    if env_python:
        return env_python
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup-verl.sh")], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/setup-verl.sh failed (exit {proc.returncode}) after "
                           f"{time.monotonic() - t0:.0f} s:\n" + "\n".join(proc.stderr.splitlines()[-30:]))
    return str(ROOT / ".venv-verl" / "bin" / "python")


def test_verl_plugin_suite(verl_python, tiny_model_dir):
    # tiny_model_dir: built here, in the project venv, so the subprocess finds it in .cache
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([verl_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
                           str(ROOT / "tests" / "verl_plugin")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"the verl plugin's tests failed in {verl_python}:\n{tail}"
    assert " passed" in tail and "skipped" not in tail, tail
