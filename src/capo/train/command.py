"""`capo train`: train a policy with CAPO, GRPO-Rule or GRPO-GenORM on TRL.

    capo train                                   the CPU demo (embedded default config)
    capo train configs/paper-qwen2.5-1.5b.yaml trl.learning_rate=2e-6 capo.vote=majority
    capo train -o runs/x --resume                continue runs/x from its last checkpoint
    accelerate launch -m capo.cli train CONFIG   several GPUs (accelerate / DeepSpeed, as TRL)

Positional arguments: at most one YAML config file, then any number of key=value overrides
(YAML values; `capo train --list-keys` lists every key).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

from capo.errors import CapoError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("items", nargs="*", metavar="CONFIG.yaml | key=value",
                        help="a YAML config (merged over the embedded default), then key=value overrides")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override, the same as a key=value positional")
    parser.add_argument("-o", "--output-dir", default=None, help="run directory (= run.output_dir)")
    parser.add_argument("--algorithm", choices=("capo", "grpo", "genorm"), default=None, help="= algorithm")
    parser.add_argument("--model", default=None, help="policy folder / hub id / smollm2 (= model.name_or_path)")
    parser.add_argument("--judge", default=None, help="judge spec (= judge.spec)")
    parser.add_argument("--base-url", default=None, help="judge server (= judge.base_url)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps (= trl.max_steps)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the run directory from its last checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="delete an existing run directory first")
    parser.add_argument("--no-eval", action="store_true", help="skip the held-out evaluations")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--list-keys", action="store_true",
                        help="list every config key with the value this run would use (the embedded default, "
                             "or CONFIG and overrides when given) and exit")


def _split_items(items: list[str]) -> tuple[str | None, list[str]]:
    config, overrides = None, []
    for item in items:
        if "=" in item and not Path(item).is_file():
            overrides.append(item)
        elif config is None and not overrides:
            config = item
        else:
            raise CapoError(f"unexpected argument {item!r}: give one config file first, then key=value overrides")
    return config, overrides


def _flag_overrides(args) -> list[str]:
    out = []
    for flag, key in (("output_dir", "run.output_dir"), ("algorithm", "algorithm"), ("model", "model.name_or_path"),
                      ("judge", "judge.spec"), ("base_url", "judge.base_url"), ("max_steps", "trl.max_steps")):
        value = getattr(args, flag)
        if value is not None:
            out.append(f"{key}={json.dumps(value)}")
    if args.no_eval:
        out += ["run.eval_before=false", "run.eval_after=false"]
    return out


def resolve(args, check_run_dir: bool = True) -> tuple:
    """(config, run_dir, checkpoint or None) from the command line."""
    from capo.train.config import load_config
    from capo.train.rundir import last_checkpoint

    path, overrides = _split_items(args.items)
    for item in args.set:
        if "=" not in item:
            raise CapoError(f"--set {item!r}: expected key=value")
    overrides = overrides + list(args.set) + _flag_overrides(args)
    config = load_config(path, overrides)
    run_dir = Path(config.run.output_dir)
    checkpoint = None
    if args.resume:
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise CapoError(f"--resume: {run_dir} holds no run (no config.yaml)")
        import yaml

        config = load_config(path, overrides, base=yaml.safe_load(saved.read_text(encoding="utf-8")))
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is None and check_run_dir:
            raise CapoError(f"--resume: {run_dir} has no complete checkpoint yet; start it again with --overwrite")
    elif check_run_dir and run_dir.exists() and any(run_dir.iterdir()) and not args.overwrite:
        raise CapoError(f"run directory {run_dir} is not empty: pass --resume to continue it or --overwrite "
                        f"to start over")
    return config, run_dir, checkpoint


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a hub id ("org/name") or an alias ("smollm2")."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def check_paths(config) -> None:
    """The config's local paths exist: one line naming the key and the path, before any work."""
    name = config.model.name_or_path
    local = Path(name).expanduser()
    if local.exists() and not local.is_dir():
        raise CapoError(f"config key 'model.name_or_path': {name!r} is not a folder")
    if _looks_like_path(name) and not local.exists():
        raise CapoError(f"config key 'model.name_or_path': no such folder {name!r}")
    for key, spec in (("data.train", config.data.train), ("data.eval", config.data.eval)):
        if spec is None or spec.startswith(("procedural:", "hf:")):
            continue
        if not Path(spec).expanduser().is_file():
            raise CapoError(f"config key '{key}': no such file {spec!r}")
    prefix, _, judge_arg = config.judge.spec.partition(":")
    if config.algorithm != "grpo" and prefix == "hf" and _looks_like_path(judge_arg) \
            and not Path(judge_arg).expanduser().is_dir():
        raise CapoError(f"config key 'judge.spec': no such folder {judge_arg!r}")


def grpo_args(config, run_dir: Path):
    from trl import GRPOConfig

    from capo.train.precision import device_settings

    kwargs = dict(config.trl)
    for key, value in device_settings(config).items():
        kwargs.setdefault(key, value)
    kwargs.update(output_dir=str(run_dir), seed=config.seed, data_seed=config.seed, save_strategy="steps",
                  save_steps=config.run.save_steps, save_total_limit=config.run.save_total_limit,
                  logging_steps=1, logging_strategy="steps", disable_tqdm=True)
    from capo.train.tracking import grpo_tracking_args

    kwargs.update(grpo_tracking_args(config, run_dir))  # report_to, project, run_name
    try:
        with warnings.catch_warnings():  # TRL's own default trips transformers' rename notice
            warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated.*")
            return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as err:
        text = " ".join(str(err).split())
        raise CapoError(f"config section 'trl': {text[:300]}") from None


def peft_config(config):
    if not config.model.lora:
        return None
    try:
        from peft import LoraConfig
    except ImportError:
        raise CapoError("model.lora needs peft: pip install 'capo[peft]'") from None
    m = config.model
    return LoraConfig(r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
                      target_modules=m.lora_target_modules, task_type="CAUSAL_LM")


def run(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    config, run_dir, checkpoint = resolve(args, check_run_dir=not (args.print_config or args.list_keys))
    if args.list_keys:
        from capo.train.config import describe_keys

        print(describe_keys(config))
        return 0
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    return train(config, run_dir, checkpoint, overwrite=args.overwrite, t_start=t_start)


def train(config, run_dir: Path, checkpoint: Path | None = None, *, overwrite: bool = False,
          t_start: float | None = None) -> int:
    t_start = time.monotonic() if t_start is None else t_start
    check_paths(config)  # before the heavy imports: a typo in a path fails in a second
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback

    from capo.models.smollm2 import resolve_model
    from capo.train import tracking
    from capo.train.data import load_train_eval, to_dataset
    from capo.train.heldout import describe, evaluate_heldout
    from capo.train.judge import build_judge
    from capo.train.precision import weights_dtype
    from capo.train.rollouts import ROLLOUTS, RolloutLog
    from capo.train.rundir import COMPLETIONS, METRICS, ProgressBar, RunLogger, read_jsonl, truncate_rows
    from capo.train.summary import write_summary
    from capo.train.trainer import CapoGRPOTrainer
    from capo.train.zero_gradient import SkipZeroGradientSteps

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    args = grpo_args(config, run_dir)  # validates the trl section before anything slow
    main = args.process_index == 0

    # Everything that can fail on the user's input (data, policy, judge) comes before the run
    # directory is touched: a failed start leaves no config.yaml that would block the rerun.
    t0 = time.monotonic()
    train_problems, held_out = load_train_eval(config.data, config.seed)  # the data before the policy
    transformers.set_seed(config.seed)
    model_path = resolve_model(config.model.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=weights_dtype(config))
    except Exception as err:
        first = str(err).splitlines()[0][:200] if str(err) else ""
        raise CapoError(f"config key 'model.name_or_path': cannot load {config.model.name_or_path!r} "
                        f"({type(err).__name__}: {first})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = to_dataset(train_problems, tokenizer, config.data.kind, config.data.system_prompt)
    judge = build_judge(config)
    setup_s = time.monotonic() - t0

    resume_step = 0
    if main:
        if checkpoint is None and overwrite and run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        if checkpoint is not None:
            resume_step = int(checkpoint.name.rsplit("-", 1)[1])
            truncate_rows(run_dir / METRICS, resume_step)
            truncate_rows(run_dir / COMPLETIONS, resume_step)
            truncate_rows(run_dir / ROLLOUTS, resume_step)
        (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    elif checkpoint is not None:
        resume_step = int(checkpoint.name.rsplit("-", 1)[1])

    prior = read_jsonl(run_dir / METRICS) if main else []
    logger = RunLogger(run_dir, resume_step=resume_step, time_offset=prior[-1]["time_s"] if prior else 0.0)
    tracking.prepare_environment(tracking.trackers(config.run), run_dir)
    # first, so that its metric is in the logs the run logger writes
    callbacks = ([SkipZeroGradientSteps()] if config.run.skip_zero_gradient_steps else []) + [logger] \
        + ([ProgressBar(f"{config.algorithm} train")] if config.run.progress else [])
    trainer = CapoGRPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                              peft_config=peft_config(config), callbacks=callbacks, algorithm=config.algorithm,
                              judge=judge, credit=config.capo,
                              sample_log=config.run.log_completions, overlap_judge=config.judge.overlap)
    logger.trainer = trainer
    tracking.attach(trainer, run_dir, resume_step, first_callbacks=(SkipZeroGradientSteps,))
    if config.run.rollout_groups:
        c = config.capo
        trainer.rollout_log = RolloutLog(tokenizer, config.run.rollout_groups, config.run.rollouts_every, vote=c.vote,
                                         min_valid=c.min_valid, critique=c.critique, splitter=c.splitter)
    trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl report every step
    print(f"capo train: {config.algorithm} | policy {model_path} | judge "
          f"{config.judge.spec if judge is not None else '-'} | {len(train_problems)} training problems, "
          f"{len(held_out)} held out | run dir {run_dir}"
          + (f" | resuming from {checkpoint.name}" if checkpoint is not None else ""), file=sys.stderr)

    evals: dict[str, dict] = {}
    before_path = run_dir / "eval_before.json"
    do_eval = bool(held_out)
    if main and do_eval and config.run.eval_before:
        if before_path.is_file():
            evals["before"] = json.loads(before_path.read_text())
        else:
            evals["before"] = evaluate_heldout(trainer.model, tokenizer, held_out, config, "before", trainer.args.bf16)
            before_path.write_text(json.dumps(evals["before"]))
        print(f"held-out accuracy before: {describe(evals['before'])}", file=sys.stderr)

    t_train = time.monotonic()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    finally:
        if judge is not None:
            judge.close()
    train_s = time.monotonic() - t_train
    trainer.save_model(str(run_dir / "final"))  # every process (DeepSpeed gathers the weights)
    if main:
        tokenizer.save_pretrained(str(run_dir / "final"))
        if do_eval and config.run.eval_after:
            evals["after"] = evaluate_heldout(trainer.model, tokenizer, held_out, config, "after", trainer.args.bf16)
            (run_dir / "eval_after.json").write_text(json.dumps(evals["after"]))
        print(write_summary(config, run_dir, evals, setup_s=setup_s, train_s=train_s,
                            total_s=time.monotonic() - t_start, steps=trainer.state.global_step), end="")
    return 0
