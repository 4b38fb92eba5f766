"""Helpers shared by the test suite's fixtures (tests/conftest.py): paths and one-time setup."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
TEST_MODELS = CACHE / "test-models"  # tiny models, reused across runs (.cache/ is git-ignored)
TEST_LOGS = CACHE / "test-logs"  # vLLM server logs of the test session

TINY_SETTINGS = dict(arch="qwen2", hidden_size=64, num_layers=2, vocab_size=512, seed=0)
TINY_NAME = "tiny-qwen2-h64-l2-v512-s0"


def ensure_vllm_python() -> str:
    """Path of a Python with vLLM: $CAPO_VLLM_PYTHON, else run scripts/setup-vllm.sh (idempotent,
    about 1.5 minutes the first time, instant afterwards) and use .venv-vllm. Raises on failure."""
    env_python = os.environ.get("CAPO_VLLM_PYTHON")
    if env_python:
        return env_python
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup-vllm.sh")], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"scripts/setup-vllm.sh failed (exit {proc.returncode}) after {time.monotonic() - t0:.0f} s:\n"
            + "\n".join(proc.stderr.splitlines()[-30:])
        )
    python = ROOT / ".venv-vllm" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"scripts/setup-vllm.sh succeeded but {python} is missing")
    return str(python)


def tiny_model_path() -> Path:
    """The test suite's tiny random Qwen2 model + byte-level BPE tokenizer (built once, cached in
    .cache/test-models)."""
    from capo.models.tiny import build_tiny_model

    return build_tiny_model(TEST_MODELS / TINY_NAME, **TINY_SETTINGS)


def start_named_vllm_server(name: str):
    """A started vLLM server (tests/support/vllm_server.VLLMServer) for `tiny` (the test suite's
    tiny random model) or `smollm2` (the offline SmolLM2-135M-Instruct), served under that name."""
    from .vllm_server import VLLMServer

    if name == "tiny":
        model_dir = tiny_model_path()
    elif name == "smollm2":
        from capo.models.smollm2 import smollm2_path

        model_dir = smollm2_path()
    else:
        raise ValueError(f"unknown model name {name!r}: tiny or smollm2")
    return VLLMServer(model_dir, name).start()


def reference_critiques(judge, aligned, problems, reference: str, n: int) -> list:
    """What the trainer should have asked the judge, recomputed independently: per response the
    wrong-step sets of its n critiques, or None for a response with no step (never critiqued)."""
    from capo.judges.base import CritiqueRequest

    crits = []
    for a, problem in zip(aligned, problems, strict=True):
        if not a.steps:
            crits.append(None)
            continue
        res = judge.critique([CritiqueRequest(problem, tuple(s.text for s in a.steps), reference)], n)
        crits.append([c.wrong_steps for c in res.critiques[0]])
    return crits
