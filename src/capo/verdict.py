"""The verdict grammar: what a judge's verdict looks like, defined once.

capo.parse reads verdicts with these patterns; capo.prompt rewrites every PHRASE of this grammar
that appears in a student's step ("Wrong step list" -> "wrong-step-list"), so a student cannot
plant a verdict the parser would accept. Patterns run on the folded view (capo.textview.fold),
case-insensitively; every repetition is bounded or over one character class, and no text can
be split two ways between repetitions (no catastrophic backtracking): matching is linear.

strict (the default, the CAPO template's own form; the LAST one in the reply decides):
    Wrong step list: [1, 3]          Wrong step list: []          **Wrong step list:** [2]
lenient adds, for prompts that ask for something else (ProcessBench asks for \\boxed{}):
    labelled     Wrong steps: 1, 3 | Incorrect step list: none | The erroneous steps are: -1
    boxed        \\boxed{[1, 3]} | \\boxed{2} | \\boxed{-1} | \\boxed{}
    JSON         {"wrong_steps": [1, 3]}  (a key mentioning wrong / incorrect / error)
    bare list    "... so [1, 3]."  (only as the last thing in the reply)
    all correct  a sentence of its own: "All steps are correct." / "There are no incorrect steps."
-1 means "no wrong step" (ProcessBench's convention) and must stand alone.
"""

from __future__ import annotations

import re

BAD_WORDS = ("wrong", "incorrect", "erroneous", "invalid", "flawed", "faulty", "mistaken")
LIST_WORDS = ("list", "indices", "index", "ids", "numbers")
_BAD = "(?:" + "|".join(BAD_WORDS) + ")"
_LIST_WORD = "(?:" + "|".join(LIST_WORDS) + ")"


def _phrases(ws: str) -> tuple[str, str, str]:
    """(template label, label, all-correct phrase) with `ws` between words."""
    template_label = rf"wrong{ws}steps?{ws}list\b"
    label = rf"{_BAD}{ws}steps?(?:{ws}{_LIST_WORD})?\b"  # template_label is one of these
    all_correct = (
        rf"\ball{ws}(?:the{ws})?steps{ws}(?:are|were){ws}(?:correct|right|valid)\b"
        rf"|\bevery{ws}step{ws}is{ws}(?:correct|right|valid)\b"
        rf"|\bno{ws}{_BAD}{ws}steps?\b"
        rf"|\bnone{ws}of{ws}the{ws}steps{ws}(?:is|are){ws}{_BAD}\b"
    )
    return template_label, label, all_correct


# What the parser accepts: words separated by whitespace ("\s+": one run per start, linear).
TEMPLATE_LABEL, LABEL, ALL_CORRECT = _phrases(r"\s+")
# What capo.prompt rewrites in a step: the same phrases, also with no space at all between the
# words ("Wrong<zero-width space>step list" reads as the phrase once the invisible character is
# gone), so the rewriting covers strictly more than the parser accepts.
_, _LOOSE_LABEL, _LOOSE_ALL_CORRECT = _phrases(r"\s*")
PHRASE = re.compile(rf"{_LOOSE_ALL_CORRECT}|{_LOOSE_LABEL}", re.IGNORECASE)
_WORDS = (*BAD_WORDS, *LIST_WORDS, "steps", "step", "all", "the", "are", "were", "correct", "right", "valid",
          "every", "is", "none", "no", "of")
_WORD = re.compile("|".join(sorted(_WORDS, key=len, reverse=True)))


def neutralized_form(phrase: str) -> str:
    """'Wrong  step List' / 'wrongsteplist' -> 'wrong-step-list': a hyphen is no separator."""
    return "-".join(_WORD.findall(phrase.lower()))


# A rewritten phrase, as it can reappear in a judge's reply that quotes the student.
NEUTRALIZED = re.compile(rf"\b(?:{_BAD}|no|all|every)-(?:[a-z]+-)*steps?\b", re.IGNORECASE)

DECORATION = re.compile(r"[\s*_`$]{0,8}")  # markdown / math decoration around the colon
TEMPLATE_VERDICT_START = re.compile(rf"{TEMPLATE_LABEL}[\s*_`]{{0,8}}:", re.IGNORECASE)
LABELLED_VERDICT_START = re.compile(rf"{LABEL}(?:\s+(?:is|are))?[\s*_`\"']{{0,8}}[:=]", re.IGNORECASE)
NONE_VALUE = re.compile(rf"(?:none|nothing|empty|no\s+(?:errors?|mistakes?|{_BAD}\s+steps?))\b", re.IGNORECASE)
# "1, 2 and 3" after a label (no brackets); the rest of its line must be punctuation only.
LOOSE_LIST = re.compile(r"\(?\s{0,4}(-?[0-9]{1,9}(?:(?:\s{0,4}(?:,|;|\band\b|&)\s{0,4}|\s{1,4})-?[0-9]{1,9}){0,500})"
                        r"\s{0,4}\)?[*_`\s]{0,8}(?:[.!;]|$)", re.IGNORECASE | re.MULTILINE)
BOXED = re.compile(r"\\boxed\s{0,4}\{")
JSON_OBJECT = re.compile(r"\{[^{}]{0,4000}\}")
JSON_KEY = re.compile(r"wrong|incorrect|error", re.IGNORECASE)
ALL_CORRECT_SENTENCE = re.compile(
    r"(?:^|(?<=[.!?:]))[\s*_>#-]{0,8}"
    r"(?:(?:so|thus|hence|therefore|overall|verdict|conclusion|in\s+(?:conclusion|summary))\s{0,4}[,:]?\s{0,4})?"
    rf"(?:there\s+(?:are|were)\s+)?(?:{ALL_CORRECT})[\s*_]{{0,4}}(?:[.!]|$)",
    re.IGNORECASE | re.MULTILINE)
INDEX = re.compile(r"-?[0-9]{1,9}")


# -- constrained decoding -------------------------------------------------------------------------
VERDICT_RESERVE = 48  # characters (hence at most that many tokens) kept for the final verdict line


def structured_verdict_regex(max_tokens: int) -> str:
    """A regex for servers that constrain generation (vLLM's `structured_outputs`): free text, then
    one `Wrong step list: [..]` line, which strict parsing reads. The free part is bounded in
    characters to max_tokens - VERDICT_RESERVE; a token holds at least one character, so the
    verdict always fits in max_tokens (a larger max_tokens gives the judge more room to reason)."""
    free = max(0, max_tokens - VERDICT_RESERVE)
    index = r"(0|[1-9][0-9]{0,2})"
    return rf"[\s\S]{{0,{free}}}\nWrong step list: \[({index}(, {index}){{0,15}})?\]"
