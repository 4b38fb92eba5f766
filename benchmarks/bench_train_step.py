"""Seconds per training step: CAPO vs our GRPO vs plain TRL GRPOTrainer, same model and batch.

    .venv/bin/python benchmarks/bench_train_step.py                       # SmolLM2-135M, calculator judge
    .venv/bin/python benchmarks/bench_train_step.py --model PATH --steps 4 --repeats 3 --out bench.json

Three trainers on the same policy weights, prompts, GRPOConfig and seed:
    capo        CapoGRPOTrainer(algorithm="capo"), the calculator judge, N critiques
    grpo        CapoGRPOTrainer(algorithm="grpo")
    trl         trl.GRPOTrainer with the same rule-verifier reward function
By default the learning rate is 0, so every trainer samples exactly the same completions (same
seed, same weights): the timings then differ only by the work each trainer adds. Runs are
interleaved (capo, grpo, trl, then again in rotated order) to spread the noise of a shared
machine over all three, after one untimed warm-up run; the first step of each run is not counted
either. Besides the wall time per step, two things are timed directly, which is robust to machine
noise: CAPO's credit path (alignment + judge + voting + token-group advantages), and everything
our trainer adds around TRL's scoring step (for capo and grpo).

Goals (issue 4): capo <= 1.05 x grpo, and grpo <= 1.05 x trl.

With a real judge server (issue 12), e.g. vLLM on CPU serving the tiny or the SmolLM2 model:

    .venv/bin/python benchmarks/bench_train_step.py --judge openai:MODEL --base-url http://127.0.0.1:8000/v1 \
        --kinds capo capo-sync grpo --beta 0.04

`capo` sends the critiques right after generation (judge.overlap, the default), `capo-sync` after
TRL's scoring; `--beta > 0` makes TRL compute reference log-probs, the work the judge overlaps
with. The script prints the share of judge time hidden (1 - waited / judge seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2", help="policy folder or smollm2 (default)")
    ap.add_argument("--steps", type=int, default=3, help="steps per run, the first one not counted (default 3)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per trainer, interleaved (default 2)")
    ap.add_argument("--prompts", type=int, default=2, help="prompts per step (default 2)")
    ap.add_argument("--generations", type=int, default=8, help="G rollouts per prompt (default 8)")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--critiques", type=int, default=4, help="N critiques per response (default 4)")
    ap.add_argument("--learning-rate", type=float, default=0.0,
                    help="0 (default): all trainers sample identical completions")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--judge", default="calculator", help="judge spec: calculator (default) | openai:<model> | hf:<path>")
    ap.add_argument("--base-url", default=None, help="OpenAI-compatible server of an openai:<model> judge")
    ap.add_argument("--start", choices=["tiny", "smollm2"], default=None,
                    help="start a vLLM CPU server for this judge model (sets --judge and --base-url)")
    ap.add_argument("--judge-max-tokens", type=int, default=256, help="max tokens per critique (LLM judges)")
    ap.add_argument("--beta", type=float, default=0.0, help="KL coefficient (> 0: TRL computes reference log-probs)")
    ap.add_argument("--kinds", nargs="+", default=["capo", "grpo", "trl"],
                    choices=["capo", "capo-sync", "grpo", "trl"],
                    help="trainers to time (capo-sync: capo with judge.overlap off)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from dataclasses import replace

    from capo.models.smollm2 import resolve_model
    from capo.train.judge import build_judge
    from capo.train.precision import cpu_has_fast_bf16
    from capo.train.config import load_config
    from capo.train.data import arith_problems, to_dataset
    from capo.train.trainer import CapoGRPOTrainer, CreditSettings
    from capo.verify import MathVerifier

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    state = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).state_dict()
    batch = args.prompts * args.generations
    default = load_config()  # the `capo train` default: its task, prompt and precision
    problems = arith_problems(batch * (args.steps + 1), seed=0, **default.data.generator)
    dataset = to_dataset(problems, tokenizer, system=default.data.system_prompt)
    bf16 = cpu_has_fast_bf16() if not torch.cuda.is_available() else torch.cuda.is_bf16_supported()
    verifier = MathVerifier()

    def outcome(prompts, completions, answer, **_):
        return [verifier(c, a) for c, a in zip(completions, answer)]

    class Timer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, a, s, c, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, a, s, c, **kw):
            self.times.append(time.perf_counter() - self._t)

    # The time our trainer adds around TRL's scoring: CapoGRPOTrainer._generate_and_score_completions
    # minus the GRPOTrainer call inside it (robust to machine noise, unlike whole steps).
    trl_scoring = GRPOTrainer._generate_and_score_completions
    inner: list[float] = []

    def timed_trl_scoring(self, inputs):
        t = time.perf_counter()
        out = trl_scoring(self, inputs)
        inner.append(time.perf_counter() - t)
        return out

    GRPOTrainer._generate_and_score_completions = timed_trl_scoring

    class TimedCapo(CapoGRPOTrainer):
        """Times the credit path (alignment, judge, estimator) and all our trainer adds to TRL's step."""

        credit_seconds: list[float]
        added_seconds: list[float]

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.credit_seconds, self.added_seconds, self._credit = [], [], 0.0
            fn = self.estimator.fn

            def timed_estimator(*args):
                t = time.perf_counter()
                out = fn(*args)
                self._credit += time.perf_counter() - t
                return out

            self.estimator = replace(self.estimator, fn=timed_estimator)

        def _align(self, ids):
            t = time.perf_counter()
            out = super()._align(ids)
            self._credit += time.perf_counter() - t
            return out

        def _critique_steps(self, *a):  # with overlap: in the judge thread, off the critical path
            t = time.perf_counter()
            out = super()._critique_steps(*a)
            self._credit += time.perf_counter() - t
            return out

        def _generate_and_score_completions(self, inputs):
            self._credit = 0.0
            t = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            self.added_seconds.append(time.perf_counter() - t - inner[-1])
            self.credit_seconds.append(self._credit)
            return out

    def run(kind: str, out_dir: Path) -> dict:
        transformers.set_seed(0)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        model.load_state_dict(state)
        cfg = GRPOConfig(output_dir=str(out_dir), use_cpu=not torch.cuda.is_available(), bf16=bf16,
                         report_to="none", disable_tqdm=True, save_strategy="no", logging_steps=1, seed=0,
                         per_device_train_batch_size=batch, num_generations=args.generations,
                         max_completion_length=args.max_completion_length, max_steps=args.steps,
                         learning_rate=args.learning_rate, gradient_checkpointing=False, beta=args.beta,
                         temperature=0.7, shuffle_dataset=False)
        timer = Timer()
        common = dict(model=model, args=cfg, train_dataset=dataset, processing_class=tokenizer, callbacks=[timer])
        if kind == "trl":
            trainer = GRPOTrainer(reward_funcs=[outcome], **common)
        else:
            algorithm = "grpo" if kind == "grpo" else "capo"
            trainer = TimedCapo(algorithm=algorithm, judge=judge if algorithm == "capo" else None,
                                credit=CreditSettings(num_critiques=args.critiques), overlap_judge=kind == "capo",
                                **common)
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
        trainer.train()
        logs = trainer.state.log_history
        lengths = [x["completions/mean_length"] for x in logs if "completions/mean_length" in x]
        return {"step_seconds": timer.times[1:], "mean_length": lengths,
                "judge_seconds": [x["judge/seconds"] for x in logs if "judge/seconds" in x][1:],
                "judge_wait_seconds": [x["judge/wait_seconds"] for x in logs if "judge/wait_seconds" in x][1:],
                "credit_seconds": getattr(trainer, "credit_seconds", [])[1:],
                "added_seconds": getattr(trainer, "added_seconds", [])[1:]}

    kinds = args.kinds
    server = None
    if args.start:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support's server manager
        from support import start_named_vllm_server

        server = start_named_vllm_server(args.start)
        args.judge, args.base_url = f"openai:{args.start}", server.base_url
    judge_config = load_config(overrides=[f"judge.spec={args.judge}", f"capo.num_critiques={args.critiques}",
                                          f"judge.max_tokens={args.judge_max_tokens}"]
                               + ([f"judge.base_url={args.base_url}"] if args.base_url else []))
    judge = build_judge(judge_config)
    results: dict[str, dict] = {k: {"step_seconds": [], "credit_seconds": [], "added_seconds": [], "mean_length": [],
                                    "judge_seconds": [], "judge_wait_seconds": []} for k in kinds}
    try:
        results = run_all(run, kinds, results, args, inner)
    finally:
        if server is not None:
            server.stop()
    summarize(results, kinds, args, path, bf16)
    return 0


def run_all(run, kinds, results, args, inner):
    """One untimed warm-up run, then `repeats` interleaved runs of every trainer."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        # the first trainer built in a process runs slower (allocator and oneDNN kernel caches warm
        # up): one untimed run first, so that no trainer's timings carry that cost
        run("trl" if "trl" in kinds else "grpo", Path(tmp) / "warmup")
        inner.clear()
        for r in range(args.repeats):
            order = kinds[r % len(kinds):] + kinds[: r % len(kinds)]
            for kind in order:
                t0 = time.perf_counter()
                got = run(kind, Path(tmp) / f"{kind}-{r}")
                for key in results[kind]:
                    results[kind][key] += got[key]
                print(f"run {r + 1}/{args.repeats} {kind:4s}: {len(got['step_seconds'])} timed steps, "
                      f"median {statistics.median(got['step_seconds']):.2f} s/step "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return results


def summarize(results, kinds, args, path, bf16) -> None:
    """Print the medians, ratios and judge share hidden; write them to --out."""
    batch = args.prompts * args.generations
    med = {k: statistics.median(v["step_seconds"]) for k, v in results.items()}
    capo_kinds = [k for k in ("capo", "capo-sync") if k in kinds]
    credit = {k: statistics.median(results[k]["credit_seconds"]) for k in capo_kinds}
    added = {k: statistics.median(results[k]["added_seconds"]) for k in (*capo_kinds, "grpo") if k in kinds}
    hidden = {k: 1 - sum(results[k]["judge_wait_seconds"]) / sum(results[k]["judge_seconds"])
              for k in capo_kinds if sum(results[k]["judge_seconds"]) > 0}
    ratios = {f"{k}_over_grpo": med[k] / med["grpo"] for k in capo_kinds if "grpo" in kinds}
    if "grpo" in kinds and "trl" in kinds:
        ratios["grpo_over_trl"] = med["grpo"] / med["trl"]
    lengths = [results[k]["mean_length"] for k in kinds]
    summary = {
        "model": str(path), "batch": batch, "generations": args.generations, "critiques": args.critiques,
        "judge": args.judge, "beta": args.beta,
        "max_completion_length": args.max_completion_length, "learning_rate": args.learning_rate, "bf16": bf16,
        "steps_timed_per_trainer": {k: len(v["step_seconds"]) for k, v in results.items()},
        "median_seconds_per_step": med, **ratios,
        "capo_credit_path_seconds_per_step": credit,
        "judge_seconds_per_step": {k: statistics.median(results[k]["judge_seconds"]) for k in capo_kinds
                                   if results[k]["judge_seconds"]},
        "judge_share_hidden": hidden,
        "seconds_added_to_trl_scoring_per_step": added,
        "same_completions": all(x == lengths[0] for x in lengths),
        "raw": results,
    }
    print(f"\nmodel {path} | {batch} completions/step (G={args.generations}), max {args.max_completion_length} "
          f"new tokens, N={args.critiques} critiques by {args.judge}, beta={args.beta}, lr={args.learning_rate}, "
          f"bf16={bf16}")
    for k in kinds:
        print(f"  {k:9s} median {med[k]:7.2f} s/step  ({len(results[k]['step_seconds'])} steps)")
    for name, value in ratios.items():
        print(f"  {name.replace('_over_', ' / '):16s} = {value:.3f}   (goal <= 1.05)")
    for k in capo_kinds:
        judge_s = summary["judge_seconds_per_step"].get(k, 0.0)
        print(f"  {k}: credit path (align + judge + estimator) {credit[k] * 1000:.1f} ms/step, judge "
              f"{judge_s:.2f} s/step, share of judge time hidden {100 * hidden.get(k, 0.0):.0f}%")
    for k, v in added.items():
        print(f"  time {k} adds to TRL's scoring step: {v * 1000:.1f} ms/step")
    print(f"  identical completions across trainers: {summary['same_completions']}")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    sys.exit(main())
