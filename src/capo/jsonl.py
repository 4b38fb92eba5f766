"""JSON Lines text -> objects, with errors that name file and line (one reader for every command)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from capo.errors import CapoError


def parse_json(text: str, name: str, line: int | None = None):
    """The JSON document `text`; CapoError "name:line: invalid JSON (...)" otherwise (`line`: the
    document's line in the file, default the error's own line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f"{name}:{line if line is not None else err.lineno}"
        raise CapoError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None


def iter_jsonl(text: str, name: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; CapoError "name:line: ..." for a line that is
    not JSON or not an object."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = parse_json(line, name, lineno)
        if not isinstance(row, dict):
            raise CapoError(f"{name}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield lineno, row
