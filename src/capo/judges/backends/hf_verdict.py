"""Structured verdicts for the hf judge: a logits processor that makes every critique end with a
strict `Wrong step list: [..]` line whose indices are steps of the solution.

The judge reasons freely; the processor takes over a row

* when the row starts the line itself (its text ends with "Wrong step list:" or "...: ["),
* when its token budget is nearly spent (`reserve` tokens before max_new_tokens),
* when it loops (one chunk repeated, as `_looping` in hf.py sees it), and
* after it ended without a verdict: the caller continues such rows in a second `generate` call
  that starts with the forced line (`VerdictLine.prefix_ids`) in state "indices".

Once in control it forces the rest of "\\nWrong step list: [", then admits only single-character
tokens spelling `]` or `i(, j)*]` with every index in [0, num_steps) (each prefix of a number is
checked, so a number can only grow into a valid index), then EOS. Indices therefore always parse
(capo.parse, strict); whether they are the right steps is the judge's business.
This is what the openai back-end gets from a server's regex constraint
(capo.verdict.structured_verdict_regex), done here in-process and aware of the step count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERDICT_LINE = "\nWrong step list: ["
MAX_INDICES = 16  # as capo.verdict.structured_verdict_regex
DIGITS = "0123456789"

FREE, PREFIX, INDICES, DONE = "free", "prefix", "indices", "done"


class VerdictLine:
    """The token ids that spell the verdict line with one tokenizer (computed once per judge)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.prefix_ids = self._spell(VERDICT_LINE)
        self.open_ids = self._spell(" [")  # after a row's own "Wrong step list:"
        self.char_id = {c: self._single(c) for c in DIGITS + ", ]"}
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("structured verdicts need a tokenizer with an EOS token")
        self.eos_id = eos
        # tokens kept for the line: prefix + "i, j]" (a verdict with two one-digit indices fits)
        self.reserve = len(self.prefix_ids) + 6

    def _spell(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if self.tokenizer.decode(ids) != text:
            raise ValueError(f"the judge's tokenizer cannot spell {text!r} exactly")
        return ids

    def _single(self, char: str) -> int:
        ids = self._spell(char)
        if len(ids) != 1:
            raise ValueError(f"the judge's tokenizer has no single token for {char!r}")
        return ids[0]


@dataclass
class _Row:
    state: str = FREE
    forced: list[int] = field(default_factory=list)  # PREFIX: ids still to force
    count: int = 0  # INDICES: indices written
    number: str = ""  # INDICES: digits of the index being written
    after: str = "["  # INDICES: the last character ("[", digit, ",", " ")


class StructuredVerdict:
    """A transformers LogitsProcessor over one generate batch (see the module docstring).

    num_steps[r]: steps of row r's solution; budget[r]: tokens row r may still generate in this
    call; prompt_width: the (left-padded) prompt length; start: FREE for a first pass, INDICES for
    a continuation whose input already ends with the forced line; looping(ids) -> bool."""

    def __init__(self, line: VerdictLine, num_steps: list[int], budget: list[int], prompt_width: int,
                 start: str = FREE, looping=None, window: int = 8):
        self.line, self.num_steps, self.budget = line, num_steps, budget
        self.prompt_width, self.looping, self.window = prompt_width, looping, window
        self.rows = [_Row(state=start) for _ in num_steps]

    def __call__(self, input_ids, scores):
        import torch

        step = input_ids.shape[1] - self.prompt_width  # tokens generated so far in this call
        mask = torch.zeros_like(scores, dtype=torch.bool)  # True: allowed (rows under control only)
        controlled = []
        for r, row in enumerate(self.rows):
            if step > 0:
                self._advance(row, int(input_ids[r, -1]), input_ids[r, self.prompt_width:], r)
            left = self.budget[r] - step  # tokens left, this one included
            if row.state == FREE and (left <= self.line.reserve
                                      or (self.looping is not None and self.looping(
                                          input_ids[r, self.prompt_width:].tolist()))):
                row.state, row.forced = PREFIX, list(self.line.prefix_ids)
            allowed = self._allowed(row, r, left)
            if allowed is not None:
                controlled.append(r)
                mask[r, allowed] = True
        if controlled:
            rows = torch.tensor(controlled, device=scores.device)
            scores[rows] = scores[rows].masked_fill(~mask[rows], float("-inf"))
        return scores

    def _advance(self, row: _Row, token: int, generated, r: int) -> None:
        """Update a row with the token just chosen for it."""
        if row.state == FREE:
            tail = self.line.tokenizer.decode(generated[-self.window:].tolist(), skip_special_tokens=True)
            if tail.endswith("Wrong step list: ["):
                row.state = INDICES
            elif tail.endswith("Wrong step list:"):
                row.state, row.forced = PREFIX, list(self.line.open_ids)
        elif row.state == PREFIX:
            row.forced.pop(0)
            if not row.forced:
                row.state = INDICES
        elif row.state == INDICES:
            char = next((c for c, i in self.line.char_id.items() if i == token), None)
            if char is None:  # a row generate already finished (it is fed padding): nothing to track
                return
            if char == "]":
                row.state = DONE
            elif char in DIGITS:
                row.number += char
            elif char == ",":
                row.count, row.number = row.count + 1, ""
            row.after = char

    def _allowed(self, row: _Row, r: int, left: int) -> list[int] | None:
        """Token ids a controlled row may take next; None for a free row."""
        ids = self.line.char_id
        if row.state == FREE:
            return None
        if row.state == PREFIX:
            return [row.forced[0]]
        if row.state == DONE:
            return [self.line.eos_id]
        close = [ids["]"]]
        if row.after == ",":
            return [ids[" "]]
        digits = [ids[d] for d in DIGITS if self._index_prefix_ok(row.number + d, r)]
        if row.after in "[ ":  # an index starts here (or the list closes, right after "[")
            if row.after == " ":
                return digits or close  # no valid index: cannot happen (", " needs one more index)
            return close if left <= 1 or row.count >= MAX_INDICES else digits + close
        # after a digit: another digit, ", " and a next index, or the end
        if left <= 1:
            return close
        more = [ids[","]] if left >= 4 and row.count + 1 < MAX_INDICES else []
        return (digits if left >= 2 else []) + more + close

    def _index_prefix_ok(self, digits: str, r: int) -> bool:
        if len(digits) > 1 and digits[0] == "0":
            return False
        return int(digits) < self.num_steps[r]
