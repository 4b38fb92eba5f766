"""The plugin across verl's process model, on a local CPU Ray cluster: registration inside the actors
verl starts (its TaskRunner, its reward-loop workers), and the dense-reward hook in front of verl's
own v1 advantage step, with a real (CPU) TransferQueue."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import ray
import torch
from cases import FixedJudge, make_batch, reward_input, run_manager, trl_path_credit
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from verl.experimental.reward_loop import RewardLoopWorker
from verl.trainer.main_ppo import TaskRunnerV1

import capo.verl.plugin  # noqa: F401  (the driver registers: the workers must not depend on it)
from capo.verl.settings import CapoSettings
from capo.verl.trainer import CapoTaskRunner, DenseRewards, install

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster():
    # this machine is shared: Ray's memory monitor would kill our small actors for others' memory
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
    # the workers unpickle this folder's helpers by reference, so it goes on their path
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def config(tiny_model_dir):
    """The entry point's config (capo/verl/config/capo_trainer.yaml) for the tiny model."""
    with initialize_config_module(config_module="capo.verl.config", version_base=None):
        cfg = compose(config_name="capo_trainer", overrides=[
            f"actor_rollout_ref.model.path={tiny_model_dir}", "actor_rollout_ref.rollout.n=4",
            "capo.judge.spec=calculator"])
    OmegaConf.resolve(cfg)
    return cfg


def test_task_runner_registers_the_plugin_in_its_own_process(cluster, config):
    def registered(runner):
        from verl.trainer.ppo import core_algos

        return "capo" in core_algos.ADV_ESTIMATOR_REGISTRY, os.getpid()

    def run_without_training(runner, cfg):
        """Inside the actor: call the runner's run() with verl's training loop (TaskRunnerV1.run)
        replaced by a report of what that loop would find."""
        from verl.trainer.ppo import core_algos
        from verl.trainer.ppo.v1 import get_trainer_cls

        def what_verl_sees(self, cfg):
            return {"estimator": "capo" in core_algos.ADV_ESTIMATOR_REGISTRY,
                    "trainer": [c.__name__ for c in get_trainer_cls(cfg.trainer.v1.trainer_mode).__mro__[:3]],
                    "reward_manager": (cfg.reward.reward_manager.source, cfg.reward.reward_manager.module.path,
                                       cfg.reward.reward_manager.name)}

        # Ray ships the actor class by value, so verl's base class here is the copy in the MRO
        base = next(c for c in type(runner).__mro__ if c.__name__ == "TaskRunnerV1")
        base.run = what_verl_sees
        return runner.run(cfg)

    # control: an actor verl starts does not see what the driver (this process) registered
    plain = TaskRunnerV1.remote()
    in_plain, pid = ray.get(plain.__ray_call__.remote(registered))
    assert pid != os.getpid() and in_plain is False
    ray.kill(plain)
    ours = CapoTaskRunner.remote()
    seen = ray.get(ours.__ray_call__.remote(run_without_training, copy.deepcopy(config)))
    assert seen["estimator"] is True
    assert seen["trainer"] == ["CapoPPOTrainerSync", "DenseRewards", "PPOTrainerSync"]
    assert seen["reward_manager"] == ("importlib", "pkg://capo.verl.reward", "CapoRewardManager")
    ray.kill(ours)


def test_reward_workers_load_the_capo_manager_in_their_own_process(cluster, config, tokenizer):
    batch = make_batch(tokenizer)
    worker_cls = ray.remote(RewardLoopWorker)  # as verl's RewardLoopManager starts its workers
    # as written (reward.reward_manager.name=capo): a fresh worker process does not know the name
    before = worker_cls.remote(copy.deepcopy(config), None)
    with pytest.raises(ray.exceptions.RayActorError, match="Unknown reward manager: capo"):
        ray.get(before.compute_score.remote(reward_input(batch, 0)))
    # as the CapoTaskRunner hands it to verl: the worker imports the manager by path
    installed = copy.deepcopy(config)
    install(installed)
    worker = worker_cls.remote(installed, None)
    out = ray.get(worker.compute_score.remote(reward_input(batch, 1)))
    info = out["reward_extra_info"]
    assert out["reward_score"] == 0.0 and info["capo_judged"] == 1.0 and info["capo_flagged_steps"] >= 1
    assert '"critiques":[[0],[0],[0],[0]]' in info["capo_record"]  # the calculator flags "3 * 4 = 13"
    ray.kill(worker)


@pytest.fixture(scope="module")
def transfer_queue(cluster):
    import transfer_queue as tq

    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield tq
    tq.close()


def put_trajectories(tq, batch, outputs, partition_id):
    """Store the responses as verl's agent loop stores them (AgentLoopWorkerTQ._agent_loop_postprocess):
    one key per trajectory, rm_scores holding the scalar reward on the last token."""
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    keys, fields, tags = [], [], []
    for i, out in enumerate(outputs):
        n = len(batch.ids[i])
        rm_scores = torch.zeros(n)
        rm_scores[-1] = out["reward_score"]
        keys.append(f"{batch.uids[i]}_{i % 4}_0")
        fields.append({"prompts": torch.tensor(batch.prompt_ids[i]), "responses": torch.tensor(batch.ids[i]),
                       "response_mask": torch.ones(n, dtype=torch.int64), "rm_scores": rm_scores,
                       "uid": batch.uids[i], "extra_fields": {"reward_extra_info": out["reward_extra_info"]}})
        tags.append({"status": "success"})
    tq.kv_batch_put(keys=keys, partition_id=partition_id, fields=list_of_dict_to_tensordict(fields), tags=tags)
    return keys


def test_dense_rewards_reach_verls_advantage_step(transfer_queue, config, tokenizer):
    """verl's own PPOTrainer._compute_advantage (TransferQueue in and out, estimator from its
    registry) behind the hook, with one of verl's synthetic padding rows: the advantages it writes
    are the TRL path's, and so are the rm_scores it read."""
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.padding_utils import upsample_batch_to_divisible_size
    from verl.trainer.ppo.v1 import PPOTrainerSync

    tq = transfer_queue
    batch = make_batch(tokenizer)
    judge = FixedJudge(seed=5)
    settings = CapoSettings.from_section(config.capo)
    manager = install_manager(config, tokenizer, judge)
    outputs = run_manager(manager, batch)
    keys = put_trajectories(tq, batch, outputs, "train")
    meta = KVBatchMeta(partition_id="train", keys=keys, tags=[{"status": "success"} for _ in keys])
    meta = upsample_batch_to_divisible_size(meta, batch_multiple=len(keys) + 1, eos_token_id=tokenizer.eos_token_id)
    assert len(meta.keys) == len(keys) + 1 and meta.tags[-1]["is_padding"]

    trainer_cls = type("CapoPPOTrainerSync", (DenseRewards, PPOTrainerSync), {})
    trainer = trainer_cls.__new__(trainer_cls)  # only the advantage step: no workers, no models
    trainer.config = config
    metrics: dict = {}
    trainer._compute_advantage(meta, metrics)

    expected = trl_path_credit(tokenizer, batch, judge, settings.credit_config(), separators=settings.capo.separators)
    got = tq.kv_batch_get(keys=meta.keys, partition_id="train", select_fields=["rm_scores", "advantages"])
    rewards = got["rm_scores"].to_padded_tensor(0.0)
    advantages = got["advantages"].to_padded_tensor(0.0)
    t = expected.rewards.shape[1]
    assert torch.equal(rewards[:-1, :t], expected.rewards)
    assert torch.equal(advantages[:-1, :t], expected.advantages)
    assert not advantages[-1].any() and not rewards[-1].any()  # the padding row stays inert
    assert metrics["capo/judge/flagged_step_rate"] == expected.stats["flagged_step_rate"]
    assert metrics["capo/judge/judged"] == 12.0 and metrics["capo/accuracy"] == sum(
        o["reward_score"] for o in outputs) / 12


def install_manager(config, tokenizer, judge):
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    manager = get_reward_manager_cls("capo")(config=config, tokenizer=tokenizer, compute_score=None)
    manager.judge = judge
    return manager
