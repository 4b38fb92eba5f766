"""The plugin's configs and entry point: capo train's keys and defaults, the paper's rule in the
paper config, verl's own config validation, refusals before anything starts, and the data writer."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import validate_config

from capo.errors import CapoError
from capo.train.config import default_config_text, from_dict
from capo.verl.settings import CapoSettings
from capo.verl.trainer import check_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "verl"
PAPER_RULE = {"separators": "outside", "process_groups": "all", "penalty": "token", "unjudgeable": "ignore"}


def verl_config(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose(config_name=name, overrides=list(overrides))


def test_entry_point_defaults_are_capo_trains_defaults():
    listed = yaml.safe_load((ROOT / "src/capo/verl/config/capo_ppo.yaml").read_text())["capo"]
    default = from_dict(yaml.safe_load(default_config_text()))  # capo train with no arguments
    expected = {**dataclasses.asdict(default.capo), "judge": dataclasses.asdict(default.judge)}
    assert set(dataclasses.asdict(default.capo)) <= set(listed)  # every capo key is shown
    assert {k: v for k, v in listed.items() if k != "judge"} == {k: expected[k] for k in listed if k != "judge"}
    assert listed["judge"] == {k: expected["judge"][k] for k in listed["judge"]}
    # and with nothing set, the plugin reads the same values
    assert CapoSettings.from_section(None) == CapoSettings(default.capo, default.judge)


def test_paper_config_is_the_papers_setting():
    cfg = verl_config("paper-qwen2.5-1.5b")
    s = CapoSettings.from_section(cfg.capo)
    assert {k: getattr(s.capo, k) for k in PAPER_RULE} == PAPER_RULE
    assert (s.capo.C, s.capo.P, s.capo.num_critiques, s.capo.vote) == (2.0, 1.0, 4, "intersection")
    assert s.judge.spec == "openai:Qwen/Qwen2.5-72B-Instruct"
    assert cfg.actor_rollout_ref.model.path == "Qwen/Qwen2.5-1.5B" and cfg.actor_rollout_ref.rollout.n == 16
    assert cfg.algorithm.adv_estimator == "capo" and cfg.reward.reward_manager.name == "capo"


@pytest.mark.parametrize("name", ["small", "paper-qwen2.5-1.5b"])
@pytest.mark.parametrize("estimator", ["capo", "grpo"])
def test_configs_pass_the_plugins_and_verls_checks(name, estimator):
    cfg = verl_config(name, f"algorithm.adv_estimator={estimator}")
    check_config(cfg)
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


@pytest.mark.parametrize("override, message", [
    ("reward.reward_model.enable=true", "reward.reward_model.enable=false"),
    ("trainer.use_v1=false", "trainer.use_v1=true"),
    ("reward.reward_manager.name=naive", "reward.reward_manager.name=capo"),
    ("reward.custom_reward_function.path=/x.py", "custom_reward_function"),
    ("actor_rollout_ref.rollout.multi_turn.enable=true", "single-turn"),
    ("capo.P=3.0", "P <= C"),
    ("capo.separators=between", "capo.separators"),
    ("capo.judge.spec=''", "capo.judge.spec"),
])
def test_check_config_refuses_what_capo_cannot_do(override, message):
    with pytest.raises(CapoError, match=message.replace(".", r"\.").replace("+", r"\+")):
        check_config(verl_config("small", override))


def test_unknown_capo_key_is_named():
    cfg = verl_config("small")
    with open_dict(cfg):
        cfg.capo.judge.base_ulr = "http://x"
    with pytest.raises(CapoError, match="'capo.judge.base_ulr'.*did you mean 'capo.judge.base_url'"):
        check_config(cfg)


def test_entry_point_stops_on_a_bad_setting_before_ray_starts():
    proc = subprocess.run([sys.executable, "-m", "capo.verl.main_ppo", "--config-path", str(CONFIGS),
                           "--config-name", "small", "capo.P=5.0"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HYDRA_FULL_ERROR": "1"},
                          check=False)
    assert proc.returncode != 0
    assert "capo: config keys 'capo.C', 'capo.P'" in proc.stderr and "ray" not in proc.stdout.lower()


def test_data_writer_gives_rows_verls_dataset_reads(tmp_path, tokenizer):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from capo.verl.data import main

    assert main([str(tmp_path), "--train-size", "6", "--eval-size", "2"]) == 0
    cfg = verl_config("small")
    data = RLHFDataset(str(tmp_path / "train.parquet"), tokenizer, cfg.data)
    row = data[0]
    assert len(data) == 6 and row["reward_model"]["ground_truth"]
    assert row["extra_info"]["problem"] in row["raw_prompt"][-1]["content"]
    assert OmegaConf.select(cfg, "data.return_raw_chat") is True
