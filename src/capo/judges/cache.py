"""On-disk critique cache: SQLite in WAL mode, one row per critique sample.

Key: sha256 of the judge identity, the sampling settings and the exact prompt messages
(`cache_key`). A key holds an ordered list of samples (text + token counts + latency); asking for
N samples returns the first N stored, and the caller generates only the missing ones, so raising
N later reuses what is there. Only successful answers are stored (a failed request is retried on
the next run); an unparsable answer is an answer and is stored.

Judges write through `put_later`: a background thread commits whatever has been queued in one
transaction, so the event loop never waits for the disk, and the judge calls `flush()` before a
batch returns (a SIGKILL can lose only answers received in the last milliseconds).

Crash safety: every `put` is one SQLite transaction (all rows of the call or none). In WAL mode a
committed transaction survives the writer being SIGKILLed (synchronous=NORMAL loses at most the
last transactions on a power cut, never consistency). Each row also carries a sha256 of its
content; a row that does not match (a disk problem) is ignored on read. Several processes may
share one file (busy timeout 60 s). Safe to use from several threads (one lock per connection);
a closed cache reopens on use.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CachedSample:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


def cache_key(identity: dict, sampling: dict, messages: Sequence[dict]) -> str:
    payload = json.dumps({"v": SCHEMA_VERSION, "judge": identity, "sampling": sampling, "messages": list(messages)},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _checksum(key: str, text: str, prompt_tokens: int, completion_tokens: int) -> str:
    return hashlib.sha256(f"{key}\x00{prompt_tokens}\x00{completion_tokens}\x00{text}".encode()).hexdigest()[:32]


def default_cache_path() -> Path:
    """<cache root>/critiques.sqlite (capo.models.hub.cache_root: $CAPO_CACHE, else ~/.cache/capo)."""
    from capo.models.hub import cache_root

    return cache_root() / "critiques.sqlite"


class CritiqueCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[str, CachedSample]] = []
        self._pending_lock = threading.Lock()
        self._wake = threading.Condition(self._pending_lock)
        self._unflushed = 0
        self._writer: threading.Thread | None = None
        self.write_errors = 0
        self.last_error: str | None = None
        with self._lock:
            self._connect()

    def _connect(self) -> sqlite3.Connection:
        """The connection, (re)opened on first use (a closed cache reopens when used again)."""
        if self._conn is None:
            db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=60000")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            # without WAL (a file system without shared memory) keep the rollback journal fully synced
            db.execute("PRAGMA synchronous=NORMAL" if str(mode).lower() == "wal" else "PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS critiques (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
                "text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
                "latency REAL NOT NULL, created REAL NOT NULL, checksum TEXT NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS critiques_key ON critiques (key, id)")
            self._conn = db
        return self._conn

    def get(self, key: str, limit: int) -> list[CachedSample]:
        return self.get_many([key], limit).get(key, [])

    def get_many(self, keys: Iterable[str], limit: int) -> dict[str, list[CachedSample]]:
        """Up to `limit` stored samples per key, oldest first; keys with nothing stored are absent."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, list[CachedSample]] = {}
        if limit <= 0 or not keys:
            return out
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._connect().execute(
                    f"SELECT key, text, prompt_tokens, completion_tokens, latency, checksum FROM critiques "
                    f"WHERE key IN ({marks}) ORDER BY key, id", chunk).fetchall()
                for key, text, pt, ct, lat, checksum in rows:
                    have = out.setdefault(key, [])
                    if len(have) >= limit or checksum != _checksum(key, text, pt, ct):
                        continue
                    have.append(CachedSample(text, pt, ct, lat))
        return out

    def put(self, key: str, samples: Sequence[CachedSample]) -> None:
        self.put_many([(key, s) for s in samples])

    def put_many(self, items: Sequence[tuple[str, CachedSample]]) -> None:
        """Append samples atomically (one transaction)."""
        if not items:
            return
        now = time.time()
        rows = [(k, s.text, int(s.prompt_tokens), int(s.completion_tokens), float(s.latency_s), now,
                 _checksum(k, s.text, int(s.prompt_tokens), int(s.completion_tokens))) for k, s in items]
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO critiques (key, text, prompt_tokens, completion_tokens, latency, created, checksum) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    # -- background writes: the judge's event loop never waits for the disk --
    def put_later(self, items: Sequence[tuple[str, CachedSample]]) -> None:
        """Queue samples for a background writer thread, which commits everything queued so far
        in one transaction (so a busy writer batches). `flush()` waits until all is committed."""
        if not items:
            return
        with self._pending_lock:
            self._pending.extend(items)
            self._unflushed += len(items)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="capo-cache-writer", daemon=True)
                self._writer.start()
            self._wake.notify()

    def _write_loop(self) -> None:
        while True:
            with self._pending_lock:
                while not self._pending:
                    if not self._wake.wait(timeout=5.0) and not self._pending:
                        self._writer = None  # idle: the next put_later starts a new writer
                        return
                batch, self._pending = self._pending, []
            try:
                self.put_many(batch)
            except Exception as err:  # a full disk costs the cache, never the caller
                self.write_errors += 1
                self.last_error = f"{type(err).__name__}: {err}"
            with self._pending_lock:
                self._unflushed -= len(batch)
                self._wake.notify_all()

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until everything queued by `put_later` is committed; False on timeout."""
        with self._pending_lock:
            return self._wake.wait_for(lambda: self._unflushed <= 0, timeout=timeout)

    def count(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM critiques").fetchone()[0])

    def check(self) -> tuple[bool, int]:
        """(SQLite integrity ok, number of rows whose checksum does not match)."""
        with self._lock:
            db = self._connect()
            ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            bad = sum(1 for k, t, pt, ct, c in db.execute(
                "SELECT key, text, prompt_tokens, completion_tokens, checksum FROM critiques")
                if c != _checksum(k, t, pt, ct))
        return ok, bad

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"CritiqueCache({str(self.path)!r})"
