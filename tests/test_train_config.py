"""The `capo train` configuration: embedded default, YAML files, overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from capo.cli import main as capo_main
from capo.errors import CapoError
from capo.train.config import TrainConfig, describe_keys, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_embedded_default_is_the_cpu_demo():
    c = load_config()
    assert isinstance(c, TrainConfig)
    assert c.algorithm == "capo" and c.model.name_or_path == "smollm2" and c.judge.spec == "calculator"
    assert c.data.train == "procedural:arith" and c.data.eval_size == 100
    assert c.capo.C == 2.0 and c.capo.P == 1.0


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    c = load_config(path)
    assert c.algorithm in ("capo", "grpo", "genorm")


def test_paper_config_values():
    c = load_config(ROOT / "configs" / "paper-qwen2.5-1.5b.yaml")
    assert c.trl["num_generations"] == 16 and c.capo.num_critiques == 4
    assert (c.capo.C, c.capo.P, c.capo.vote) == (2.0, 1.0, "intersection")
    assert c.judge.spec.startswith("openai:") and "72B" in c.judge.spec


def test_file_then_overrides_merge_key_by_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("algorithm: grpo\ncapo:\n  vote: majority\ntrl:\n  learning_rate: 3e-6\n")
    c = load_config(f, ["capo.P=0.5", "trl.num_generations=4", "trl.per_device_train_batch_size=8",
                        "data.system_prompt=null"])
    assert c.algorithm == "grpo" and c.capo.vote == "majority" and c.capo.P == 0.5
    assert c.capo.C == 2.0  # untouched keys keep the default
    assert c.trl["learning_rate"] == 3e-6 and c.trl["num_generations"] == 4
    assert c.trl["max_completion_length"] == load_config().trl["max_completion_length"]
    assert c.data.system_prompt is None
    assert load_config(None, ["trl.learning_rate=1e-5"]).trl["learning_rate"] == 1e-5  # YAML 1.2 floats


@pytest.mark.parametrize("override, key", [
    ("capo.votes=union", "capo.votes"),
    ("capo.vote=mean", "capo.vote"),
    ("capo.C=yes", "capo.C"),
    ("capo.num_critiques=0", "capo.num_critiques"),
    ("capo.P=3", "capo.P"),
    ("capo.critique=some", "capo.critique"),
    ("capo.splitter=sentence", "capo.splitter"),
    ("algorithm=ppo", "algorithm"),
    ("model=3", "model"),
    ("run.save_steps=0", "run.save_steps"),
    ("judge.top_p=2", "judge.top_p"),
    ("trl.lerning_rate=1e-5", "trl.lerning_rate"),
    ("trl.learning_rate=fast", "trl.learning_rate"),
    ("trl.loss_type=ppo", "trl.loss_type"),
    ("trl.output_dir=/tmp/x", "trl.output_dir"),
    ("trl.num_generations=0", "trl.num_generations"),
    ("bogus=1", "bogus"),
])
def test_bad_keys_and_values_give_one_line_naming_the_key(override, key):
    with pytest.raises(CapoError) as err:
        load_config(None, [override])
    msg = str(err.value)
    assert f"'{key}'" in msg and "\n" not in msg


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("capo: [1, 2\n")
    with pytest.raises(CapoError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(CapoError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(CapoError, match="key=value"):
        load_config(None, ["capo.vote"])


def test_cli_print_config_list_keys_and_errors(tmp_path, capsys):
    assert capo_main(["train", "--print-config", "capo.vote=union", "--algorithm", "grpo",
                      "-o", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "vote: union" in out and "algorithm: grpo" in out and str(tmp_path / "r") in out
    assert capo_main(["train", "--list-keys"]) == 0
    assert "capo.num_critiques" in capsys.readouterr().out
    assert capo_main(["train", "--print-config", "capo.vote=mean"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("capo train: error: config key 'capo.vote'")
    # a trl value GRPOConfig itself rejects is reported before any model is loaded
    assert capo_main(["train", "-o", str(tmp_path / "x"), "trl.num_generations=3",
                      "trl.per_device_train_batch_size=16"]) == 2
    assert "config section 'trl'" in capsys.readouterr().err


def listed_keys(text: str) -> dict[str, str]:
    """`capo train --list-keys` output -> {key: value repr}."""
    pairs = (line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith(" "))
    return {k: v for k, v in pairs if "<" not in k}  # not the closing "trl.<field> = ..." note


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and not (prefix == "data." and key == "generator"):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_list_keys_shows_the_values_a_run_uses(tmp_path, capsys):
    """--list-keys prints the effective defaults (the embedded config), not the dataclasses'; with a
    file and overrides, the values that run would use: the same as a run's resolved config.yaml."""
    assert capo_main(["train", "--list-keys"]) == 0
    keys = listed_keys(capsys.readouterr().out)
    assert keys["run.save_total_limit"] == "1" and keys["run.eval_max_new_tokens"] == "64"  # drifted before
    assert keys["capo.separators"] == "'next_and_last'" and keys["trl.learning_rate"] == "3e-05"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("capo:\n  P: 0.5\n")
    args = [str(cfg), "capo.vote=union", "-o", str(tmp_path / "run")]
    assert capo_main(["train", "--list-keys", *args]) == 0
    keys = listed_keys(capsys.readouterr().out)
    assert capo_main(["train", "--print-config", *args]) == 0  # what a run writes as <run>/config.yaml
    import yaml

    resolved = flatten(yaml.safe_load(capsys.readouterr().out))
    assert keys == {k: repr(v) for k, v in resolved.items()}
    assert keys["capo.P"] == "0.5" and keys["capo.vote"] == "'union'"


def test_every_key_is_documented():
    text = describe_keys()
    for key in ("algorithm", "model.lora", "data.train", "capo.vote", "judge.spec", "run.save_steps", "trl.<field>"):
        assert key in text


def test_overrides_may_stand_between_options(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("capo:\n  P: 0.5\n")
    assert capo_main(["train", str(cfg), "--model", "m", "trl.max_steps=3", "--algorithm", "grpo",
                      "capo.vote=union", "--set", "capo.C=3", "--print-config"]) == 0
    out = capsys.readouterr().out
    for line in ("name_or_path: m", "max_steps: 3", "algorithm: grpo", "vote: union", "C: 3.0", "P: 0.5"):
        assert line in out, line


def test_cpu_precision_follows_the_dtype_key_and_the_hardware():
    import torch

    from capo.train.command import grpo_args
    from capo.train.precision import cpu_has_fast_bf16, device_settings as _device_settings, \
        weights_dtype as _dtype

    if torch.cuda.is_available():
        pytest.skip("CPU precision rules")
    auto = load_config(overrides=["trl.max_steps=1"])
    fp32 = load_config(overrides=["model.dtype=float32"])
    assert _device_settings(auto) == {"use_cpu": True, "bf16": cpu_has_fast_bf16()}
    assert _device_settings(fp32) == {"use_cpu": True, "bf16": False}
    assert _dtype(auto) == torch.float32  # master weights stay fp32 on a CPU; bf16 only in autocast
    assert grpo_args(fp32, Path("/tmp/x")).bf16 is False
    forced = load_config(overrides=["model.dtype=float32", "trl.bf16=true"])
    assert grpo_args(forced, Path("/tmp/x")).bf16 is True  # an explicit trl.bf16 wins


def test_judge_and_credit_defaults_are_the_same_in_capo_critique():
    """capo critique's judge options and exploit guards default to what `capo train` uses."""
    import argparse

    from capo.judges import critique_command

    parser = argparse.ArgumentParser()
    critique_command.add_arguments(parser)
    cli = vars(parser.parse_args(["in.jsonl"]))
    run = load_config()
    for key in ("temperature", "top_p", "max_tokens", "seed", "concurrency", "timeout", "retries", "deadline",
                "batch_size", "parse_mode", "structured_verdicts"):
        assert cli[key] == getattr(run.judge, key), key
    assert (cli["judge"], cli["n"]) == (run.judge.spec, run.capo.num_critiques)
    for key in ("C", "P", "vote", "min_valid", "separators", "process_groups", "penalty", "unjudgeable"):
        assert cli[key] == getattr(run.capo, key), key


def test_trainer_credit_settings_are_the_capo_section():
    from capo.train.config import CapoSection
    from capo.train.trainer import CreditSettings

    assert CreditSettings is CapoSection
    guards = load_config().capo.credit_config()
    assert (guards.process_groups, guards.unjudgeable) == ("all", "flagged")
    assert load_config().capo.separators == "next_and_last"


def test_strict_types_and_empty_sections(tmp_path):
    for override in ("capo.num_critiques='4'", "capo.num_critiques=4.5", "run.plots=1", "judge.spec=3"):
        with pytest.raises(CapoError, match="must be a valid"):
            load_config(None, [override])
    assert load_config(None, ["capo.C=3"]).capo.C == 3.0  # ints widen to floats
    f = tmp_path / "c.yaml"
    f.write_text("capo:\n  # nothing set\nalgorithm: grpo\n")
    assert load_config(f).capo == load_config().capo  # an empty section keeps the defaults
