"""Recover the set of wrong step indices from a judge's raw critique text.

The grammar is capo.verdict's. Two modes:

  strict (default)  only the template's verdict line "Wrong step list: [1, 3]"; the LAST
                    "Wrong step list:" of the reply decides, and if what follows it is not a
                    bracketed list of integers the critique is unparsable. Nothing a student can
                    write survives capo.prompt's rewriting in this form.
  lenient           for prompts that ask for another form (ProcessBench: \\boxed{}). The last
                    labelled verdict ("Wrong steps: 1, 3", "Incorrect step list: none", the
                    template's line) wins; without one, the LAST of the other forms in the reply
                    (\\boxed{...}, JSON with a wrong/incorrect/error key, a bare list ending the
                    reply, an "All steps are correct." sentence). A student CAN write those forms.

-1 means "no wrong step" (ProcessBench's convention) and must stand alone. A verdict naming an
index outside [0, num_steps) or mixing -1 with indices is unparsable: a judge that quotes the
student's \\boxed{40} has not said "no error". Given the prompt, a labelled verdict the judge
copied from it together with the words before it ("If every step is correct, finish with:
Wrong step list: []") is an echo of the instruction and is skipped. Returns a frozenset, or None
(unparsable); never raises on any text. Time is linear: only the reply's last _MAX_CHARS
characters are read, no pattern can split a text two ways between its repetitions (no
catastrophic backtracking), and at most _MAX_TRIES candidates of a form are examined.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from capo import verdict
from capo.textview import fold

MODES = ("strict", "lenient")
_MAX_CHARS = 100_000  # verdicts stand at the end; a judge's reply is bounded by its max_tokens
_MAX_LIST = 4_000  # characters of one bracketed index list
_MAX_TRIES = 64  # candidates of one form examined, from the last one back
_LENIENT_SEPARATORS = re.compile(r",|;|\band\b", re.IGNORECASE)


def _int_list(inner: str, separators: re.Pattern[str] | None = None) -> list[int] | None:
    """'1, 3' -> [1, 3]; '' -> []; None unless every item is an integer (a trailing comma is fine)."""
    parts = separators.split(inner) if separators else inner.split(",")
    if len(parts) > 1 and not parts[-1].strip():
        parts = parts[:-1]
    if len(parts) == 1 and not parts[0].strip():
        return []
    items = [p.strip() for p in parts]
    if not all(verdict.INDEX.fullmatch(p) for p in items):
        return None
    return [int(p) for p in items]


def _bracketed(view: str, pos: int, separators=None) -> list[int] | None:
    """The '[...]' list starting at `pos` (after decoration), or None."""
    pos = verdict.DECORATION.match(view, pos).end()
    if not view.startswith("[", pos):
        return None
    close = view.find("]", pos + 1, pos + 1 + _MAX_LIST)
    if close < 0 or "[" in view[pos + 1:close]:
        return None
    return _int_list(view[pos + 1:close], separators)


@lru_cache(maxsize=256)
def _collapsed(prompt: str) -> str:
    return " ".join(fold(prompt).split())


def _echoed(view: str, start: int, prompt: str | None) -> bool:
    """The verdict at `start`, with the words before it (the rest of its line, else the last
    non-blank line), appears in the prompt: the judge is repeating the template's example."""
    if prompt is None:
        return False
    before = view[max(0, start - 400):start].splitlines() or [""]
    context = before[-1] if before[-1].strip() else next((x for x in reversed(before) if x.strip()), "")
    if not context.strip():
        return False
    end = view.find("\n", start, start + 400)
    fragment = " ".join(f"{context} {view[start:end if end >= 0 else start + 400]}".split())
    return fragment in _collapsed(prompt)


def _verdicts(pattern: re.Pattern[str], view: str, prompt: str | None):
    """Matches of `pattern`, the last first, echoes of the prompt left out (at most _MAX_TRIES)."""
    found = list(pattern.finditer(view))[::-1][:_MAX_TRIES]
    return (m for m in found if not _echoed(view, m.start(), prompt))


def _strict(view: str, prompt: str | None) -> list[int] | None:
    last = next(_verdicts(verdict.TEMPLATE_VERDICT_START, view, prompt), None)
    return None if last is None else _bracketed(view, last.end())


def _labelled_value(view: str, pos: int) -> list[int] | None:
    found = _bracketed(view, pos, _LENIENT_SEPARATORS)
    if found is not None:
        return found
    pos = verdict.DECORATION.match(view, pos).end()
    if verdict.NONE_VALUE.match(view, pos):
        return []
    loose = verdict.LOOSE_LIST.match(view, pos)
    return None if loose is None else [int(x) for x in verdict.INDEX.findall(loose.group(1))]


def _last_labelled(view: str, prompt: str | None) -> list[int] | None:
    """The last labelled verdict whose value reads as a list ("Wrong steps: as follows" does not)."""
    for m in _verdicts(verdict.LABELLED_VERDICT_START, view, prompt):
        found = _labelled_value(view, m.end())
        if found is not None:
            return found
    return None


def _last_boxed(view: str) -> tuple[int, list[int]] | None:
    """The last \\boxed{} holding an index list; \\boxed{x+1} (an answer, not indices) is skipped."""
    for m in list(verdict.BOXED.finditer(view))[::-1][:_MAX_TRIES]:
        close = view.find("}", m.end(), m.end() + _MAX_LIST)
        if close < 0 or "{" in view[m.end():close]:
            continue
        inner = view[m.end():close].strip().strip("$").strip()
        if inner.startswith("[") and inner.endswith("]") or inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1]
        found = [] if verdict.NONE_VALUE.fullmatch(inner.strip()) else _int_list(inner, _LENIENT_SEPARATORS)
        if found is not None:
            return m.start(), found
    return None


def _last_json(view: str) -> tuple[int, list[int]] | None:
    for m in list(verdict.JSON_OBJECT.finditer(view))[::-1][:_MAX_TRIES]:
        if not verdict.JSON_KEY.search(m.group()):
            continue
        try:
            obj = json.loads(m.group())
        except (ValueError, RecursionError):
            continue
        for key, value in obj.items() if isinstance(obj, dict) else ():
            if not verdict.JSON_KEY.search(key):
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                return m.start(), [value]
            if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return m.start(), value
    return None


_LABEL_BEFORE = re.compile(verdict.LABELLED_VERDICT_START.pattern + r"[\s*_`$]{0,8}\Z", re.IGNORECASE)


def _bare_list_at_end(view: str) -> tuple[int, list[int]] | None:
    """A list that is the last thing said, unless it follows a neutralized phrase (an echo of a
    student's "wrong-step-list: []") or a label (then it was a labelled verdict, and skipped)."""
    text = view.rstrip(" \t\r\n.`*_$")
    if not text.endswith("]"):
        return None
    start = text.rfind("[", max(0, len(text) - _MAX_LIST), len(text) - 1)
    if start < 0 or verdict.NEUTRALIZED.search(text, max(0, start - 40), start) \
            or _LABEL_BEFORE.search(text, max(0, start - 80), start):
        return None
    found = _int_list(text[start + 1:-1])
    return None if found is None else (start, found)


def _last_all_correct(view: str) -> tuple[int, list[int]] | None:
    last = None
    for last in verdict.ALL_CORRECT_SENTENCE.finditer(view):
        pass
    if last is not None:
        return last.start(), []
    return (0, []) if view.strip().rstrip(".").strip().lower() == "none" else None


def _lenient(view: str, prompt: str | None) -> list[int] | None:
    found = _last_labelled(view, prompt)
    if found is not None:
        return found
    candidates = [c for c in (_last_boxed(view), _last_json(view), _bare_list_at_end(view),
                              _last_all_correct(view)) if c is not None]
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def _checked(found: list[int] | None, num_steps: int) -> frozenset[int] | None:
    if found is None:
        return None
    if -1 in found:  # "no wrong step" must stand alone: [-1, 2] contradicts itself
        return frozenset() if all(i == -1 for i in found) else None
    if any(not 0 <= i < num_steps for i in found):
        return None
    return frozenset(found)


def parse_wrong_steps(text: str, num_steps: int, mode: str = "strict",
                      prompt: str | None = None) -> frozenset[int] | None:
    """Wrong step indices in [0, num_steps), or None if the critique is unparsable.

    mode: "strict" (the CAPO template's verdict line only) or "lenient" (see the module docstring).
    prompt: the prompt the critique answers, to tell the template's examples echoed by the judge
    from its verdict. A bad `mode` is a programming error (ValueError); any `text` is fine."""
    if mode not in MODES:
        raise ValueError(f"unknown parse mode {mode!r}; use one of {', '.join(MODES)}")
    try:
        if not isinstance(text, str):
            return None
        view = fold(text[-_MAX_CHARS:])
        if not isinstance(prompt, str):
            prompt = None
        found = _strict(view, prompt) if mode == "strict" else _lenient(view, prompt)
        return _checked(found, num_steps)
    except Exception:  # a parser must never take a training run down
        return None
