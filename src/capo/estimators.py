"""Advantage estimators: small registered pure functions with one signature (as verl's core_algos).

    estimate = ESTIMATORS.lookup(name).fn(rollout, critiques, config)
    estimate.advantages   (B, T) on rollout.mask's device, 0 on padding
    estimate.metrics      {name: float}, logged by the trainer
    estimate.votes        the voted critiques per response (None for estimators without any)

rollout     Rollout: one step's responses of all processes (B responses, T token positions)
critiques   per response: the list of its N parsed critiques (a frozenset of wrong step indices, or
            None for an unparsable or failed one), [] for a judged response with zero steps, None
            for a response that was not judged; None altogether when the estimator reads none
config      CreditConfig

Each registration says what the judge must produce before the estimator runs (`Estimator.judge`):
    "steps"    the response's steps are critiqued after the outcome reward (capo)
    "answer"   the judge's N verdicts on the final answer are the outcome reward itself, so they are
               taken inside the reward function, before TRL's sequence advantages (genorm)
    None       no judge (grpo)
The trainer looks the estimator up by name and has no branch on algorithms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from capo.credit import AlignedResponse, CreditConfig, assign_credit
from capo.registry import Registry
from capo.rewards import sequence_group_advantages
from capo.voting import Vote, vote


@dataclass(frozen=True)
class Rollout:
    """One step's sampled responses, gathered over processes."""

    aligned: Sequence[AlignedResponse]  # (B,) text, steps, step index per token
    outcomes: torch.Tensor  # (B,) the verifier's r_v: what counts as correct
    rewards: torch.Tensor  # (B,) the outcome term: r_v combined with extra reward functions (TRL's way)
    groups: Sequence  # (B,) prompt-group id per response
    mask: torch.Tensor  # (B, T) 1 on generated tokens (truncated ones too: they count in group statistics)
    sequence_advantages: torch.Tensor | None = None  # (B,) TRL's own advantages, when TRL computed them
    checkable: Sequence[bool | None] | None = None  # (B,) False: the judge found nothing it could check


@dataclass(frozen=True)
class Estimate:
    advantages: torch.Tensor  # (B, T)
    metrics: dict[str, float]
    votes: list[Vote] | None = None


@dataclass(frozen=True)
class Estimator:
    fn: Callable[[Rollout, Sequence | None, CreditConfig], Estimate]
    judge: str | None  # "steps" | "answer" | None (module doc)


ESTIMATORS = Registry("advantage estimator")


def register_estimator(name: str, judge: str | None = None):
    def wrap(fn):
        ESTIMATORS[name] = Estimator(fn, judge)
        return fn

    return wrap


def mean_token_reward(rewards: torch.Tensor, mask: torch.Tensor) -> float:
    """(B,) sequence rewards weighted by each response's token count (unscored NaN rows count 0)."""
    counts = mask.float().sum(1)
    return float((torch.nan_to_num(rewards.float()).to(counts.device) * counts).sum() / counts.sum().clamp(min=1))


@register_estimator("capo", judge="steps")
def capo(rollout: Rollout, critiques: Sequence | None, config: CreditConfig) -> Estimate:
    """CAPO: token rewards R = C*reward - P*w from the voted critiques (plus the exploit guards of
    `config`), normalized over all tokens of each prompt group (capo.credit.assign_credit)."""
    mask = rollout.mask
    critiques = critiques if critiques is not None else [None] * len(rollout.aligned)
    credit = assign_credit(rollout.aligned, rollout.outcomes.tolist(), list(rollout.groups), critiques,
                           mask.float(), config, rollout.checkable, rollout.rewards.tolist())
    s = credit.stats
    metrics = {
        "token_reward": s["mean_token_reward"],
        "judge/flagged_step_rate": s["flagged_step_rate"],
        "judge/vote_agreement": s["vote_agreement"],
        "judge/correct_with_flagged_steps": s["correct_with_flagged_steps"],
        "judge/judged": s["judged_responses"],
        "judge/mean_steps": s["mean_steps"],
    }
    return Estimate(credit.advantages, metrics, credit.votes)


@register_estimator("grpo")
def grpo(rollout: Rollout, critiques: Sequence | None, config: CreditConfig) -> Estimate:
    """GRPO-Rule: the sequence advantage on every token: TRL's own when it computed them (so every
    GRPOConfig option keeps TRL's meaning), else the group-normalized reward (rewards.py)."""
    mask = rollout.mask
    seq = rollout.sequence_advantages
    if seq is None:
        seq = sequence_group_advantages(torch.nan_to_num(rollout.rewards.float()), list(rollout.groups),
                                        scale=config.scale != "none")
    advantages = seq.to(device=mask.device, dtype=torch.float32).unsqueeze(1) * mask.float()
    return Estimate(advantages, {"token_reward": mean_token_reward(rollout.rewards, mask)})


@register_estimator("genorm", judge="answer")
def genorm(rollout: Rollout, critiques: Sequence | None, config: CreditConfig) -> Estimate:
    """GRPO-GenORM: the judge's majority verdict on the final answer is the reward (taken in the
    reward function); advantages as grpo's. Also measures how often the verdict matches r_v."""
    estimate = grpo(rollout, None, config)
    votes = [vote(crits or [], 1, "majority", config.min_valid) for crits in (critiques or [])]
    decided = [(v, r) for v, r in zip(votes, rollout.outcomes.tolist()) if v.has_verdict]
    metrics = {
        **estimate.metrics,
        "judge/vote_agreement": sum(v.agreement for v, _ in decided) / len(decided) if decided else 0.0,
        "judge/verdict_matches_rule": sum((v.weights[0] == 0) == (r > 0) for v, r in decided) / len(decided)
        if decided else 0.0,
        "judge/judged": float(len(votes)),
    }
    return Estimate(estimate.advantages, metrics, votes)


def genorm_reward(critiques: Sequence[frozenset[int] | None], min_valid: int = 1) -> float | None:
    """GenORM's reward for one response from its N verdicts (the whole response is step 0):
    1 if the majority says the final answer is right, 0 if wrong, None when no verdict parsed."""
    v = vote(critiques, 1, "majority", min_valid)
    return 1.0 - v.weights[0] if v.has_verdict else None
