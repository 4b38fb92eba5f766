"""Exploit guards (capo.credit): for each, a crafted group where the paper's credit gives the
exploit more advantage than an honest response, and the guard takes that away.

A response is built token by token: each token names the step it belongs to (-1: a separator
or anything outside every step). "Advantage of a response" is the mean of its token advantages,
what a token-mean loss (TRL's default) pushes each of its tokens with.
"""

from __future__ import annotations

import torch

from capo.alignment import separators_join_next_step, trailing_tokens_join_last_step
from capo.credit import AlignedResponse, CreditConfig, assign_credit, select_for_critique
from capo.rewards import response_invariant_rewards
from capo.steps import Step

FLAG_STEP_1 = frozenset({1})


def response(token_steps: list[int]) -> AlignedResponse:
    n = max(token_steps, default=-1) + 1
    return AlignedResponse("x", [Step(j, 0, 1, "x") for j in range(n)], token_steps)


def credit(responses, outcomes, critiques, checkable=None, **config):
    width = max(len(r.token_steps) for r in responses)
    mask = torch.tensor([[1.0] * len(r.token_steps) + [0.0] * (width - len(r.token_steps)) for r in responses])
    out = assign_credit(responses, outcomes, [0] * len(responses), critiques, mask,
                        CreditConfig(**config), checkable)
    return [float(out.advantages[i][mask[i] > 0].mean()) for i in range(len(responses))]


# An honest wrong response: two steps of 3 tokens, a blank-line separator, step 1 flagged.
HONEST = [0, 0, 0, -1, 1, 1, 1]


def test_separators_next_stops_blank_line_padding():
    # the exploit: the same work with many blank lines between the steps (outside every step)
    padded = [0, 0, 0, -1, -1, -1, -1, -1, -1, 1, 1, 1]
    for separators, exploit_wins in (("outside", True), ("next", False)):
        def align(steps):
            return response(separators_join_next_step(steps) if separators == "next" else steps)
        honest, exploit = credit([align(HONEST), align(padded)], [0.0, 0.0], [[FLAG_STEP_1], [FLAG_STEP_1]])
        assert (exploit > honest + 1e-6) is exploit_wins, (separators, honest, exploit)


def test_separators_next_and_last_removes_the_stop_early_push():
    # all-wrong group, process penalty on (process_groups="all"), one flagged step each (what
    # SmolLM2 wrote): a response that stops (its last token, EOS, lies after the step) and one cut
    # off at the token limit
    stops, cut_off = [0, 0, 0, -1], [0, 0, 0, 0]
    flag_step_0 = frozenset({0})
    for separators in ("next", "next_and_last"):
        def align(steps):
            steps = separators_join_next_step(steps)
            return response(trailing_tokens_join_last_step(steps) if separators == "next_and_last" else steps)
        out = assign_credit([align(stops), align(cut_off)], [0.0, 0.0], [0, 0], [[flag_step_0], [flag_step_0]],
                            torch.ones(2, 4), CreditConfig())  # separators act in the alignment above
        eos, others = float(out.advantages[0, -1]), torch.cat([out.advantages[0, :-1], out.advantages[1]])
        stopper, truncated = (float(a.mean()) for a in out.advantages)
        if separators == "next":  # the exploit: EOS earns C*r_v = 0 > -P, the group's best token
            assert eos > 0 and eos > float(others.max()) + 1e-6
            assert stopper > truncated + 1e-6
        else:  # the EOS is as wrong as the flagged step it closes
            assert torch.allclose(out.advantages, out.advantages[0, 0])
            assert abs(stopper - truncated) < 1e-6


def test_process_groups_with_correct_removes_the_say_nothing_push():
    # all-wrong group: the exploit says nothing the judge can flag (a bare answer: one clean step)
    bare = [0, 0]
    honest, exploit = credit([response(HONEST), response(bare)], [0.0, 0.0], [[FLAG_STEP_1], [frozenset()]])
    assert exploit > honest  # the paper's rule: saying nothing wins
    honest, exploit = credit([response(HONEST), response(bare)], [0.0, 0.0], [[FLAG_STEP_1], [frozenset()]],
                             process_groups="with_correct")
    assert exploit == honest == 0.0  # no signal, as GRPO
    # a group with a correct response keeps its process penalty
    correct, honest, exploit = credit([response(HONEST), response(HONEST), response(bare)], [1.0, 0.0, 0.0],
                                      [[frozenset()], [FLAG_STEP_1], [frozenset()]], process_groups="with_correct")
    assert correct > exploit > honest


def test_critique_correct_leaves_wrong_answers_unpenalized():
    aligned = [response(HONEST), response([0, 0])]
    judged, sent = select_for_critique(aligned, [0.0, 0.0], "correct")
    assert judged == sent == []
    critiques = [[FLAG_STEP_1] if i in judged else None for i in range(2)]
    honest, exploit = credit(aligned, [0.0, 0.0], critiques)
    assert exploit == honest == 0.0
    # correct responses are still critiqued, and zero-step responses are judged but not sent
    aligned = [response(HONEST), response([-1, -1])]
    assert select_for_critique(aligned, [1.0, 1.0], "correct") == ([0, 1], [0])
    assert select_for_critique(aligned, [1.0, 0.0], "incorrect") == ([1], [])


def test_penalty_response_makes_padding_with_clean_steps_useless():
    # the exploit: the flagged work plus three clean filler steps; mixed group so the scale is fixed
    padded = [0, 0, 0, -1, 1, 1, 1, -1, 2, 2, 2, -1, 3, 3, 3, -1, 4, 4, 4]
    group = [response([0, 0, 0]), response(HONEST), response(padded)]
    critiques = [[frozenset()], [FLAG_STEP_1], [FLAG_STEP_1]]
    _, honest, exploit = credit(group, [1.0, 0.0, 0.0], critiques)
    assert exploit > honest + 1e-6  # the paper's rule: filler dilutes the penalty
    _, honest, exploit = credit(group, [1.0, 0.0, 0.0], critiques, penalty="response")
    assert abs(exploit - honest) < 1e-5


def test_response_invariant_rewards_keep_the_mean_and_the_local_contrast():
    weights = torch.tensor([[0.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0] * 6, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    r = response_invariant_rewards(torch.tensor([1.0, 0.0]), weights, mask, C=2, P=1)
    assert abs(float(r[0].mean()) - 1.0) < 1e-6  # C*r_v - P: flagged response's mean
    assert abs(float(r[0, 0] - r[0, 1]) - 1.0) < 1e-6  # flagged tokens sit P below the others
    assert r[1].tolist() == [0.0] * 6  # unflagged wrong response: 0, padding 0


def test_unjudgeable_flagged_stops_empty_and_uncheckable_answers():
    # all-wrong group: honest work with one flagged step vs an empty response (zero steps) and a
    # bare answer in which the judge found nothing to check
    empty, bare = [-1, -1], [0, 0]
    group = [response(HONEST), response(empty), response(bare)]
    critiques = [[FLAG_STEP_1], [], [frozenset()]]
    checkable = [True, None, False]
    honest, empty_adv, bare_adv = credit(group, [0.0] * 3, critiques, checkable)
    assert empty_adv > honest and bare_adv > honest
    honest, empty_adv, bare_adv = credit(group, [0.0] * 3, critiques, checkable, unjudgeable="flagged")
    assert empty_adv < honest and bare_adv < honest
    # a response that was not judged (None) is never flagged by this guard
    _, not_judged = credit([response(HONEST), response(empty)], [0.0, 0.0], [[FLAG_STEP_1], None],
                           unjudgeable="flagged")
    assert not_judged > 0


def test_guard_values_are_checked():
    import pytest

    for key in ("process_groups", "penalty", "unjudgeable"):
        with pytest.raises(ValueError, match=key):
            CreditConfig(**{key: "bogus"})
