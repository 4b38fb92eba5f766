"""Per-response CAPO records, and the dense token rewards of a batch from them (pure; no verl).

verl scores one response at a time (a reward manager's `run_single`, in reward-loop worker
processes) and keeps one scalar per response; CAPO's credit needs the whole batch (the
`process_groups` guard looks at each prompt group). So the reward worker writes, per response, a
record of what capo.credit.assign_credit needs about it, and the trainer hook (capo.verl.trainer)
calls assign_credit on the batch's records: the function the TRL path calls, on the same inputs.

A record is JSON text (verl's validation metrics skip text values), in
reward_extra_info["capo_record"]:
    r_v        the verifier's outcome
    n_tokens   response tokens that were aligned (= the response length the trainer sees)
    steps      number of steps
    runs       token -> step map (capo.alignment), run-length encoded: [[step or -1, count], ...]
    critiques  null: not judged | one entry per critique: sorted wrong steps, or null (unparsable/failed)
    checkable  null: not reported | false: the judge found nothing it could check (unjudgeable guard)
The response text is not carried: credit needs only the step count and the token map.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from capo.credit import AlignedResponse, CreditBatch, CreditConfig, assign_credit
from capo.steps import Step


@dataclass(frozen=True)
class Record:
    aligned: AlignedResponse  # text "" and placeholder steps: only their number and token map count
    r_v: float
    critiques: list[frozenset[int] | None] | None
    checkable: bool | None


def encode_record(aligned: AlignedResponse, r_v: float, critiques: Sequence[frozenset[int] | None] | None,
                  checkable: bool | None) -> str:
    runs: list[list[int]] = []
    for owner in aligned.token_steps:
        if runs and runs[-1][0] == owner:
            runs[-1][1] += 1
        else:
            runs.append([owner, 1])
    crits = None if critiques is None else [None if c is None else sorted(c) for c in critiques]
    return json.dumps({"r_v": float(r_v), "n_tokens": len(aligned.token_steps), "steps": len(aligned.steps),
                       "runs": runs, "critiques": crits, "checkable": checkable}, separators=(",", ":"))


def decode_record(text: str) -> Record:
    data = json.loads(text)
    token_steps = [owner for owner, count in data["runs"] for _ in range(count)]
    if len(token_steps) != data["n_tokens"]:
        raise ValueError(f"corrupt CAPO record: runs cover {len(token_steps)} tokens, n_tokens={data['n_tokens']}")
    steps = [Step(j, 0, 0, "") for j in range(data["steps"])]
    crits = data["critiques"]
    critiques = None if crits is None else [None if c is None else frozenset(c) for c in crits]
    return Record(AlignedResponse("", steps, token_steps), float(data["r_v"]), critiques, data["checkable"])


def empty_record(n_tokens: int) -> Record:
    """Stand-in for a response that carries no record (verl's synthetic padding rows, mask 0):
    outside every step, r_v 0, not judged."""
    return Record(AlignedResponse("", [], [-1] * n_tokens), 0.0, None, None)


def dense_credit(records: Sequence[Record], groups: Sequence, mask: torch.Tensor,
                 config: CreditConfig) -> CreditBatch:
    """CAPO credit of a batch: (B, T) token rewards C*r_v - P*w (with the guards of `config`) and
    their token-group advantages over `groups` (the prompt uids), from capo.credit.assign_credit.

    mask (B, T) is 1 on the response tokens the advantages cover (verl's response_mask). Each
    record must cover exactly its row's response: a mismatch means the token map belongs to other
    ids, and raises instead of silently penalizing the wrong tokens."""
    lengths = mask.sum(1).long().tolist()
    for i, (rec, n) in enumerate(zip(records, lengths, strict=True)):
        if len(rec.aligned.token_steps) != n:
            raise ValueError(f"response {i}: its CAPO record aligns {len(rec.aligned.token_steps)} tokens but the "
                             f"trainer sees {n} response tokens")
    return assign_credit([r.aligned for r in records], [r.r_v for r in records], list(groups),
                         [r.critiques for r in records], mask.float(), config, [r.checkable for r in records])
