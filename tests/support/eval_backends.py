"""Run `capo eval` with the hf back-end (this venv) and the vllm back-end (vLLM's venv) on the same
items and settings, each in its own process (one heavy model in memory at a time), and read back
their results.json. Used by tests/test_eval_vllm.py and benchmarks/bench_eval_backends.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .vllm_server import vllm_environment


def run_capo_eval(backend: str, model_dir: str | Path, out: Path, *, python: str | None = None,
                  benchmark: str = "gsm8k", limit: int = 12, max_new_tokens: int = 128,
                  data: str | Path | None = None, threads: int = 1, timeout: float = 1800) -> dict:
    """`python -m capo.cli eval --backend BACKEND ...`, greedy; returns results.json as a dict.

    hf runs with `threads` torch threads; vllm's CPU engine binds its own threads (one core per
    NUMA node's worth, leaving one core free) and gets the vLLM environment (small KV cache)."""
    cmd = [python or sys.executable, "-m", "capo.cli", "eval", "--model", str(model_dir), "--benchmarks", benchmark,
           "--limit", str(limit), "--max-new-tokens", str(max_new_tokens), "--backend", backend, "--out", str(out),
           "--no-progress"]
    if data is not None:
        cmd += ["--data", str(data)]
    if backend == "hf":
        cmd += ["--threads", str(threads)]
    env = vllm_environment() if backend == "vllm" else None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"capo eval --backend {backend} failed (exit {proc.returncode}):\n"
                           + "\n".join(proc.stderr.splitlines()[-30:]))
    return json.loads(Path(out).read_text())
