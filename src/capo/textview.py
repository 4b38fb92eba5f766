"""How untrusted text is looked at: what counts as invisible, what counts as a line break, and
the folded view in which step tags, chat control tokens and verdict phrases are searched.

The folded view maps every character ON ITS OWN through NFKD (fullwidth "＜" -> "<", mathematical
bold letters -> ASCII, "é" -> "e" + accent), drops invisible characters and combining marks, and
maps the Cyrillic, Greek and small-capital letters that look like Latin ones ("ѕtер" -> "step").
`folded_units` also decodes HTML entities ("&lt;" -> "<") and remembers where every folded
character came from, so that a match is rewritten in the ORIGINAL text: the student's mathematics
("x²", "ρ", "½") is never normalized, only the matched pieces change.

Per character, not NFKC of the whole string: canonical reordering of a long run of combining
marks is quadratic in CPython (32 k marks: 4.5 s), and composing characters changes nothing that
matters for matching.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

# Format characters (Unicode category Cf: zero-width spaces and joiners, bidi controls, the BOM,
# soft hyphen, tag characters), Hangul fillers, variation selectors and the braille blank: they
# render as nothing, so a reader sees text that a regex over the raw string does not.
INVISIBLE_CLASS = (
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
INVISIBLE = f"[{INVISIBLE_CLASS}]"
_INVISIBLE_RE = re.compile(INVISIBLE)

# Line breaks as str.splitlines sees them; "\r\n" is one break, never two.
LINE_BREAK_CLASS = "\n\v\f\x1c-\x1e\x85\u2028\u2029"
LINE_BREAK = rf"(?:\r\n|\r(?!\n)|[{LINE_BREAK_CLASS}])"
# Blank-looking inside a line: whitespace that is not a line break (NBSP, U+3000, ...) or invisible.
BLANK_IN_LINE = rf"[^\S\r{LINE_BREAK_CLASS}]|{INVISIBLE}"

_LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ո": "n",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t",
    "Х": "x", "Ѕ": "s", "І": "i", "Ј": "j", "Ү": "y", "Ԝ": "w", "Ԛ": "q",
    # Greek
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "υ": "u", "χ": "x",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o",
    "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    # Latin letters NFKD leaves alone: dotless i, script g, small capitals
    "ı": "i", "ɡ": "g", "ꜱ": "s", "ᴛ": "t", "ᴇ": "e", "ᴘ": "p", "ᴏ": "o", "ʀ": "r", "ɴ": "n", "ɢ": "g",
    "ʟ": "l", "ɪ": "i", "ᴡ": "w", "ᴄ": "c", "ᴜ": "u",
})


def is_invisible(ch: str) -> bool:
    return _INVISIBLE_RE.fullmatch(ch) is not None


@lru_cache(maxsize=8192)
def fold_char(ch: str) -> str:
    """The folded form of one character ("" for invisible characters and combining marks)."""
    if ch < "\x80":
        return ch
    if _INVISIBLE_RE.fullmatch(ch):
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and not _INVISIBLE_RE.fullmatch(c))
    return kept.translate(_LOOKALIKES)


class _FoldTable(dict):
    """str.translate table filled on first sight of a character (10x faster than a regex callback)."""

    def __missing__(self, code: int) -> str:
        folded = fold_char(chr(code))
        if len(self) < 200_000:  # bounded: a text of every code point must not grow it forever
            self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """The folded view of `text` (no entity decoding: see `folded_units`). Linear time."""
    return text.translate(_FOLD_TABLE)


_UNIT = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});|.", re.DOTALL)


def folded_units(text: str) -> tuple[str, list[int] | range, list[int] | range]:
    """(folded, starts, ends): the folded view with HTML entities decoded; folded[i] came from
    text[starts[i]:ends[i]] (an entity or one character)."""
    if text.isascii() and "&" not in text:
        return text, range(len(text)), range(1, len(text) + 1)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _UNIT.finditer(text):
        unit = m.group()
        folded = fold(html.unescape(unit)) if len(unit) > 1 else _FOLD_TABLE[ord(unit)]
        pieces.append(folded)
        starts.extend([m.start()] * len(folded))
        ends.extend([m.end()] * len(folded))
    return "".join(pieces), starts, ends
