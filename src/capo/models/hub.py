"""Two questions every loader asks, answered once: where capo keeps its files, and whether the
Hugging Face hub can be used right now.

    cache_root()      $CAPO_CACHE, else $XDG_CACHE_HOME/capo, else ~/.cache/capo
    hub_offline()     HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set
    hub_reachable()   a fast TCP probe of $HF_ENDPOINT (the hub's own clients retry for ~30 s
                      before failing, so without it an offline user waits instead of getting
                      a one-line error)
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

_TRUE = {"1", "true", "yes", "on"}
_REACHABLE: dict[str, bool] = {}  # endpoint -> answer, probed once per process


def cache_root() -> Path:
    """The folder for capo's caches (converted models, the lab's policies, critiques)."""
    root = os.environ.get("CAPO_CACHE")
    if not root and os.environ.get("CAPO_CACHE_DIR"):
        warnings.warn("CAPO_CACHE_DIR is deprecated; set CAPO_CACHE (one cache root for everything)",
                      DeprecationWarning, stacklevel=2)
        root = os.environ["CAPO_CACHE_DIR"]
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "capo"


def hub_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = 5.0) -> bool:
    """Whether a TCP connection to the hub endpoint opens within `timeout` seconds."""
    endpoint = hub_endpoint()
    if endpoint not in _REACHABLE:
        url = urlparse(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            _REACHABLE[endpoint] = True
        except (OSError, ValueError):
            _REACHABLE[endpoint] = False
    return _REACHABLE[endpoint]
