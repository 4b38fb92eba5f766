"""Output files of the commands: checked before any work is done, written whole or not at all.

`check_output` runs with the other argument checks, so a typo in `-o` costs nothing instead of
every critique just made; `atomic_output` writes to a temporary file in the same folder and
renames it over the target only when everything was written, so an existing file is never
truncated or left half-written (a crash, a full disk, Ctrl-C leave the old file as it was).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from capo.errors import CapoError


def check_output(path: str | os.PathLike | None, option: str) -> None:
    """CapoError (one line naming the option and the path) unless `path` can be written."""
    if path is None or str(path) == "-":
        return
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise CapoError(f"{option} {path}: is a folder, not a file")
    if not folder.is_dir():
        raise CapoError(f"{option} {path}: no such folder {str(folder)!r}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CapoError(f"{option} {path}: folder {str(folder)!r} is not writable")


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[TextIO]:
    """A text file handle whose content replaces `path` when the block ends without an error."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        # mkstemp makes the file private (0600); give it the mode a plain open() would have
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else _default_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as fh:
        fh.write(text)
