"""Token rewards and advantages, vectorized over a batch (torch, no I/O).

Shapes: B responses, T response-token positions (right-padded), `mask` (B, T) is 1 on real
response tokens. `group` (B,) holds the prompt-group id of each response (GRPO's G samples of
one prompt share an id; ids need not be contiguous).

CAPO token reward:    R[i, t] = C * r_v[i] - P * w[i, step(t)]          (P applied once; "token")
  or, step-count invariant ("response"):
                      R[i, t] = C * r_v[i] - P * f[i] - P * (w[i, t] - mean_t w[i, t])
                      with f[i] = max_t w[i, t]: the response's mean reward is C*r_v - P*f, so
                      adding or removing unflagged steps (padding, bare answers) cannot change
                      it, while flagged tokens still sit P below the response's unflagged ones
CAPO advantage:       A[i, t] = (R[i, t] - mean_g) / (std_g + eps), mean/std over ALL masked
                      tokens of all responses of the group (population std)
                      scale="batch": divided by the std of all masked token rewards of the batch
                      instead (TRL's scale_rewards="batch", token-level); scale="none": centered only
GRPO advantage:       A[i]    = (r[i] - mean_g) / (std_g + eps), over the group's responses
                      (unbiased std, as TRL), broadcast to every token
A group whose std is 0 (all rewards equal) gets advantage 0, never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def step_weights_to_tokens(token_step_ids: torch.Tensor, step_weights: Sequence[Sequence[float]]) -> torch.Tensor:
    """(B, T) weight per token: w of the token's step, 0 outside any step (id -1) or on padding."""
    width = max([len(w) for w in step_weights] + [1])
    # one row per response, padded; the last column is "outside" -> weight 0
    table = torch.tensor([list(w) + [0.0] * (width + 1 - len(w)) for w in step_weights], dtype=torch.float32,
                         device=token_step_ids.device)
    index = torch.where(token_step_ids < 0, torch.full_like(token_step_ids, width), token_step_ids)
    return torch.gather(table, 1, index.clamp(max=width).long())


def token_rewards(outcome: torch.Tensor, token_weights: torch.Tensor, mask: torch.Tensor,
                  C: float = 2.0, P: float = 1.0) -> torch.Tensor:
    """R = C * r_v - P * w on masked tokens, 0 on padding."""
    rewards = C * outcome.float().unsqueeze(1) - P * token_weights.float()
    return rewards * mask.float()


def response_invariant_rewards(outcome: torch.Tensor, token_weights: torch.Tensor, mask: torch.Tensor,
                               C: float = 2.0, P: float = 1.0) -> torch.Tensor:
    """R = C*r_v - P*f - P*(w - mean w), f = max w, over each response's masked tokens; 0 on padding.

    (B,) outcome, (B, T) token_weights and mask -> (B, T). The response mean is C*r_v - P*f
    whatever its length or number of steps."""
    m = mask.float()
    w = token_weights.float() * m
    length = m.sum(1).clamp(min=1)
    mean_w = w.sum(1) / length
    flagged = w.max(1).values
    rewards = (C * outcome.float() - P * flagged).unsqueeze(1) - P * (w - mean_w.unsqueeze(1))
    return rewards * m


PENALTY_SHAPES = ("token", "response")


def group_index(group: torch.Tensor | Sequence, device: torch.device | str | None = None) -> tuple[torch.Tensor, int]:
    """Dense 0..n-1 index per response from any group ids (ints, strings, uuids), on `device`
    (default: the ids' own device for a tensor, else the CPU)."""
    if isinstance(group, torch.Tensor):
        _, inverse = torch.unique(group, return_inverse=True)
        inverse = inverse if device is None else inverse.to(device)
        return inverse, int(inverse.max().item()) + 1 if inverse.numel() else 0
    dense: dict = {}
    inverse = torch.tensor([dense.setdefault(g, len(dense)) for g in group], dtype=torch.long, device=device)
    return inverse, len(dense)


SCALES = ("group", "batch", "none")  # TRL's scale_rewards values


def token_group_advantages(rewards: torch.Tensor, mask: torch.Tensor, group, eps: float = 1e-6,
                           scale: str = "group") -> torch.Tensor:
    """CAPO: center token rewards on the mean over all masked tokens of each prompt group, then divide
    by the std of those tokens ("group"), of all masked tokens of the batch ("batch"), or not ("none")."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    inverse, n = group_index(group, mask.device)
    m = mask.float()
    r = rewards.float() * m
    count = torch.zeros(n, device=m.device).index_add_(0, inverse, m.sum(1))
    total = torch.zeros(n, device=m.device).index_add_(0, inverse, r.sum(1))
    mean = total / count.clamp(min=1)
    centered = (rewards.float() - mean[inverse].unsqueeze(1)) * m
    if scale == "none":
        return centered
    if scale == "batch":
        # as TRL's batch scaling: the spread of the rewards themselves over the batch, not of the
        # group-centered values (population std over tokens, like the group statistic)
        batch_mean = r.sum() / m.sum().clamp(min=1)
        std = ((((rewards.float() - batch_mean) * m) ** 2).sum() / m.sum().clamp(min=1)).sqrt().expand(n)
    else:
        var = torch.zeros(n, device=m.device).index_add_(0, inverse, (centered**2).sum(1)) / count.clamp(min=1)
        std = var.sqrt()
    adv = centered / (std[inverse].unsqueeze(1) + eps)
    return torch.where(std[inverse].unsqueeze(1) > 0, adv, torch.zeros_like(adv)) * m


def sequence_group_advantages(rewards: torch.Tensor, group, eps: float = 1e-4, scale: bool = True) -> torch.Tensor:
    """GRPO: (B,) sequence rewards normalized within each group (unbiased std, as TRL)."""
    inverse, n = group_index(group, rewards.device)
    r = rewards.float()
    count = torch.zeros(n, device=r.device).index_add_(0, inverse, torch.ones_like(r))
    mean = torch.zeros(n, device=r.device).index_add_(0, inverse, r) / count
    centered = r - mean[inverse]
    var = torch.zeros(n, device=r.device).index_add_(0, inverse, centered**2) / (count - 1).clamp(min=1)
    std = var.sqrt()
    if not scale:
        return centered
    adv = centered / (std[inverse] + eps)
    return torch.where(std[inverse] > 0, adv, torch.zeros_like(adv))


AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")  # TRL's multi_objective_aggregation values


def aggregate_rewards(per_func: torch.Tensor, weights: torch.Tensor, group,
                      aggregation: str = "sum_then_normalize", eps: float = 1e-4) -> torch.Tensor:
    """(B, K) outputs of K reward functions (NaN: the function did not score that row) -> (B,) one
    reward, combined as TRL's multi_objective_aggregation does before its advantages:
    "sum_then_normalize": the weighted sum; "normalize_then_sum": each function first normalized
    within its group (unbiased std, as TRL; a group with fewer than 2 scores adds 0), then the
    weighted sum. NaN scores count 0; a row no function scored stays NaN."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose from {', '.join(AGGREGATIONS)}")
    r = per_func.float()
    scored = ~torch.isnan(r)
    if aggregation == "normalize_then_sum":
        inverse, n = group_index(group, r.device)
        x = torch.nan_to_num(r)
        zeros = torch.zeros(n, r.shape[1], device=r.device)
        count = zeros.clone().index_add_(0, inverse, scored.float())
        mean = zeros.clone().index_add_(0, inverse, x) / count.clamp(min=1)
        dev = (x - mean[inverse]) * scored
        std = (zeros.clone().index_add_(0, inverse, dev**2) / (count - 1).clamp(min=1)).sqrt()
        r = torch.where(scored & (count[inverse] > 1), dev / (std[inverse] + eps), torch.nan)
    total = (r * weights.float().to(r.device)).nansum(1)
    return torch.where(scored.any(1), total, torch.nan)


def capo_advantages(outcome: torch.Tensor, token_weights: torch.Tensor, mask: torch.Tensor, group,
                    C: float = 2.0, P: float = 1.0, eps: float = 1e-6,
                    penalty: str = "token", scale: str = "group") -> tuple[torch.Tensor, torch.Tensor]:
    """Token rewards ("token": the paper's; "response": step-count invariant) and their
    token-group advantages (scale: see token_group_advantages), both (B, T)."""
    if penalty not in PENALTY_SHAPES:
        raise ValueError(f"unknown penalty shape {penalty!r}; choose from {', '.join(PENALTY_SHAPES)}")
    shape = token_rewards if penalty == "token" else response_invariant_rewards
    rewards = shape(outcome, token_weights, mask, C, P)
    return rewards, token_group_advantages(rewards, mask, group, eps, scale)
