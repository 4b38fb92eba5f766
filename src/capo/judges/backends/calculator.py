"""`calculator`: a rule-based step checker (see capo.judges.arith for what it checks).

A step is flagged when it contains a false arithmetic claim: an equality chain `a op b = c` or a
GSM8K calculator annotation `<<a*b=c>>c` whose value is wrong (exact rational arithmetic). Steps
without a checkable claim are never flagged, so it finds arithmetic slips, not reasoning errors.
Deterministic and fast (thousands of steps per second): the N critiques are N copies of one.
The default judge of the CPU demo; no cache (it is faster than a cache lookup).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from capo.judges.arith import check_step, describe
from capo.judges.base import Critique, CritiqueRequest, Judge, JudgeResult, register_judge


class CalculatorJudge(Judge):
    name = "calculator"

    def identity(self) -> dict:
        return {"backend": "calculator", "version": 1}

    def judge_steps(self, steps: Sequence[str]) -> tuple[list[int], str, list[int]]:
        """Wrong step indices, a readable critique ending with the verdict line, and the indices
        of the steps that hold at least one checkable claim."""
        wrong, lines, checked = [], [], []
        for i, step in enumerate(steps):
            claims = check_step(step)
            if claims:
                checked.append(i)
            bad = [c for c in claims if not c.ok]
            if bad:
                wrong.append(i)
                lines.append(f"Step {i}: " + "; ".join(describe(c) for c in bad[:3]) + ".")
        if not lines:
            lines.append("No false arithmetic claim found." if checked else "No arithmetic claim to check.")
        lines.append(f"Wrong step list: [{', '.join(map(str, wrong))}]")
        return wrong, "\n".join(lines), checked

    def critique(self, requests: Sequence[CritiqueRequest], n: int) -> JudgeResult:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        start = time.perf_counter()
        out = []
        for req in requests:
            t0 = time.perf_counter()
            wrong, text, checked = self.judge_steps(req.steps)
            crit = Critique(text, frozenset(wrong), time.perf_counter() - t0, checked=frozenset(checked))
            out.append([crit] * n)
        return JudgeResult(out, time.perf_counter() - start, {}, {"requests": 0, "cache_hits": 0,
                                                                 "generated": len(out) * n})

    def __repr__(self) -> str:
        return "CalculatorJudge()"


@register_judge("calculator")
def make_calculator_judge(arg: str = "", **options) -> CalculatorJudge:
    # shared options of the generating judges (sampling, cache, ...) do not apply: ignored
    if arg:
        from capo.errors import CapoError

        raise CapoError(f"the calculator judge takes no argument (got 'calculator:{arg}')")
    return CalculatorJudge()
