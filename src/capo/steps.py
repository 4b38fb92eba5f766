"""Split a response into reasoning steps, keeping exact character spans.

A step is a maximal run of text between separators, with surrounding whitespace (and invisible
characters, capo.textview) trimmed, so `response[step.start:step.end] == step.text` always holds
and the separators (blank lines, markers' leading whitespace) belong to no step. Empty or
whitespace-only text gives no steps.

Line breaks are Unicode's (str.splitlines: also U+2028, U+2029, U+0085, ...), and a line is
blank when it holds only whitespace (NBSP, U+3000, ...) or invisible characters (zero-width
spaces): a reader, and the judge, who sees an empty line sees a step boundary here too.

Splitter specs (strings, so configs and the CLI can name them):
  "paragraph"          blocks separated by one or more blank lines (the paper's default); a
                       PARAGRAPH SEPARATOR (U+2029) alone separates blocks too
  "line"               one step per non-blank line (GSM8K reference solutions)
  "marker:<regex>"     a new step starts at every match of <regex>, e.g. "marker:Step \\d+:";
                       text before the first marker, if any, is a step of its own
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from capo.textview import BLANK_IN_LINE, INVISIBLE, LINE_BREAK, is_invisible

_SPACE_OR_INVISIBLE = rf"(?:\s|{INVISIBLE})*"
PARAGRAPH_SEPARATOR = re.compile(rf"(?:{LINE_BREAK}(?:{BLANK_IN_LINE})*{LINE_BREAK}|\u2029){_SPACE_OR_INVISIBLE}")
LINE_SEPARATOR = re.compile(rf"{LINE_BREAK}{_SPACE_OR_INVISIBLE}")


@dataclass(frozen=True)
class Step:
    index: int
    start: int  # character offset in the response, inclusive
    end: int  # exclusive
    text: str


def _trimmed_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink [start, end) to exclude leading/trailing whitespace and invisible characters;
    None if nothing is left."""
    while start < end and (text[start].isspace() or is_invisible(text[start])):
        start += 1
    while end > start and (text[end - 1].isspace() or is_invisible(text[end - 1])):
        end -= 1
    return (start, end) if start < end else None


def _spans_between(text: str, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for match in separator.finditer(text):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, len(text)))
    return spans


def _spans_at_markers(text: str, marker: re.Pattern[str]) -> list[tuple[int, int]]:
    starts = [m.start() for m in marker.finditer(text) if m.end() > m.start()]
    bounds = [0, *starts, len(text)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def compile_splitter(spec: str = "paragraph"):
    """Return a function text -> list[Step] for a splitter spec (see module docstring)."""
    if spec == "paragraph":
        return lambda text: _build(text, _spans_between(text, PARAGRAPH_SEPARATOR))
    if spec == "line":
        return lambda text: _build(text, _spans_between(text, LINE_SEPARATOR))
    if spec.startswith("marker:"):
        pattern = spec[len("marker:") :]
        if not pattern:
            raise ValueError("step splitter 'marker:' needs a regex after the colon")
        try:
            marker = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"step splitter {spec!r}: invalid regex ({err})") from None
        return lambda text: _build(text, _spans_at_markers(text, marker))
    raise ValueError(f"unknown step splitter {spec!r}; use 'paragraph', 'line' or 'marker:<regex>'")


def _build(text: str, spans: list[tuple[int, int]]) -> list[Step]:
    steps: list[Step] = []
    for start, end in spans:
        trimmed = _trimmed_span(text, start, end)
        if trimmed is not None:
            a, b = trimmed
            steps.append(Step(len(steps), a, b, text[a:b]))
    return steps


def split_steps(response: str, spec: str = "paragraph") -> list[Step]:
    """Split `response` into steps (see module docstring). Never raises on any string."""
    if not response or response.isspace():
        return []
    return compile_splitter(spec)(response)


def join_steps(steps: list[str], separator: str = "\n\n") -> str:
    return separator.join(steps)
