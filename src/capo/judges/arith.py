"""Find and check arithmetic claims in a reasoning step, with exact rational arithmetic.

Two kinds of claims are checked:
  * GSM8K calculator annotations  `<<16-3-4=9>>9`: every `=`-separated part of the annotation must
    have the same value, and the number displayed right after `>>` must equal it;
  * equality chains in the text   `16 - 3 - 4 = 9`, `\\(1/3 \\times 18 = 6\\)`, `2 * 3 = 6 + 1 = 7`:
    consecutive parts must be equal. A running-total chain (`= 6 + 1 = 7` after `2 * 3`) is read as
    the author meant it: a part may start with the value of the previous part.

Conservative by design (a false flag costs more than a miss): a claim is checked only when both
sides are complete arithmetic expressions (numbers, + - * / ^, x or `times` between numbers,
parentheses, %, $, thousands separators, \\frac, \\times, \\cdot, \\div), at least one side has
an operator, and nothing algebraic is attached (`3x + 2 = 11` is skipped: "x" is not a number).
Rounded results are accepted: `10/3 = 3.33` (the right side rounded or truncated to its decimals),
and when an operand itself is a rounded decimal a relative error up to 1% passes.
Percent signs are ambiguous in prose (`15/60*100 = 25%`), so a side with % is accepted with or
without the /100. Nothing here raises on any input string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_MAX_DIGITS = 40  # numbers with more digits are not checked
_MAX_TOKENS = 200  # longer expressions are not checked

ANNOTATION = re.compile(r"<<([^<>]{0,400})>>")
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_FRACTION = r"(?:\d{1,12}/\d{1,12}(?![\d.]|/\s*[\d.(]))"  # a tight fraction "3/4" reads as one number
_TOKEN = re.compile(
    rf"(?P<mixed>\d{{1,9}}(?:[ \t]+and[ \t]+|[ \t]+){_FRACTION})"  # "1 1/2" (a proper fraction after a whole number)
    rf"|(?P<frac>{_FRACTION})"
    rf"|(?P<num>{_NUMBER})(?P<pct>\s*%)?"
    r"|(?P<op>\*\*|[-+*/^×÷·−–])"
    r"|(?P<word>\b(?:times|plus|minus|multiplied\s+by|divided\s+by)\b(?=\s*\$?\s*[\d.(]))"
    r"|(?P<x>(?<=[\d\s)])[xX](?=[\s(]*[\d.(]))"
    r"|(?P<lp>\()|(?P<rp>\))|(?P<eq>=)|(?P<ws>\s+)",
    re.IGNORECASE,
)
_WORD_OPS = {"times": "*", "plus": "+", "minus": "-", "multiplied by": "*", "divided by": "/"}
_OP_MAP = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "**": "^"}


@dataclass(frozen=True)
class Tok:
    kind: str  # "num", "op", "(", ")", "="
    text: str
    value: Fraction | None = None
    percent: bool = False
    decimals: int = 0  # digits after the decimal point (numbers)
    start: int = 0  # char offsets in the cleaned text
    end: int = 0
    unit: str | None = None  # "apples", "/suit", "grams/meal"
    frac: bool = False  # a tight fraction "3/4" read as one number (it still counts as an operation)


@dataclass(frozen=True)
class Claim:
    text: str  # the claim as written (cleaned)
    left: Fraction
    right: Fraction
    ok: bool


def _latex_to_plain(text: str) -> str:
    """Turn the LaTeX arithmetic a solution may use into plain operators; drop math delimiters."""
    s = text
    for _ in range(3):  # nested \frac
        s = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", s)
    s = re.sub(r"\\(?:times|cdot|ast)\b", "*", s)
    s = re.sub(r"\\div\b", "/", s)
    s = re.sub(r"\\left|\\right|\\[,;:! ]|\\[()\[\]]", " ", s)
    s = s.replace("\\$", "$").replace("\\%", "%")
    s = s.replace("{", "").replace("}", "")
    return s.replace("$", "")


def _num_value(raw: str) -> tuple[Fraction, int] | None:
    digits = raw.replace(",", "")
    if len(digits) > _MAX_DIGITS:
        return None
    decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
    return Fraction(digits), decimals


def _fraction_value(raw: str) -> Fraction | None:
    raw = re.sub(r"\s+and\s+", " ", raw.strip())
    whole, _, frac = raw.rpartition(" ") if re.search(r"\s", raw) else ("", "", raw)
    num, den = frac.split("/")
    if int(den) == 0:
        return None
    value = Fraction(int(num), int(den))
    if whole.strip():
        if value >= 1:
            return None  # "2 3/2" is not a mixed number
        value += int(whole.strip())
    return value


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'’-]*")
# words that never act as the unit of the number before them (they start a new phrase)
_NOT_UNITS = frozenset("""and or of than more less fewer per is are was were be been for to in on at by from with
each every times a an the that this these those so then thus which who whom plus minus over under after before
left total altogether percent thousand thousands million millions billion billions hundred hundreds dozen dozens
half twice it its as if but because since when while what how into out up down off not no yes x""".split())


def _unit_key(unit: str | None) -> str | None:
    if unit is None:
        return None
    u = unit.lower().replace("’", "'")
    return "/".join(w[:-2] if w.endswith("es") and len(w) > 4 else w[:-1] if w.endswith("s") and len(w) > 3 else w
                    for w in u.split("/"))


def tokenize(text: str) -> list[Tok | None]:
    """Tokens of arithmetic; None marks a break (any other text).

    A word right after a number ("34 Pokemon", "$100/suit", "180 grams/meal") is read as the
    number's unit and dropped from the arithmetic; `+`/`-` between numbers of different units is
    not checked (see `_units_consistent`)."""
    text = re.sub(r"(?<=\d)\s*percent\b", "%", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<=\d)(?:\.\.\.|…)", "", text)  # "8.333...": a rounded repeating decimal
    out: list[Tok | None] = []

    def brk():
        if out and out[-1] is not None:
            out.append(None)

    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            w = _WORD.match(text, pos)
            if w is None:
                brk()
                pos += 1
                continue
            word = w.group(0)
            prev = out[-1] if out else None
            prev2 = out[-2] if len(out) > 1 else None
            usable = (word.lower() not in _NOT_UNITS and 2 <= len(word) <= 20  # "W", "Y": variables
                      and not any(ch.isdigit() for ch in word))
            if (usable and prev is not None and prev.kind == "num" and prev.unit is None and pos > 0
                    and text[pos - 1].isspace() and prev.end <= pos):
                out[-1] = _with_unit(prev, word, w.end())  # "34 Pokemon"
            elif (usable and prev is not None and prev.kind == "op" and prev.text == "/" and text[pos - 1] == "/"
                  and prev2 is not None and prev2.kind == "num" and (prev2.unit is None or "/" not in prev2.unit)):
                out.pop()  # "$100/suit", "180 grams/meal": a rate, the unit goes with the number
                out[-1] = _with_unit(prev2, f"{prev2.unit or ''}/{word}", w.end())
            else:
                brk()
            pos = w.end()
            continue
        kind = m.lastgroup
        if kind == "pct":  # cannot happen alone
            kind = "num"
        nxt = text[m.end()] if m.end() < len(text) else ""
        glued_after = nxt.isalpha() and not _TOKEN.match(text, m.end())  # "7x", "1st", "10am"
        if kind in ("mixed", "frac", "num"):
            before = text[max(0, m.start() - 2):m.start()]
            glued_before = (before[-1:].isalpha() or before[-1:] in ("_", "/", ".") and kind != "num"
                            or before[-1:] == "_" or re.fullmatch(r"\d:", before) is not None)  # "x2", "6:00"
            if glued_before or glued_after:
                brk()
                pos = m.end()
                continue
            if kind == "num":
                parsed = _num_value(m.group("num"))
                tok = None if parsed is None else Tok("num", m.group(0).strip(), parsed[0], bool(m.group("pct")),
                                                      parsed[1], m.start(), m.end(), frac=False)
            else:
                value = _fraction_value(m.group(kind))
                tok = None if value is None else Tok("num", m.group(kind), value, False, 0, m.start(), m.end(),
                                                     frac=True)
            if tok is None:
                brk()
            else:
                out.append(tok)
        elif kind == "op":
            op = _OP_MAP.get(m.group("op"), m.group("op"))
            out.append(Tok("op", op, start=m.start(), end=m.end()))
        elif kind == "word":
            out.append(Tok("op", _WORD_OPS[re.sub(r"\s+", " ", m.group("word").lower())], start=m.start(), end=m.end()))
        elif kind == "x":
            out.append(Tok("op", "*", start=m.start(), end=m.end()))
        elif kind == "lp":
            if m.start() > 0 and (text[m.start() - 1].isalnum() or text[m.start() - 1] == ")"):
                # "19(2)": implicit multiplication (after a number we did not read, it blocks the claim)
                out.append(Tok("op", "*", start=m.start(), end=m.start()))
            out.append(Tok("(", "(", start=m.start(), end=m.end()))
        elif kind == "rp":
            out.append(Tok(")", ")", start=m.start(), end=m.end()))
        elif kind == "eq":
            out.append(Tok("=", "=", start=m.start(), end=m.end()))
        pos = m.end()
    return out


def _with_unit(tok: Tok, unit: str, end: int) -> Tok:
    return Tok(tok.kind, tok.text, tok.value, tok.percent, tok.decimals, tok.start, end, unit, tok.frac)


def _in_cents(toks: list[Tok]) -> bool:
    return any(t.kind == "num" and _unit_key(t.unit) in ("cent", "cents") for t in toks)


def _units_consistent(toks: list[Tok]) -> bool:
    """Adding or subtracting numbers of different units ("2 hours + 30 minutes") is not checked."""
    if not any(t.kind == "op" and t.text in "+-" for t in toks):
        return True
    units = {_unit_key(t.unit) for t in toks if t.kind == "num"}
    return len(units) <= 1


class _Unevaluable(Exception):
    pass


class _Parser:
    """Recursive descent over tokens: expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := ('-'|'+') unary | power; power := atom ('^' unary)?; atom := num | '(' expr ')'.
    Each number may be read as a percent (value/100) or not: `percent_mode` selects."""

    def __init__(self, toks: list[Tok], percent_mode: bool):
        self.toks, self.i, self.pct = toks, 0, percent_mode

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Fraction:
        value = self.expr()
        if self.i != len(self.toks):
            raise _Unevaluable
        return value

    def expr(self) -> Fraction:
        return self._left_assoc(self.term, "+-")

    def term(self) -> Fraction:
        return self._left_assoc(self.unary, "*/")

    def _left_assoc(self, operand, ops: str) -> Fraction:
        """operand (op operand)* for the binary operators in `ops`, applied left to right."""
        value = operand()
        while (t := self.peek()) is not None and t.kind == "op" and t.text in ops:
            self.i += 1
            rhs = operand()
            if t.text == "/" and rhs == 0:
                raise _Unevaluable
            value = {"+": value.__add__, "-": value.__sub__, "*": value.__mul__, "/": value.__truediv__}[t.text](rhs)
        return value

    def unary(self) -> Fraction:
        t = self.peek()
        if t is not None and t.kind == "op" and t.text in "-+":
            self.i += 1
            return -self.unary() if t.text == "-" else self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        t = self.peek()
        if t is not None and t.kind == "op" and t.text == "^":
            self.i += 1
            exp = self.unary()
            if exp.denominator != 1 or abs(exp) > 64 or (base == 0 and exp < 0):
                raise _Unevaluable
            if abs(base.numerator) > 10**12 or base.denominator > 10**12:
                raise _Unevaluable
            return base ** int(exp)
        return base

    def atom(self) -> Fraction:
        t = self.peek()
        if t is None:
            raise _Unevaluable
        if t.kind == "num":
            self.i += 1
            return t.value / 100 if (t.percent and self.pct) else t.value
        if t.kind == "(":
            self.i += 1
            value = self.expr()
            close = self.peek()
            if close is None or close.kind != ")":
                raise _Unevaluable
            self.i += 1
            return value
        raise _Unevaluable


def evaluate(toks: list[Tok]) -> list[Fraction]:
    """Possible values of an expression (two readings if it has a % sign); [] if not evaluable."""
    if not toks or len(toks) > _MAX_TOKENS:
        return []
    modes = (True, False) if any(t.kind == "num" and t.percent for t in toks) else (True,)
    values = []
    for mode in modes:
        try:
            values.append(_Parser(toks, mode).parse())
        except (_Unevaluable, ZeroDivisionError, OverflowError, RecursionError, ValueError):
            pass
    return values


def _has_op(toks: list[Tok]) -> bool:
    return (len(toks) > 1 and any(t.kind == "op" for t in toks)) or any(t.kind == "num" and t.frac for t in toks)


def _rounded_decimals(toks: list[Tok]) -> bool:
    return any(t.kind == "num" and t.decimals >= 2 for t in toks)


def _close(left: Fraction, right: Fraction, right_toks: list[Tok], loose: bool) -> bool:
    if left == right:
        return True
    if len(right_toks) == 1 and right_toks[0].kind == "num" and right_toks[0].decimals > 0:
        unit = Fraction(1, 10 ** right_toks[0].decimals)
        if abs(left - right) * 2 <= unit:  # rounded to the shown decimals
            return True
        if (left >= 0) == (right >= 0) and 0 <= abs(left) - abs(right) < unit:  # truncated
            return True
    elif len(right_toks) == 1 and right_toks[0].kind == "num" and left.denominator != 1:
        if right.denominator == 1 and (left >= 0) == (right >= 0) and 0 < abs(left) - abs(right) < 1:
            return True  # whole units: "13 / 6 = 2 full cycles", "100 / 6 = 16 books"
    if loose and right != 0 and abs(left - right) <= abs(right) / 100:
        return True
    return False


def _equal(left_toks: list[Tok], right_toks: list[Tok], loose: bool) -> tuple[bool, Fraction, Fraction] | None:
    lv, rv = evaluate(left_toks), evaluate(right_toks)
    if not lv or not rv:
        return None
    for a in lv:
        for b in rv:
            if _close(a, b, right_toks, loose) or _close(b, a, left_toks, loose):
                return True, a, b
    return False, lv[0], rv[0]


def _longest_valid_suffix(toks: list[Tok]) -> list[Tok] | None:
    """The expression that ends a run of tokens (the left side of the first `=`)."""
    for k in range(len(toks)):
        cand = toks[k:]
        first = cand[0]
        if first.kind == "op" and first.text != "-":
            continue
        if k > 0 and toks[k - 1].kind in ("op", "num"):
            return None  # the expression continues to the left into something we cannot read
        if evaluate(cand):
            return cand
    return None


def _longest_valid_prefix(toks: list[Tok]) -> tuple[list[Tok], bool] | None:
    """The expression that starts a run (the right side of the last `=`); bool: it is complete."""
    for k in range(len(toks), 0, -1):
        cand = toks[:k]
        if evaluate(cand):
            if k < len(toks) and toks[k].kind in ("op", "num"):
                return None  # continues into something we cannot read ("= 18 000", "= 5 + 3x")
            return cand, True
    return None


def _runs(tokens: list[Tok | None]) -> list[list[Tok]]:
    runs, cur = [], []
    for t in tokens:
        if t is None:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        runs.append(cur)
    return runs


def _split_eq(run: list[Tok]) -> list[list[Tok]]:
    parts, cur = [], []
    for t in run:
        if t.kind == "=":
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def _show(toks: list[Tok]) -> str:
    return " ".join(t.text for t in toks)


def _chain_claims(text: str) -> list[Claim]:
    def glued_before(pos: int) -> bool:  # a letter, digit or bracket (after spaces) precedes pos
        j = pos - 1
        while j >= 0 and text[j] in " \t":
            j -= 1
        return j >= 0 and (text[j].isalnum() or text[j] in ")]_")

    def minus_may_start(pos: int) -> bool:  # a leading minus only at the start or after ( = :
        j = pos - 1
        while j >= 0 and text[j] in " \t":
            j -= 1
        return j < 0 or text[j] in "([=:\n"

    def label_before(pos: int) -> bool:  # "i.e. 48 = ...", "Total: 12 = ..."
        j = pos - 1
        while j >= 0 and text[j] in " \t":
            j -= 1
        return j >= 0 and text[j] in ".,:;"

    def variable_after(pos: int) -> bool:  # "= 5 + 3x", "=(3/2)x-5": a lone letter glued after
        return pos < len(text) and text[pos].isalpha() and not (pos + 1 < len(text) and text[pos + 1].isalpha())

    claims: list[Claim] = []
    for run in _runs(tokenize(text)):
        if not any(t.kind == "=" for t in run):
            continue
        parts = _split_eq(run)
        # left end: the maximal expression ending at the first "="
        first = _longest_valid_suffix(parts[0]) if parts[0] else None
        if first is not None and first[0].kind == "op" and not minus_may_start(first[0].start):
            first = None  # "x - 3 = 5", "11 a.m. - 2 hours": the minus belongs to something we cannot read
        if first is not None and len(first) == 1 and first[0].unit is not None:
            first = None  # "8 batches = 5.5 * 8": a label
        if first is not None and len(first) == 1 and not first[0].frac and (glued_before(first[0].start)
                                                                    or label_before(first[0].start)):
            first = None  # "Week 2 = 35 + 35", "48 = 100% + 20%": a label, not a value
        last = _longest_valid_prefix(parts[-1]) if parts[-1] else None
        if last is not None:
            if variable_after(last[0][-1].end):
                last = None
        sides: list[list[Tok] | None] = [first] + parts[1:-1] + [last[0] if last else None]
        if len(parts) == 1:
            continue
        for i in range(len(sides) - 1):
            a, b = sides[i], sides[i + 1]
            if not a or not b or not (_has_op(a) or _has_op(b)):
                continue
            if not (_units_consistent(a) and _units_consistent(b)):
                continue
            if _in_cents(a) != _in_cents(b):
                continue  # "$2.50 - $2.24 = 26 cents": an implicit conversion
            loose = _rounded_decimals(a) or _rounded_decimals(b)
            res = _equal(a, b, loose)
            if res is None:
                continue
            ok, lv, rv = res
            if not ok and b[0].kind == "num" and len(b) > 1 and b[1].kind == "op":
                # running total: "2 * 3 = 6 + 1 = 7" -- "6 + 1" starts with the previous value
                head = evaluate(b[:1])
                if head and any(_close(x, head[0], b[:1], loose) for x in evaluate(a)):
                    ok = True
            claims.append(Claim(f"{_show(a)} = {_show(b)}", lv, rv, ok))
    return claims


def _annotation_claims(text: str) -> list[Claim]:
    claims = []
    for m in ANNOTATION.finditer(text):
        inner = _latex_to_plain(m.group(1))
        toks = tokenize(inner)
        if any(t is None for t in toks):
            continue  # text inside the annotation: not a calculator expression
        parts = _split_eq([t for t in toks if t is not None])
        if len(parts) < 2 or any(not p for p in parts):
            continue
        values = []
        for i in range(len(parts) - 1):
            a, b = parts[i], parts[i + 1]
            res = _equal(a, b, _rounded_decimals(a) or _rounded_decimals(b))
            if res is None:
                break
            ok, lv, rv = res
            claims.append(Claim(f"<<{_show(a)} = {_show(b)}>>", lv, rv, ok))
            values = evaluate(b)
        # the number displayed right after the annotation must be the computed value
        shown = re.match(r"\s*\$?\s*(-?(?:" + _FRACTION + "|" + _NUMBER + r"))(\s*%)?", text[m.end():])
        if shown and values:
            raw = shown.group(1).lstrip("-")
            frac = _fraction_value(raw) if "/" in raw else None
            parsed = (frac, 0) if frac is not None else (_num_value(raw) if "/" not in raw else None)
            if parsed is not None:
                value = -parsed[0] if shown.group(1).startswith("-") else parsed[0]
                num_tok = [Tok("num", shown.group(1), value, False, parsed[1])]
                candidates = [value, value / 100] if shown.group(2) else [value]
                loose = parsed[1] >= 2 or _rounded_decimals(parts[-1])
                ok = any(_close(v, c, num_tok, loose) or _close(c, v, parts[-1], loose)
                         for v in values for c in candidates)
                claims.append(Claim(f"<<{_show(parts[-1])}>> shown as {shown.group(1)}", values[0], value, ok))
    return claims


def check_step(text: str) -> list[Claim]:
    """All checkable arithmetic claims of a step (annotations first, then the text's chains)."""
    if not isinstance(text, str) or not text:
        return []
    try:
        claims = _annotation_claims(text)
        return claims + _chain_claims(_latex_to_plain(ANNOTATION.sub(" ", text)))
    except (RecursionError, ValueError, OverflowError, MemoryError):
        return []


def false_claims(text: str) -> list[Claim]:
    return [c for c in check_step(text) if not c.ok]


def _fmt(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    as_float = float(x)
    return f"{as_float:.6g}" if abs(as_float) < 1e15 else f"{x.numerator}/{x.denominator}"


def describe(claim: Claim) -> str:
    return f"{claim.text} is false ({_fmt(claim.left)} != {_fmt(claim.right)})"
