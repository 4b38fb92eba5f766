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


class _IntermixedParser(argparse.ArgumentParser):
    """Lets key=value positionals stand before, between and after options (`capo train CONFIG
    --model X trl.max_steps=5 --resume`): plain argparse rejects positionals after an option once
    it has consumed the first run of them."""

    def parse_known_args(self, args=None, namespace=None):
        if getattr(self, "_intermixed_active", False):  # parse_known_intermixed_args calls back here
            return super().parse_known_args(args, namespace)
        self._intermixed_active = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed_active = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if type(parser) is argparse.ArgumentParser:
        parser.__class__ = _IntermixedParser
    parser.add_argument("items", nargs="*", metavar="CONFIG.yaml | key=value",
                        help="a YAML config (merged over the embedded default), then key=value overrides")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override that may stand anywhere on the line (key=value positionals must come "
                             "before or after all options, not between them)")
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


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 instructions (AVX512-BF16 / AMX), where oneDNN runs bf16
    matmuls about twice as fast as fp32; elsewhere bf16 is emulated and slower."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _device_settings(config) -> dict:
    """bf16 mixed precision (TRL's `bf16`) where the hardware has it: on a GPU that supports bf16,
    and on a CPU with native bf16 (2x faster steps measured on 2 cores; fp32 master weights)."""
    import torch

    wants_bf16 = config.model.dtype in ("auto", "bfloat16")
    if not torch.cuda.is_available():
        return {"use_cpu": True, "bf16": wants_bf16 and cpu_has_fast_bf16()}
    return {"bf16": True} if wants_bf16 and torch.cuda.is_bf16_supported() else {}


def _dtype(config):
    """Weights dtype: bf16 on a bf16 GPU for `auto`; on a CPU the weights stay fp32 (bf16 only
    inside autocast) so that the optimizer updates full-precision master weights."""
    import torch

    if config.model.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, config.model.dtype)


def grpo_args(config, run_dir: Path):
    from trl import GRPOConfig

    kwargs = dict(config.trl)
    for key, value in _device_settings(config).items():
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


def build_judge(config):
    """The judge of `capo`/`genorm` runs (None for grpo), from the config's judge section."""
    if config.algorithm == "grpo":
        return None
    from capo.judges.options import judge_from_args
    from capo.train.trainer import GENORM_TEMPLATE

    j = config.judge
    ns = argparse.Namespace(judge=j.spec, base_url=j.base_url, api_key_env=j.api_key_env, n=config.capo.num_critiques,
                            temperature=j.temperature, top_p=j.top_p, max_tokens=j.max_tokens, seed=j.seed,
                            concurrency=j.concurrency, timeout=j.timeout, retries=j.retries, deadline=j.deadline,
                            batch_size=j.batch_size, cache=j.cache, no_cache=j.cache is None,
                            prompt_template=j.prompt_template, parse_mode=j.parse_mode,
                            structured_verdicts=j.structured_verdicts)
    judge = judge_from_args(ns)
    if config.algorithm == "genorm" and j.prompt_template is None and hasattr(judge, "template"):
        judge.template = GENORM_TEMPLATE
    return judge


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


def evaluate_policy(model, tokenizer, problems, config, label: str, bf16: bool = False) -> dict:
    """Greedy accuracy on the held-out problems with a 95% interval (capo.eval.evaluate).
    bf16: the training run's mixed precision (its GRPOConfig.bf16), applied on a CPU too."""
    import contextlib

    import torch

    from capo.eval import evaluate

    items = [{"problem": p.problem, "answer": p.answer, "benchmark": "heldout"} for p in problems]
    # the same bf16 autocast as the training steps on a CPU with native bf16 (about 1.5x faster)
    on_cpu_bf16 = bf16 and not torch.cuda.is_available()
    with torch.autocast("cpu", dtype=torch.bfloat16) if on_cpu_bf16 else contextlib.nullcontext():
        result = evaluate(model, tokenizer, items, max_new_tokens=config.run.eval_max_new_tokens,
                          batch_size=config.run.eval_batch_size, temperature=0.0, system=config.data.system_prompt,
                          progress=config.run.progress, desc=f"eval {label}", seed=config.seed)
    score = result.benchmarks["heldout"]
    return {"accuracy": score.accuracy, "ci95": list(score.ci95), "n": score.n_items,
            "answered_rate": score.answered_rate, "truncated_rate": score.truncated_rate,
            "mean_tokens": score.mean_tokens, "seconds": result.timing["total_s"],
            "correct": [bool(r.correct[0]) for r in result.records]}


def paired_difference(before: list[bool], after: list[bool], resamples: int = 4000, seed: int = 0) -> dict:
    """after - before accuracy on the same items, with a paired bootstrap 95% interval."""
    import random

    n = len(before)
    diffs = [int(a) - int(b) for a, b in zip(after, before, strict=True)]
    rng = random.Random(seed)
    boots = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return {"difference": sum(diffs) / n, "ci95": [boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]]}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _fmt_eval(e: dict) -> str:
    return f"{_pct(e['accuracy'])} [{_pct(e['ci95'][0])}, {_pct(e['ci95'][1])}] (n={e['n']})"


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
    from capo.train.data import load_train_eval, to_dataset
    from capo.train import tracking
    from capo.train.rollouts import ROLLOUTS, RolloutLog
    from capo.train.rundir import METRICS, COMPLETIONS, ProgressBar, RunLogger, plot_curves, read_jsonl, \
        summarize_rows, truncate_rows
    from capo.train.trainer import CapoGRPOTrainer, CreditSettings
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
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=_dtype(config))
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
                              judge=judge, credit=CreditSettings.from_section(config.capo),
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
            evals["before"] = evaluate_policy(trainer.model, tokenizer, held_out, config, "before", trainer.args.bf16)
            before_path.write_text(json.dumps(evals["before"]))
        print(f"held-out accuracy before: {_fmt_eval(evals['before'])}", file=sys.stderr)

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
            evals["after"] = evaluate_policy(trainer.model, tokenizer, held_out, config, "after", trainer.args.bf16)
            (run_dir / "eval_after.json").write_text(json.dumps(evals["after"]))
        _finish(config, run_dir, evals, setup_s, train_s, time.monotonic() - t_start, trainer.state.global_step,
                plot_curves, summarize_rows, read_jsonl)
    return 0


def _finish(config, run_dir, evals, setup_s, train_s, total_s, steps, plot_curves, summarize_rows, read_jsonl):
    from capo.train.rundir import METRICS

    rows = read_jsonl(run_dir / METRICS)
    points = []
    if "before" in evals:
        points.append((0, evals["before"]["accuracy"], evals["before"]["ci95"]))
    if "after" in evals:
        points.append((steps, evals["after"]["accuracy"], evals["after"]["ci95"]))
    if config.run.plots:
        plot_curves(rows, run_dir / "curves.png", eval_points=points,
                    title=f"{config.algorithm} | {Path(config.model.name_or_path).name} | judge {config.judge.spec}")
    summary = {"algorithm": config.algorithm, "model": config.model.name_or_path, "judge": config.judge.spec,
               "steps": steps, "seconds": {"setup": round(setup_s, 1), "train": round(train_s, 1),
                                           "total": round(total_s, 1)},
               "curves": summarize_rows(rows),
               "eval": {k: {kk: vv for kk, vv in v.items() if kk != "correct"} for k, v in evals.items()}}
    lines = [f"# capo train: {config.algorithm}", "",
             f"- policy {config.model.name_or_path}, judge {config.judge.spec}, {steps} steps",
             f"- wall time {total_s / 60:.1f} min (set-up {setup_s:.0f} s, training {train_s:.0f} s)"]
    if "before" in evals:
        lines.append(f"- held-out accuracy before: {_fmt_eval(evals['before'])}")
    if "after" in evals:
        lines.append(f"- held-out accuracy after:  {_fmt_eval(evals['after'])}")
    if "before" in evals and "after" in evals:
        diff = paired_difference(evals["before"]["correct"], evals["after"]["correct"], seed=config.seed)
        summary["eval"]["difference"] = diff
        lines.append(f"- change: {100 * diff['difference']:+.1f} points, paired 95% interval "
                     f"[{100 * diff['ci95'][0]:+.1f}, {100 * diff['ci95'][1]:+.1f}]")
    c = summary["curves"]
    for key, label in (("accuracy", "training accuracy"), ("token_reward", "mean token reward"),
                       ("completions/mean_length", "response length"), ("judge/flagged_step_rate", "flagged-step rate")):
        if key in c:
            lines.append(f"- {label}: first steps {c[key]['first']:.3g} -> last steps {c[key]['last']:.3g}")
    if "seconds_per_step" in c:
        lines.append(f"- median seconds per step: {c['seconds_per_step']:.1f}")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    (run_dir / "summary.md").write_text("\n".join(lines) + "\n")
    from capo.train.model_card import write_model_cards

    write_model_cards(config, summary, run_dir)
    print("\n".join(lines))
