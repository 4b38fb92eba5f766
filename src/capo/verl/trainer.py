"""The hook that carries CAPO's dense token rewards into verl's token_level_rewards, and the
TaskRunner that installs it (and the plugin) in the process where verl computes advantages.

Why a hook: verl 0.9's v1 trainer takes token_level_scores from each response's rm_scores. In the
streaming reward path (rule-based rewards, the default) the agent loop builds rm_scores from one
float per response, placed on its last token (AgentLoopOutput.reward_score). verl's one dense
hook, RewardManagerBase.assemble_rm_scores, serves only the colocated reward-model path
(RewardLoopManager.compute_rm_score), whose inputs carry neither the ground truth nor the prompt
uid. So, before the trainer computes advantages, this hook reads the batch's CAPO records (kept
per response in TransferQueue, inside reward_extra_info), computes the (B, T) rewards with
capo.credit.assign_credit (capo.verl.records.dense_credit) and writes them over rm_scores. The
trainer then proceeds unchanged: rm_scores -> token_level_scores -> (KL) -> token_level_rewards
-> advantage estimator "capo".
"""

from __future__ import annotations

import warnings

import ray
import torch
import verl
from omegaconf import open_dict
from verl.trainer.main_ppo import TaskRunnerV1

from capo.errors import CapoError
from capo.verl.records import decode_record, dense_credit, empty_record
from capo.verl.settings import CapoSettings

REWARD_MANAGER = "pkg://capo.verl.reward", "CapoRewardManager"
VERL_TESTED = ("0.9.1",)  # the hook relies on the v1 trainer's internals: pyproject's `verl` extra pins these


def is_capo_manager(reward_manager) -> bool:
    if reward_manager.source == "register":
        return reward_manager.name == "capo"
    return reward_manager.source == "importlib" and reward_manager.name == REWARD_MANAGER[1]


def check_config(config) -> CapoSettings:
    """Refuse, before anything starts, the settings under which CAPO would not do what it says."""
    if verl.__version__ not in VERL_TESTED:
        warnings.warn(f"capo.verl is tested with verl {', '.join(VERL_TESTED)}; found {verl.__version__}", stacklevel=2)
    settings = CapoSettings.from_section(config.get("capo"))
    if config.algorithm.adv_estimator != "capo":
        return settings  # a baseline: the capo reward manager then gives r_v only
    reward = config.reward
    if not is_capo_manager(reward.reward_manager):
        raise CapoError("algorithm.adv_estimator=capo needs reward.reward_manager.name=capo (the CAPO records "
                        f"come from it); got {reward.reward_manager.name!r}")
    if not config.trainer.get("use_v1", False):
        raise CapoError("CAPO on verl needs verl's v1 trainer (trainer.use_v1=true): its dense-reward hook is there")
    if reward.reward_model.enable:
        raise CapoError("CAPO's judge runs outside verl's reward model (capo.judge.base_url); set "
                        "reward.reward_model.enable=false (verl's colocated reward path carries no ground truth)")
    if reward.get("custom_reward_function", {}).get("path"):
        raise CapoError("the capo reward manager scores r_v with capo's verifier; remove "
                        "reward.custom_reward_function.path")
    if config.actor_rollout_ref.rollout.get("multi_turn", {}).get("enable", False):
        raise CapoError("CAPO critiques single-turn responses; set actor_rollout_ref.rollout.multi_turn.enable=false")
    return settings


def write_dense_rewards(batch, credit_config, metrics: dict) -> None:
    """Replace the rm_scores of `batch` (a TransferQueue KVBatchMeta) by CAPO's dense token rewards,
    and add the batch's CAPO telemetry to `metrics`."""
    import transfer_queue as tq
    from verl.utils import tensordict_utils as tu

    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                           select_fields=["uid", "response_mask", "extra_fields"])
    mask = data["response_mask"].to_padded_tensor(0)  # (B, T)
    lengths = data["response_mask"].offsets().diff().tolist()
    infos, records = [], []
    for key, tag, extra in zip(batch.keys, batch.tags, list(data["extra_fields"]), strict=True):
        extra = getattr(extra, "data", extra)  # a NonTensorData wrapper on some TransferQueue backends
        info = (extra or {}).get("reward_extra_info") or {}
        if tag.get("is_padding"):  # verl's synthetic padding rows (mask 0) copy another row's extra fields
            records.append(empty_record(0))
            continue
        if "capo_record" not in info:
            raise CapoError(f"response {key} has no CAPO record: reward.reward_manager must be capo")
        infos.append(info)
        records.append(decode_record(info["capo_record"]))
    try:
        credit = dense_credit(records, list(data["uid"]), mask, credit_config)
    except ValueError as err:
        raise CapoError(f"{err} (CAPO scores single-turn responses: one output per trajectory)") from None
    rewards = torch.nested.as_nested_tensor([credit.rewards[i, :n] for i, n in enumerate(lengths)],
                                            layout=torch.jagged)
    tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=tu.get_tensordict({"rm_scores": rewards}))
    metrics.update(capo_metrics(credit.stats, infos))


def capo_metrics(stats: dict, infos: list[dict]) -> dict[str, float]:
    """The metrics `capo train` logs, under capo/: from the batch credit and per-response telemetry."""
    judged = [i for i in infos if i["capo_judged"]]
    return {
        "capo/accuracy": sum(i["acc"] for i in infos) / max(1, len(infos)),
        "capo/token_reward": stats["mean_token_reward"],
        "capo/judge/flagged_step_rate": stats["flagged_step_rate"],
        "capo/judge/vote_agreement": stats["vote_agreement"],
        "capo/judge/parse_failures": sum(i["capo_parse_failures"] for i in infos),
        "capo/judge/failures": sum(i["capo_judge_failures"] for i in infos),
        "capo/judge/seconds": max((i["capo_judge_seconds"] for i in judged), default=0.0),
        "capo/judge/seconds_mean": sum(i["capo_judge_seconds"] for i in judged) / max(1, len(judged)),
        "capo/judge/correct_with_flagged_steps": stats["correct_with_flagged_steps"],
        "capo/judge/judged": stats["judged_responses"],
        "capo/judge/no_verdict": stats["no_verdict_responses"],
        "capo/judge/mean_steps": stats["mean_steps"],
    }


class DenseRewards:
    """Mixed into verl's v1 trainer class: CAPO's dense rewards go into rm_scores right before the
    advantage step (only with algorithm.adv_estimator=capo)."""

    def _compute_advantage(self, batch, metrics):
        if self.config.algorithm.adv_estimator == "capo":
            if not hasattr(self, "_capo_credit"):
                self._capo_credit = CapoSettings.from_section(self.config.get("capo")).credit_config()
            write_dense_rewards(batch, self._capo_credit, metrics)
        return super()._compute_advantage(batch, metrics)


def install(config) -> None:
    """In this process: register the plugin, make verl's trainer registry hand out trainers with the
    dense-reward hook, and have reward workers load the capo manager by import path (they are
    separate processes: a name registered here would be unknown there)."""
    from verl.trainer.ppo.v1 import trainer_base

    import capo.verl.plugin  # noqa: F401  (registers "capo" in verl's estimator and reward-manager registries)

    check_config(config)
    if config.algorithm.adv_estimator == "capo":
        mode = config.trainer.v1.trainer_mode
        base = trainer_base.get_trainer_cls(mode)
        if not issubclass(base, DenseRewards):
            hooked = type(f"Capo{base.__name__}", (DenseRewards, base), {"__module__": __name__})
            trainer_base.TRAINER_REGISTRY[mode] = hooked
    manager = config.reward.reward_manager
    if manager.source == "register" and manager.name == "capo":
        with open_dict(manager):
            manager.source = "importlib"
            manager.module.path, manager.name = REWARD_MANAGER


@ray.remote
class CapoTaskRunner(TaskRunnerV1.__ray_actor_class__):
    """verl's v1 TaskRunner (a Ray actor: trainer, advantages) with the plugin installed first."""

    def run(self, config):
        install(config)
        return super().run(config)
