"""A small batch of GRPO groups for the verl plugin's tests, its inputs in verl's shapes, and the
expected credit recomputed through capo's TRL path (capo.credit), independently of the plugin."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import numpy as np
import torch
from tensordict import TensorDict
from verl import DataProto

from capo.credit import CreditConfig, align_batch, assign_credit, reported_checkable, select_for_critique
from capo.judges.base import Critique, CritiqueRequest, Judge, JudgeResult
from capo.verify import MathVerifier

# (problem, reference, responses): 3 groups of G = 4. Wrong arithmetic, multi-byte characters,
# a bare answer, an empty response, an all-wrong group (process_groups) and a step-less wrong one.
GROUPS = [
    ("Tom has 3 bags of 4 apples and finds 2 more. How many apples does he have?", "14", [
        "Tom has 3 * 4 = 12 apples.\n\nWith the 2 he finds, 12 + 2 = 14.\n\n\\boxed{14}",
        "Tom has 3 * 4 = 13 apples 🍎.\n\nWith 2 more, 13 + 2 = 15.\n\n\\boxed{15}",
        "\\boxed{14}",
        "",
    ]),
    ("A café sells 5 cakes for 2 euros each and 3 teas for 1 euro. What is the total?", "13", [
        "Cakes: 5 * 2 = 10 €.\n\nTeas: 3 * 1 = 4 €.\n\nTotal 10 + 4 = 14.\n\n\\boxed{14}",
        "Cakes cost 5 * 2 = 10.\nTeas cost 3.\n\n\\boxed{12}",
        "I think the answer is twelve.",
        "5 + 3 = 8\n\n8 * 2 = 16\n\n\\boxed{16}",
    ]),
    ("Ana reads 6 pages a day for 7 days. How many pages?", "42", [
        "6 * 7 = 42 pages.\n\n\\boxed{42}",
        "Ana reads 6 pages × 7 days = 42 pages.\n\n\n\\boxed{42}",
        "6 * 7 = 48.\n\n\\boxed{48}",
        "Día 1: 6.\n\nDía 7: 6 * 7 = 42\n\n\\boxed{42}",
    ]),
]


@dataclass
class Batch:
    problems: list[str]
    references: list[str]
    texts: list[str]
    uids: list[str]
    ids: list[list[int]]  # the "generated" response ids (non-canonical: see generated_ids)
    prompt_ids: list[list[int]]


def generated_ids(tokenizer, text: str) -> list[int]:
    """Ids a policy could have sampled for `text` that are not what encoding the text gives: pieces
    of 3 characters encoded separately, then EOS. Whoever re-encodes the text gets other ids."""
    ids: list[int] = []
    for k in range(0, len(text), 3):
        ids += tokenizer.encode(text[k:k + 3], add_special_tokens=False)
    return ids + [tokenizer.eos_token_id]


def make_batch(tokenizer) -> Batch:
    b = Batch([], [], [], [], [], [])
    for g, (problem, reference, responses) in enumerate(GROUPS):
        for text in responses:
            b.problems.append(problem)
            b.references.append(reference)
            b.texts.append(text)
            b.uids.append(f"uid{g}")
            b.ids.append(generated_ids(tokenizer, text))
            b.prompt_ids.append(tokenizer.encode(problem, add_special_tokens=False))
    return b


def mask_of(ids: list[list[int]]) -> torch.Tensor:
    """(B, T) 1 on each response's tokens, right-padded."""
    lengths = torch.tensor([len(x) for x in ids])
    return (torch.arange(int(lengths.max())) < lengths.unsqueeze(1)).float()


class FixedJudge(Judge):
    """N seeded critiques per request (wrong-step sets, unparsable ones, all unparsable for some
    responses); records every request it gets."""

    name = "fixed"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.requests: list[CritiqueRequest] = []

    def critiques_for(self, request: CritiqueRequest, n: int) -> list[Critique]:
        rng = random.Random(f"{self.seed}|{request.problem}|{'|'.join(request.steps)}")
        if rng.random() < 0.15:
            return [Critique("garbage", None) for _ in range(n)]  # no verdict at all
        out = []
        for _ in range(n):
            if rng.random() < 0.2:
                out.append(Critique("garbage", None))
            else:
                out.append(Critique("ok", frozenset(j for j in range(len(request.steps)) if rng.random() < 0.5)))
        return out

    def critique(self, requests, n):
        self.requests.extend(requests)
        return JudgeResult([self.critiques_for(r, n) for r in requests])


def trl_path_credit(tokenizer, batch: Batch, judge: Judge, config: CreditConfig, *, num_critiques: int = 4,
                    critique: str = "all", splitter: str = "paragraph", separators: str = "next"):
    """The credit of `batch` as capo's TRL trainer computes it (CapoGRPOTrainer._capo_advantages)."""
    aligned = align_batch(tokenizer, batch.ids, splitter, separators)
    verifier = MathVerifier()
    outcomes = [verifier(a.text, r) for a, r in zip(aligned, batch.references)]
    judged, sent = select_for_critique(aligned, outcomes, critique)
    critiques: list = [None] * len(aligned)
    checkable: list = [None] * len(aligned)
    for i in judged:
        critiques[i] = []
    for i in sent:
        request = CritiqueRequest(batch.problems[i], tuple(s.text for s in aligned[i].steps), batch.references[i])
        crits = judge.critique([request], num_critiques).critiques[0]
        critiques[i] = [c.wrong_steps for c in crits]
        checkable[i] = reported_checkable(crits)
    return assign_credit(aligned, outcomes, batch.uids, critiques, mask_of(batch.ids), config, checkable)


def reward_input(batch: Batch, i: int, extra_info: dict | None = None) -> DataProto:
    """Response i as verl's agent loop hands it to a reward worker (AgentLoopWorker._compute_score):
    one row, no padding, the dataset's fields as non-tensor entries."""
    prompts = torch.tensor([batch.prompt_ids[i]])
    responses = torch.tensor([batch.ids[i]])
    input_ids = torch.cat([prompts, responses], dim=1)
    fields = {
        "data_source": "capo-test",
        "reward_model": {"style": "rule", "ground_truth": batch.references[i]},
        "extra_info": {"index": i} if extra_info is None else extra_info,
        "raw_prompt": [{"role": "user", "content": batch.problems[i]}],
        "uid": batch.uids[i],
    }
    non_tensor = {}
    for key, value in fields.items():
        arr = np.empty(1, dtype=object)
        arr[0] = value
        non_tensor[key] = arr
    tensors = TensorDict({"prompts": prompts, "responses": responses, "input_ids": input_ids,
                          "attention_mask": torch.ones_like(input_ids),
                          "position_ids": torch.arange(input_ids.shape[1]).unsqueeze(0)}, batch_size=1)
    return DataProto(batch=tensors, non_tensor_batch=non_tensor)


def run_manager(manager, batch: Batch) -> list[dict]:
    """run_single on every response, concurrently, as a reward worker runs them."""
    async def all_():
        return await asyncio.gather(*(manager.run_single(reward_input(batch, i)) for i in range(len(batch.ids))))

    return asyncio.run(all_())
