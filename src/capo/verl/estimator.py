"""Advantage estimator "capo" for verl's registry (verl.trainer.ppo.core_algos.register_adv_est).

Why not verl's grpo: it sums token_level_rewards over the response, so dense CAPO rewards would
turn into a sequence reward that grows with length. CAPO normalizes per token instead.
"""

from __future__ import annotations

import torch
from verl.trainer.ppo.core_algos import register_adv_est

from capo.credit import CreditConfig
from capo.rewards import token_group_advantages


@register_adv_est("capo")
def compute_capo_advantage(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index,
                           config=None, **_) -> tuple[torch.Tensor, torch.Tensor]:
    """CAPO (arXiv 2508.02298): token-level group normalization, capo.rewards.token_group_advantages.

    Args:
        token_level_rewards: (bs, response_length) dense token rewards R = C*r_v - P*w
            (capo.verl.trainer writes them into rm_scores; minus verl's KL penalty when
            algorithm.use_kl_in_reward)
        response_mask: (bs, response_length) 1 on response tokens
        index: (bs,) prompt group id of each response (verl's uid)
        config: verl's algorithm config; norm_adv_by_std_in_grpo=False centers without dividing by
            the group's token std (as Dr.GRPO does for GRPO)

    A response the judge gave no verdict has R = C*r_v on all its tokens (outcome-only), already
    in its rewards; the estimator treats every response alike.

    Returns:
        advantages, returns: both (bs, response_length), equal (no value model)
    """
    norm = True if config is None else config.get("norm_adv_by_std_in_grpo", True)
    advantages = token_group_advantages(token_level_rewards, response_mask, list(index),
                                        CreditConfig().eps, "group" if norm else "none")
    return advantages, advantages
