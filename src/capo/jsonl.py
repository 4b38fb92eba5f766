"""JSON Lines text -> objects, with errors that name file and line (one reader for every command)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from capo.errors import CapoError


def iter_jsonl(text: str, name: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; CapoError "name:line: ..." for a line that is
    not JSON or not an object."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CapoError(f"{name}:{lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(row, dict):
            raise CapoError(f"{name}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield lineno, row
