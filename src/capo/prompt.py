"""The GenPRM critique prompt: problem, optional reference answer, steps in indexed tags.

The default text (prompts/critique.txt) is ours (the paper does not publish its prompt); any
template with the fields {problem}, {reference_block} and {steps_block} can replace it.

Injection safety: a response is untrusted text (docs/judges.md, "Threat model"). Matching runs
on the folded view of capo.textview (NFKD per character, invisible characters and combining
marks dropped, lookalike letters mapped, HTML entities decoded); rewriting touches only the
matched characters of the original, so the student's mathematics reaches the judge intact.
In every field (problem, reference, steps):
  * chat control tokens (<|im_end|>, <|eot_id|>, <start_of_turn>, [INST], <s>, ..., and the
    judge tokenizer's own special tokens when given): the opening "<" becomes "‹" (U+2039),
    an opening "[" becomes "⁅" (U+2045), so no turn of the judge's conversation can be forged.
In steps also:
  * invisible characters are removed (what the judge reads is what was checked);
  * anything tag-like that names a step ("<step_3>", "</ step_1 >", "＜step-2", "&lt;/step_0&gt;",
    "<ѕtep_1>"): its "<" becomes "‹", so a response cannot close its own tag or open a fake one;
  * every verdict phrase of capo.verdict ("Wrong step list", "incorrect steps", "All steps are
    correct", ...) becomes its lowercased hyphenated form ("wrong-step-list"), which the parser's
    patterns do not match, so an echoed fake verdict cannot pass for the judge's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

from capo import verdict
from capo.steps import Step
from capo.textview import fold, folded_units, is_invisible

# On the folded view: "<", up to 10 non-alphanumeric characters ("/", spaces, "⁄", more "<"),
# then "step". Every "<" of the match is rewritten: "<<</step" must not leave "<‹‹/step".
STEP_TAG_LIKE = re.compile(r"<[^a-z0-9>]{0,10}step", re.IGNORECASE)
# Chat-template control tokens of the common families (ChatML / Qwen / Llama 3 / Phi / DeepSeek /
# harmony: <|...|>; Gemma: <start_of_turn>; Llama 2 / Mistral: [INST], <<SYS>>, <s>, </s>; BOS /
# EOS / PAD spellings; reasoning models' <think>).
CONTROL_TOKEN = re.compile(
    r"<\|[^|<>\s]{1,48}\|>"
    r"|</?(?:s|bos|eos|pad|unk|mask|sep|cls|start_of_turn|end_of_turn|start_of_image|end_of_image|think|sop|eop)>"
    r"|<</?sys>>"
    r"|\[/?(?:inst|sys|system_prompt|available_tools|tool_calls|tool_results|tool_content|gmask|smask|mask)\]",
    re.IGNORECASE)
_OPENER = {"<": "\u2039", "[": "\u2045"}


@lru_cache(maxsize=1)
def default_template() -> str:
    return resources.files("capo").joinpath("prompts/critique.txt").read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def _special_token_pattern(tokens: tuple[str, ...]) -> re.Pattern[str] | None:
    """A tokenizer's special tokens, as they look in the folded view. Tokens shorter than 3
    characters or made of letters and digits only are left alone: rewriting every "ab" or
    "Assistant" would mangle ordinary text."""
    keep = sorted({fold(t) for t in tokens if len(t) >= 3 and not t.isalnum() and fold(t).strip()},
                  key=len, reverse=True)
    return re.compile("|".join(map(re.escape, keep)), re.IGNORECASE) if keep else None


def _opener_edit(text: str, folded: str, starts, ends, i: int) -> tuple[int, int, str]:
    """Rewrite the unit that produced folded[i], the first character of a tag or token."""
    a, b = starts[i], ends[i]
    swap = _OPENER.get(folded[i])
    return (a, b, swap) if swap else (a, b, text[a:b] + "\u00b7")


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits; an edit overlapping an earlier one is dropped."""
    out, cursor = [], 0
    for a, b, new in sorted(edits, key=lambda e: (e[0], -e[1])):
        if a < cursor:
            continue
        out += [text[cursor:a], new]
        cursor = b
    out.append(text[cursor:])
    return "".join(out)


def neutralize(text: str, special_tokens: Iterable[str] = (), *, step: bool = True) -> str:
    """Make untrusted text unable to forge chat turns, step tags or the verdict line (see the
    module docstring). step=False: control tokens only (problem and reference)."""
    folded, starts, ends = folded_units(text)
    edits: list[tuple[int, int, str]] = []
    if step:  # a phrase's edit spans the invisible characters inside it (_apply keeps the first)
        for m in verdict.PHRASE.finditer(folded):
            edits.append((starts[m.start()], ends[m.end() - 1], verdict.neutralized_form(m.group())))
        if not text.isascii():
            edits += [(i, i + 1, "") for i, ch in enumerate(text) if is_invisible(ch)]
        for m in STEP_TAG_LIKE.finditer(folded):
            edits += [_opener_edit(text, folded, starts, ends, i)
                      for i in range(m.start(), m.end()) if folded[i] == "<"]
    patterns = [CONTROL_TOKEN, _special_token_pattern(tuple(special_tokens))]
    for pattern in filter(None, patterns):
        for m in pattern.finditer(folded):
            edits.append(_opener_edit(text, folded, starts, ends, m.start()))
    return _apply(text, edits) if edits else text


def format_steps(steps: Sequence[Step | str], special_tokens: Iterable[str] = ()) -> str:
    special = tuple(special_tokens)
    blocks = []
    for i, step in enumerate(steps):
        body = neutralize(step.text if isinstance(step, Step) else step, special)
        blocks.append(f"<step_{i}>\n{body}\n</step_{i}>")
    return "\n\n".join(blocks)


def build_critique_prompt(problem: str, steps: Sequence[Step | str], reference: str | None = None,
                          template: str | None = None, special_tokens: Iterable[str] = ()) -> str:
    """The user message asking the judge for the indices of ALL incorrect steps."""
    special = tuple(special_tokens)
    reference_block = (f"\nThe reference final answer (for your information): "
                       f"{neutralize(reference, special, step=False)}\n") if reference else ""
    return (template or default_template()).format(
        problem=neutralize(problem.strip(), special, step=False), reference_block=reference_block,
        steps_block=format_steps(steps, special))


def build_critique_messages(problem: str, steps: Sequence[Step | str], reference: str | None = None,
                            template: str | None = None, special_tokens: Iterable[str] = ()) -> list[dict]:
    return [{"role": "user", "content": build_critique_prompt(problem, steps, reference, template, special_tokens)}]
