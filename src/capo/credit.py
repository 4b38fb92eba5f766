"""The CAPO credit path for a batch, as two pure stages around the judge call:

    aligned = align_batch(tokenizer, completion_ids, splitter)      # text, steps, token->step
    ... judge the responses' steps (I/O, capo.judges) -> parsed critiques per response ...
    credit  = assign_credit(aligned, outcomes, groups, critiques, config)   # (B, T) advantages

`assign_credit` also returns the telemetry the trainer logs (flag rate, agreement, ...).

Exploit guards. The policy is optimized against the judge, so every way of earning reward
without better reasoning gets found. Each guard closes one (measured in docs/results/lab):
    separators="next"          blank lines between steps take the step they open, so they are
                               penalized with it (under "outside", the paper's rule, padding with
                               blank lines earns C*r_v on tokens no judge can flag)
    separators="next_and_last" also the tokens after the last step (EOS) take the last step: outside
                               it, a flagged response's EOS earns the group's largest advantage in
                               an all-wrong group (process_groups="all"), a push to stop early
    process_groups="with_correct"
                               the process penalty applies only in groups with a correct response:
                               in an all-wrong group "flag fewer steps" is otherwise the only
                               signal, and saying nothing checkable is the cheapest way to get it
    critique="correct"         only correct responses are critiqued (FAPO-style): a wrong answer
                               earns 0 however little it says (select_for_critique)
    penalty="response"         a flagged response loses P on average whatever its length or number
                               of steps (rewards.response_invariant_rewards): padding a flagged
                               response with unflagged text no longer dilutes its penalty
    unjudgeable="flagged"      a judged response with r_v = 0 and zero steps, or whose critiques
                               report nothing the judge could check, counts as wholly flagged
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from capo.alignment import align_response, separators_join_next_step, trailing_tokens_join_last_step
from capo.rewards import PENALTY_SHAPES, SCALES, capo_advantages, group_index, step_weights_to_tokens
from capo.steps import Step, compile_splitter
from capo.voting import Vote, vote


@dataclass(frozen=True)
class CreditConfig:
    C: float = 2.0  # W_whole: weight of the outcome reward
    P: float = 1.0  # W_process: penalty on tokens of wrong steps
    vote: str = "intersection"
    min_valid: int = 1  # fewer parsed critiques than this: no process penalty
    eps: float = 1e-6
    process_groups: str = "all"  # all (the paper) | with_correct: no process penalty in all-wrong groups
    penalty: str = "token"  # token (the paper) | response: step-count invariant (see module doc)
    unjudgeable: str = "ignore"  # ignore (the paper) | flagged: wrong and nothing checkable = flagged
    scale: str = "group"  # group (the paper) | batch | none: TRL's scale_rewards, per token (rewards.py)

    def __post_init__(self):
        for name, allowed in (("process_groups", PROCESS_GROUPS), ("penalty", PENALTY_SHAPES),
                              ("unjudgeable", UNJUDGEABLE), ("scale", SCALES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose from {', '.join(allowed)}")


@dataclass(frozen=True)
class AlignedResponse:
    text: str
    steps: list[Step]
    token_steps: list[int]  # step index per completion token, -1 outside any step


@dataclass
class CreditBatch:
    rewards: torch.Tensor  # (B, T) token rewards
    advantages: torch.Tensor  # (B, T)
    votes: list[Vote]
    stats: dict[str, float]


SEPARATOR_MODES = ("outside", "next", "next_and_last")
PROCESS_GROUPS = ("all", "with_correct")
UNJUDGEABLE = ("ignore", "flagged")
CRITIQUE_WHICH = ("all", "incorrect", "correct")


def select_for_critique(aligned: Sequence[AlignedResponse], outcomes: Sequence[float], which: str = "all",
                        ) -> tuple[list[int], list[int]]:
    """(judged, sent): the responses whose credit the judge decides (by outcome: all, incorrect or
    correct ones), and those of them with at least one step, which are sent to the judge."""
    if which not in CRITIQUE_WHICH:
        raise ValueError(f"unknown critique selection {which!r}; choose from {', '.join(CRITIQUE_WHICH)}")
    judged = [i for i, r in enumerate(outcomes) if which == "all" or (which == "correct") == (r > 0)]
    return judged, [i for i in judged if aligned[i].steps]


def align_batch(tokenizer, completion_ids: Sequence[Sequence[int]], splitter: str = "paragraph",
                separators: str = "outside") -> list[AlignedResponse]:
    """Align each completion. separators="outside" (the paper): tokens between steps belong to no
    step; "next": they take the step they open (see alignment.separators_join_next_step);
    "next_and_last": also the tokens after the last step (EOS) take the last step, so no token of
    a response with steps is outside (alignment.trailing_tokens_join_last_step)."""
    if separators not in SEPARATOR_MODES:
        raise ValueError(f"unknown separators mode {separators!r}; choose from {', '.join(SEPARATOR_MODES)}")
    split = compile_splitter(splitter)
    out = []
    for ids in completion_ids:
        text, steps, owners = align_response(tokenizer, ids, split)
        if separators in ("next", "next_and_last"):
            owners = separators_join_next_step(owners)
        if separators == "next_and_last":
            owners = trailing_tokens_join_last_step(owners)
        out.append(AlignedResponse(text, steps, owners))
    return out


def reported_checkable(critiques) -> bool | None:
    """False when every parsed critique of a response says the judge could check none of its steps
    (a rule judge's `Critique.checked`, an empty set); None when no critique reports it (LLM judges)."""
    reports = [c.checked for c in critiques if c.wrong_steps is not None and c.checked is not None]
    if not reports:
        return None
    return any(reports)


def assign_credit(aligned: Sequence[AlignedResponse], outcomes: Sequence[float], groups: Sequence,
                  critiques: Sequence[Sequence[frozenset[int] | None] | None], mask: torch.Tensor,
                  config: CreditConfig = CreditConfig(), checkable: Sequence[bool] | None = None,
                  reward: Sequence[float] | None = None) -> CreditBatch:
    """Token rewards and token-group advantages for a batch.

    outcomes[i] is the verifier's r_v: it decides what counts as correct (unjudgeable, process_groups,
    telemetry). reward[i] is the outcome term of the token reward C*reward - P*w; default r_v (the
    trainer passes r_v combined with the user's extra reward functions).
    critiques[i] is the list of parsed critiques of response i (None entries: unparsable/failed),
    or None when response i was not judged (it then gets no process penalty); a judged response
    with zero steps has an empty list. checkable[i] is False when the judge reported that it found
    nothing to check in response i (e.g. the calculator: no arithmetic claim); None: unknown.
    mask is (B, T) over completion tokens (T >= the longest token_steps).
    """
    _, t = mask.shape
    device = mask.device  # everything is computed where the mask lives
    step_ids = torch.tensor([r.token_steps[:t] + [-1] * (t - len(r.token_steps[:t])) for r in aligned], dtype=torch.long,
                            device=device)
    votes = [vote(crits or [], len(resp.steps), config.vote, config.min_valid) for resp, crits in zip(aligned, critiques)]
    weights = step_weights_to_tokens(step_ids, [v.weights for v in votes])
    outcome = torch.as_tensor(list(outcomes), dtype=torch.float32, device=device)
    if config.unjudgeable == "flagged":
        unjudgeable = torch.tensor([crits is not None and r <= 0
                                    and (not resp.steps or (checkable is not None and checkable[i] is False))
                                    for i, (resp, crits, r) in enumerate(zip(aligned, critiques, outcomes))],
                                   device=device)
        weights = torch.where(unjudgeable.unsqueeze(1), torch.ones_like(weights), weights)
    if config.process_groups == "with_correct":
        weights = weights * groups_with_correct(outcome, list(groups)).unsqueeze(1)
    term = outcome if reward is None else torch.as_tensor(list(reward), dtype=torch.float32, device=device)
    rewards, advantages = capo_advantages(term, weights, mask, list(groups), config.C, config.P, config.eps,
                                          config.penalty, config.scale)
    return CreditBatch(rewards, advantages, votes, credit_stats(aligned, outcomes, critiques, votes, rewards, mask))


def groups_with_correct(outcome: torch.Tensor, groups: Sequence) -> torch.Tensor:
    """(B,) 1.0 where the response's group holds at least one correct response, else 0.0."""
    dense, n = group_index(list(groups), outcome.device)
    correct = torch.zeros(n, device=outcome.device).index_add_(0, dense, (outcome > 0).float())
    return (correct[dense] > 0).float()


def credit_stats(aligned, outcomes, critiques, votes: Sequence[Vote], rewards: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    judged = [i for i, c in enumerate(critiques) if c is not None]
    steps_total = sum(len(aligned[i].steps) for i in judged)
    flagged = sum(sum(1 for w in votes[i].weights if w > 0) for i in judged)
    with_verdict = [i for i in judged if votes[i].has_verdict]
    correct = [i for i in with_verdict if outcomes[i] > 0]
    return {
        "judged_responses": float(len(judged)),
        "flagged_step_rate": flagged / steps_total if steps_total else 0.0,
        "vote_agreement": sum(votes[i].agreement for i in with_verdict) / len(with_verdict) if with_verdict else 0.0,
        "no_verdict_responses": float(len(judged) - len(with_verdict)),
        "unparsable_critiques": float(sum(1 for i in judged for c in critiques[i] if c is None)),
        "correct_with_flagged_steps": (sum(1 for i in correct if any(w > 0 for w in votes[i].weights)) / len(correct))
        if correct else 0.0,
        "mean_token_reward": float((rewards * mask).sum() / mask.sum().clamp(min=1)),
        "mean_steps": steps_total / len(judged) if judged else 0.0,
    }
