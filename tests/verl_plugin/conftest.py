"""Tests of the CAPO plugin for verl. They need verl, so they run in .venv-verl (scripts/setup-verl.sh);
tests/test_verl.py runs them there from the project's own test suite. In an environment without
verl this folder is not collected."""

import importlib.util

HAVE_VERL = importlib.util.find_spec("verl") is not None


def pytest_ignore_collect(collection_path, config):
    if not HAVE_VERL and collection_path.suffix == ".py":
        return True
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "ray: starts a local CPU Ray cluster (about 30 s)")


if HAVE_VERL:
    import pytest

    @pytest.fixture(scope="session")
    def tokenizer(tiny_model_dir):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(tiny_model_dir)
