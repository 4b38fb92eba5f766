"""The rollout record of a run directory (<run>/rollouts.jsonl): what `capo view` shows.

One JSON object per sampled response, for every `run.rollouts_every`-th optimizer step and, of
that step's batch, the first `run.rollout_groups` prompt groups (all G responses of each):

    step          the optimizer step this batch trained
    group         the response's prompt group within the step (index of TRL's group in the batch)
    problem, answer                        what the policy and the judge were shown / the reference
    text          the response as decoded from its token ids (the text the judge critiqued)
    steps         [[start, end], ...] character spans of its steps in `text` (code points)
    r_v           the verifier's outcome (0/1)
    judged        true when the response was sent to the judge (capo: by run's `capo.critique`)
    counts        c_j: how many parsed critiques flag step j;  V: critiques that parsed;  N: asked
    weights       the voted step weights w_j (capo.voting), rounded to 3 decimals
    critiques     [{"text", "wrong_steps" (null: unparsable or failed), "error", "latency_s", "cached"}]
    token_chars   characters of each completion token (they tile `text`)
    advantages    the (B, T) advantages trained on, run-length coded over tokens: [[value, count], ...]
                  rounded to 3 decimals; CAPO's are constant over a step's tokens, so a response
                  takes a few runs, not one number per token

Size (measured: `python benchmarks/bench_view_load.py`, docs/training.md): about 1.0 kB per
response of ~64 tokens with N = 4 short critiques (the calculator), so the default (2 groups of
G = 8, every step) adds about 17 kB per step; critiques of ~1 000 characters (an LLM judge) make
it about 4.8 kB per response, 77 kB per step. `run.rollouts_every` divides that.

Pure apart from the tokenizer's decoding: no file I/O here (the run logger appends the rows).
"""

from __future__ import annotations

from collections.abc import Sequence

ROLLOUTS = "rollouts.jsonl"


def round3(x: float) -> float:
    return round(float(x), 3) + 0.0  # + 0.0: -0.0 prints as 0.0


def run_lengths(values: Sequence[float]) -> list[list]:
    """[[value, count], ...] of consecutive equal values (after rounding to 3 decimals)."""
    runs: list[list] = []
    for v in values:
        r = round3(v)
        if runs and runs[-1][0] == r:
            runs[-1][1] += 1
        else:
            runs.append([r, 1])
    return runs


def expand_runs(runs: Sequence[Sequence]) -> list[float]:
    return [v for v, n in runs for _ in range(int(n))]


def step_counts(wrong_sets: Sequence[frozenset[int] | None], num_steps: int) -> list[int]:
    """c_j over the parsed critiques (None: unparsable or failed, not counted)."""
    counts = [0] * num_steps
    for flagged in wrong_sets:
        for j in flagged or ():
            if 0 <= j < num_steps:
                counts[j] += 1
    return counts


def critique_json(c) -> dict:
    """One raw critique (capo.judges.base.Critique) as the record stores it."""
    return {"text": c.text, "wrong_steps": sorted(c.wrong_steps) if c.wrong_steps is not None else None,
            "error": c.error, "latency_s": round(c.latency_s, 3), "cached": c.cached}


def rollout_record(tokenizer, *, step: int, group: int, problem: str, answer, token_ids: Sequence[int],
                   r_v: float, advantages: Sequence[float], aligned=None, critiques=None, vote=None,
                   splitter: str = "paragraph") -> dict:
    """The record of one response. aligned: its capo.credit.AlignedResponse (None: split here, for
    runs without a judge); critiques: its raw Critique list (None: not judged); vote: its Vote."""
    from capo.alignment import token_char_spans
    from capo.steps import compile_splitter

    text, spans, _ = token_char_spans(tokenizer, list(token_ids))
    steps = aligned.steps if aligned is not None else compile_splitter(splitter)(text)
    n = len(token_ids)
    row = {"step": step, "group": group, "problem": problem, "answer": answer, "text": text,
           "steps": [[s.start, s.end] for s in steps], "r_v": round3(r_v), "judged": critiques is not None}
    if critiques is not None:
        wrong = [c.wrong_steps for c in critiques]
        row.update(counts=step_counts(wrong, len(steps)), V=sum(w is not None for w in wrong), N=len(critiques),
                   critiques=[critique_json(c) for c in critiques])
    if vote is not None:
        row["weights"] = [round3(w) for w in vote.weights]
    row["token_chars"] = [b - a for a, b in spans]
    row["advantages"] = run_lengths(list(advantages)[:n])
    return row


class RolloutLog:
    """Collects the records of the sampled steps and groups; the run logger takes them each step.

    groups: prompt groups recorded per recorded step (0: none); every: record every K-th step.
    A step made of several generation batches (gradient accumulation) records at most `groups`
    groups in all."""

    def __init__(self, tokenizer, groups: int = 2, every: int = 1, *, vote: str = "intersection",
                 min_valid: int = 1, critique: str = "all", splitter: str = "paragraph"):
        self.tokenizer, self.groups, self.every = tokenizer, groups, every
        self.vote_method, self.min_valid, self.critique, self.splitter = vote, min_valid, critique, splitter
        self.records: list[dict] = []
        self._step, self._taken = None, 0

    def wants(self, step: int) -> bool:
        if self._step != step:
            self._step, self._taken = step, 0
        return self.groups > 0 and step % self.every == 0 and self._taken < self.groups

    def add(self, step: int, problems: Sequence[str], answers: Sequence, completion_ids: Sequence[Sequence[int]],
            aligned, r_v: Sequence[float], groups: Sequence[int], advantages, judge: str | None, critiques) -> None:
        """One generation batch of this process (lists in batch order; advantages (B, T)).
        judge: "steps" (CAPO: `critiques` holds the raw critiques of the responses the run sent,
        in batch order), "answer" (GenORM: one list per response, on the whole response), None (no
        judge)."""
        if not self.wants(step):
            return
        from capo.credit import select_for_critique
        from capo.steps import Step
        from capo.voting import vote

        judged: set[int] = set()
        per_response: dict[int, list] = {}
        if judge == "steps":
            chosen, sent = select_for_critique(aligned, list(r_v), self.critique)
            judged, per_response = set(chosen), dict(zip(sent, critiques or []))
        elif judge == "answer" and critiques:
            judged, per_response = set(range(len(critiques))), dict(enumerate(critiques))
        keep = sampled_groups(list(groups), self.groups - self._taken)
        self._taken += len({groups[i] for i in keep})
        for i in keep:
            a = aligned[i]
            if judge == "answer":  # the judged unit is the whole response
                a = type(a)(a.text, [Step(0, 0, len(a.text), a.text)] if a.text else [], a.token_steps)
            # judged with zero steps: no critique was asked for, the response was still judged
            crits = per_response.get(i, [] if i in judged else None)
            votes = None if crits is None else vote([c.wrong_steps for c in crits], len(a.steps),
                                                    "majority" if judge == "answer" else self.vote_method,
                                                    self.min_valid)
            row = advantages[i]  # (T,) per token; a (B,) sequence advantage (TRL's own) covers every token
            row = row.tolist() if hasattr(row, "tolist") else row
            row = [float(row)] * len(completion_ids[i]) if isinstance(row, (int, float)) else list(row)
            self.records.append(rollout_record(
                self.tokenizer, step=step, group=int(groups[i]), problem=problems[i], answer=answers[i],
                token_ids=completion_ids[i], r_v=float(r_v[i]), aligned=a, critiques=crits, vote=votes,
                advantages=row, splitter=self.splitter))

    def take(self) -> list[dict]:
        out, self.records = self.records, []
        return out


def sampled_groups(groups: Sequence[int], max_groups: int) -> list[int]:
    """Positions (in batch order) of the responses of the first `max_groups` distinct groups."""
    keep: list[int] = []
    seen: list[int] = []
    for i, g in enumerate(groups):
        if g not in seen:
            if len(seen) == max_groups:
                continue
            seen.append(g)
        keep.append(i)
    return keep
