"""The plugin against verl's real classes, in one process: its reward manager (looked up in verl's
registry, fed verl DataProto rows), verl's estimator registry and compute_advantage. The dense
rewards and advantages must equal capo's TRL path exactly (cases.trl_path_credit)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch
from cases import FixedJudge, make_batch, mask_of, reward_input, run_manager, trl_path_credit
from omegaconf import OmegaConf
from verl import DataProto
from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.ray_trainer import compute_advantage

import capo.verl.plugin  # noqa: F401  (registers "capo" in verl's registries)
from capo.judges.base import make_judge
from capo.verl.records import decode_record, dense_credit
from capo.verl.settings import CapoSettings

PAPER = {"separators": "outside", "process_groups": "all", "penalty": "token", "unjudgeable": "ignore"}
DEFAULT = {"separators": "next_and_last", "process_groups": "all", "penalty": "token", "unjudgeable": "flagged"}


def manager_for(tokenizer, capo: dict, estimator: str = "capo", judge=None):
    config = OmegaConf.create({"algorithm": {"adv_estimator": estimator}, "capo": capo})
    manager = get_reward_manager_cls("capo")(config=config, tokenizer=tokenizer, compute_score=None)
    if judge is not None:
        manager.judge = judge
    return manager


def plugin_credit(tokenizer, batch, capo: dict, judge):
    """The plugin's path: run_single per response -> records -> dense rewards -> verl's
    compute_advantage with the estimator looked up in verl's registry."""
    settings = CapoSettings.from_section(capo)
    outputs = run_manager(manager_for(tokenizer, capo, judge=judge), batch)
    records = [decode_record(o["reward_extra_info"]["capo_record"]) for o in outputs]
    mask = mask_of(batch.ids)
    credit = dense_credit(records, batch.uids, mask, settings.credit_config())
    data = DataProto.from_dict(tensors={"token_level_rewards": credit.rewards, "response_mask": mask},
                               non_tensors={"uid": np.array(batch.uids, dtype=object)})
    data = compute_advantage(data, adv_estimator="capo", config=OmegaConf.create({"norm_adv_by_std_in_grpo": True}))
    return outputs, credit.rewards, data.batch["advantages"]


@pytest.mark.parametrize("rule", [PAPER, DEFAULT], ids=["paper-rule", "capo-train-default"])
@pytest.mark.parametrize("judge_kind", ["fixed", "calculator"])
def test_dense_rewards_and_advantages_equal_the_trl_path(tokenizer, rule, judge_kind):
    batch = make_batch(tokenizer)
    capo = {"C": 2.0, "P": 1.0, "num_critiques": 4, "judge": {"spec": "calculator"}, **rule}
    judge = FixedJudge(seed=3) if judge_kind == "fixed" else make_judge("calculator")
    expected = trl_path_credit(tokenizer, batch, judge, CapoSettings.from_section(capo).credit_config(),
                               separators=rule["separators"])
    outputs, rewards, advantages = plugin_credit(tokenizer, batch, capo, judge)
    assert torch.equal(rewards, expected.rewards)
    assert torch.equal(advantages, expected.advantages)
    # not vacuous: flagged tokens, several reward levels, both signs of advantage
    assert (expected.rewards < 2.0 * mask_of(batch.ids)).any() and len(torch.unique(expected.rewards)) >= 3
    assert (advantages > 0).any() and (advantages < 0).any()
    assert [o["reward_score"] for o in outputs] == [o["reward_extra_info"]["acc"] for o in outputs]


def test_tokens_are_aligned_from_the_generated_ids_and_a_mismatch_raises(tokenizer):
    from capo.credit import align_batch
    from capo.verl.records import encode_record

    batch = make_batch(tokenizer)
    reencoded = [tokenizer.encode(t, add_special_tokens=False) + [tokenizer.eos_token_id] for t in batch.texts]
    assert sum(a != b for a, b in zip(reencoded, batch.ids)) >= 10  # the test ids are not the text's encoding
    outputs = run_manager(manager_for(tokenizer, {}, judge=FixedJudge()), batch)
    records = [decode_record(o["reward_extra_info"]["capo_record"]) for o in outputs]
    assert [len(r.aligned.token_steps) for r in records] == [len(x) for x in batch.ids]
    # a token map computed on re-encoded text does not fit the generated ids: refused, never ignored
    wrong = align_batch(tokenizer, reencoded[:1], "paragraph", "next")[0]
    records[0] = decode_record(encode_record(wrong, 1.0, [frozenset({0})], None))
    with pytest.raises(ValueError, match="response 0"):
        dense_credit(records, batch.uids, mask_of(batch.ids), CapoSettings.from_section({}).credit_config())


def test_judge_sees_the_problem_and_the_response_steps_never_the_data_source(tokenizer):
    batch = make_batch(tokenizer)
    judge = FixedJudge()
    run_manager(manager_for(tokenizer, {"judge": {"spec": "calculator"}}, judge=judge), batch)
    assert judge.requests and {r.problem for r in judge.requests} == set(batch.problems)
    assert all(r.reference in batch.references for r in judge.requests)
    judge.requests.clear()
    data = reward_input(batch, 0, extra_info={"question": "the question column"})
    asyncio.run(manager_for(tokenizer, {}, judge=judge).run_single(data))
    assert [r.problem for r in judge.requests] == ["the question column"]
    assert judge.requests[0].steps == ("Tom has 3 * 4 = 12 apples.", "With the 2 he finds, 12 + 2 = 14.", "\\boxed{14}")


class CrashingJudge(FixedJudge):
    def critique(self, requests, n):
        raise ConnectionError("judge host unreachable")


@pytest.mark.parametrize("down", ["refused", "crash"])
def test_judge_down_gives_outcome_only_rewards_counted_and_nothing_raises(tokenizer, down):
    batch = make_batch(tokenizer)
    capo = {"num_critiques": 2, "process_groups": "all", "unjudgeable": "ignore",
            "judge": {"spec": "openai:judge", "base_url": "http://127.0.0.1:9/v1", "timeout": 2.0, "retries": 0}}
    manager = manager_for(tokenizer, capo, judge=CrashingJudge() if down == "crash" else None)
    outputs = run_manager(manager, batch)
    infos = [o["reward_extra_info"] for o in outputs]
    sent = [i for i, info in enumerate(infos) if info["capo_steps"] > 0]
    assert sent and all(infos[i]["capo_judge_failures"] == 2 and infos[i]["capo_no_verdict"] == 1 for i in sent)
    records = [decode_record(info["capo_record"]) for info in infos]
    mask = mask_of(batch.ids)
    credit = dense_credit(records, batch.uids, mask, CapoSettings.from_section(capo).credit_config())
    outcome = torch.tensor([info["acc"] for info in infos])
    assert torch.equal(credit.rewards, 2.0 * outcome.unsqueeze(1) * mask)  # C * r_v on every token, no penalty
    assert credit.stats["flagged_step_rate"] == 0.0


def test_baseline_estimator_calls_no_judge_and_rewards_r_v(tokenizer):
    batch = make_batch(tokenizer)
    judge = FixedJudge()
    manager = manager_for(tokenizer, {}, estimator="grpo")
    assert manager.judge is None
    outputs = run_manager(manager, batch)
    assert not judge.requests
    assert all(o["reward_extra_info"]["capo_judged"] == 0.0 for o in outputs)
    assert sorted({o["reward_score"] for o in outputs}) == [0.0, 1.0]


def test_estimator_is_token_group_normalization_over_uid():
    from capo.rewards import token_group_advantages

    fn = core_algos.get_adv_estimator_fn("capo")
    rewards = torch.tensor([[2.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]).float()
    index = np.array(["a", "a", "b", "b"], dtype=object)
    adv, returns = fn(token_level_rewards=rewards, response_mask=mask, index=index,
                      config=OmegaConf.create({"norm_adv_by_std_in_grpo": True}))
    assert torch.equal(adv, token_group_advantages(rewards, mask, ["a", "a", "b", "b"], 1e-6))
    assert torch.equal(adv, returns)
    centered, _ = fn(token_level_rewards=rewards, response_mask=mask, index=index,
                     config=OmegaConf.create({"norm_adv_by_std_in_grpo": False}))
    assert torch.equal(centered, token_group_advantages(rewards, mask, ["a", "a", "b", "b"], 1e-6, "none"))
    # per token, not per sequence: verl's grpo would give every token of a response one value
    assert len(torch.unique(adv[0, :3])) > 1
