import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from capo.credit import AlignedResponse, CreditConfig, assign_credit
from capo.estimators import ESTIMATORS
from capo.rewards import (sequence_group_advantages, step_weights_to_tokens,
                          token_group_advantages, token_rewards)
from capo.steps import Step


def test_reward_ordering_for_default_C_and_P():
    outcome = torch.tensor([1.0, 1.0, 0.0, 0.0])
    weights = torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    r = token_rewards(outcome, weights, torch.ones(4, 1), C=2, P=1).squeeze(1).tolist()
    assert r == [2.0, 1.0, 0.0, -1.0]  # C > C-P > 0 > -P
    assert r[0] > r[1] > r[2] > r[3]


def test_penalty_applied_once_and_padding_zero():
    r = token_rewards(torch.tensor([1.0]), torch.tensor([[1.0, 0.5, 0.0]]), torch.tensor([[1, 1, 0]]), C=2, P=1)
    assert r.tolist() == [[1.0, 1.5, 0.0]]


def test_step_weights_to_tokens_outside_is_zero():
    ids = torch.tensor([[0, -1, 1, 1], [-1, -1, -1, -1]])
    assert step_weights_to_tokens(ids, [[0.25, 1.0], []]).tolist() == [[0.25, 0, 1, 1], [0, 0, 0, 0]]


def reference_token_advantages(rewards, mask, group, eps):
    out = torch.zeros_like(rewards)
    for g in set(group):
        rows = [i for i, x in enumerate(group) if x == g]
        vals = [rewards[i, t].item() for i in rows for t in range(rewards.shape[1]) if mask[i, t]]
        if not vals:
            continue
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
        for i in rows:
            for t in range(rewards.shape[1]):
                if mask[i, t] and std > 0:
                    out[i, t] = (rewards[i, t] - mean) / (std + eps)
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 7), st.data())
def test_token_group_advantages_match_reference(b, t, data):
    rewards = torch.tensor(data.draw(st.lists(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]), min_size=t,
                                                                  max_size=t), min_size=b, max_size=b)))
    mask = torch.tensor(data.draw(st.lists(st.lists(st.integers(0, 1), min_size=t, max_size=t), min_size=b, max_size=b)))
    group = data.draw(st.lists(st.integers(0, 2), min_size=b, max_size=b))
    got = token_group_advantages(rewards * mask, mask, group, eps=1e-6)
    assert torch.isfinite(got).all()
    assert torch.allclose(got, reference_token_advantages(rewards * mask, mask, group, 1e-6), atol=1e-4)
    assert (got[mask == 0] == 0).all()


def test_token_group_normalization_mean_zero_std_one_and_constant_groups():
    rewards = torch.tensor([[2.0, 2.0, 1.0], [0.0, -1.0, 0.0], [5.0, 5.0, 5.0], [5.0, 5.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 0]])
    adv = token_group_advantages(rewards * mask, mask, ["a", "a", "b", "b"])
    sel = adv[:2][mask[:2] == 1]
    assert abs(sel.mean()) < 1e-5 and abs(sel.std(unbiased=False) - 1) < 1e-4
    assert (adv[2:] == 0).all()  # std 0 group -> 0, not NaN


def test_grpo_sequence_advantages():
    adv = sequence_group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 3.0]), [0, 0, 0, 0, 1, 1, 2])
    expected = (torch.tensor([1.0, 0, 0, 0]) - 0.25) / (torch.tensor([1.0, 0, 0, 0]).std() + 1e-4)
    assert torch.allclose(adv[:4], expected)
    assert adv[4:].tolist() == [0.0, 0.0, 0.0]  # constant group and single-member group: 0, no NaN
    assert set(ESTIMATORS) >= {"capo", "grpo", "genorm"}


def test_assign_credit_end_to_end_and_stats():
    def resp(n_steps, per_step):
        steps = [Step(j, 0, 1, "x") for j in range(n_steps)]
        return AlignedResponse("x", steps, [j for j in range(n_steps) for _ in range(per_step)] + [-1])
    aligned = [resp(2, 2), resp(2, 2), resp(3, 1)]
    mask = torch.ones(3, 5)
    mask[2, 4] = 0
    critiques = [[frozenset({1}), frozenset({1})], [frozenset(), None], None]
    out = assign_credit(aligned, [1.0, 0.0, 1.0], [0, 0, 1], critiques, mask, CreditConfig(vote="intersection"))
    assert out.rewards[0].tolist() == [2, 2, 1, 1, 2]  # step 1 flagged by both: C - P
    assert out.rewards[1].tolist() == [0, 0, 0, 0, 0]
    assert out.rewards[2].tolist() == [2, 2, 2, 2, 0]  # not judged: outcome only; padding 0
    assert out.stats["flagged_step_rate"] == 0.25 and out.stats["unparsable_critiques"] == 1
    assert out.stats["correct_with_flagged_steps"] == 1.0 and out.stats["judged_responses"] == 2
    assert (out.advantages[2] == 0).all()  # a one-response group with equal rewards
