"""Run one RL cell of the lab through the project's trainer (capo.train).

train_rl(...) builds the in-memory lab dataset, the judge and the trainer config, attaches an
evaluation callback (ground-truth metrics every `eval_every` steps) and trains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# the trainer's telemetry kept per step in a cell's JSON (the rest is in TRL's logs)
LOGGED = ("accuracy", "token_reward", "judge/flagged_step_rate", "judge/correct_with_flagged_steps",
          "judge/vote_agreement", "completions/mean_length", "loss", "grad_norm", "entropy", "step_time")


def lab_dataset(settings, seed: int, tokenizer):
    """The training problems as the production trainer reads them (capo.train.data.to_dataset:
    prompt text from the shared prompt template, problem, answer)."""
    from capo.lab.task import generate_problems
    from capo.train.data import Problem, to_dataset

    problems = generate_problems(settings.train_problems, 500_000 + seed, settings.task)
    return to_dataset([Problem(p.text, p.answer) for p in problems], tokenizer)


def _eval_callback(evaluate: Callable, tokenizer, every: int, total: int, curve: list, train_log: list):
    from transformers import TrainerCallback

    class LabEval(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            curve.append(evaluate(model, tokenizer, 0))

        def on_step_end(self, args, state, control, model=None, **kw):
            step = state.global_step
            if (step % every == 0 or step == total) and (not curve or curve[-1]["step"] != step):
                curve.append(evaluate(model, tokenizer, step))

        def on_log(self, args, state, control, logs=None, **kw):
            if logs:
                kept = {k: round(float(v), 5) for k, v in logs.items() if k in LOGGED}
                if kept:
                    train_log.append({"step": state.global_step, **kept})

    return LabEval()


def train_rl(spec, seed: int, settings, policy_path: Path, workdir: Path, evaluate: Callable,
             judge_spec: str) -> tuple[list[dict], list[dict]]:
    from capo.lab.policy import load_policy

    model, tokenizer = load_policy(policy_path)
    curve: list[dict] = []
    train_log: list[dict] = []
    callback = _eval_callback(evaluate, tokenizer, settings.eval_every, settings.steps, curve, train_log)
    trainer = _build_trainer(spec, seed, settings, model, tokenizer, policy_path, workdir, judge_spec, callback)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)  # the lab prints one line per cell instead
    trainer.remove_callback(ProgressCallback)
    t0 = time.time()
    trainer.train()
    train_log.append({"step": settings.steps, "train_seconds": round(time.time() - t0, 1)})
    return curve, train_log


def grpo_args(settings, seed: int, workdir: Path):
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(workdir), seed=seed, data_seed=seed, use_cpu=True, bf16=False, report_to=[],
        save_strategy="no", logging_steps=1, disable_tqdm=True, max_steps=settings.steps,
        per_device_train_batch_size=settings.prompts_per_step * settings.group_size,
        num_generations=settings.group_size, max_completion_length=settings.max_completion_length,
        learning_rate=settings.learning_rate, lr_scheduler_type="constant", warmup_steps=0,
        beta=0.0, temperature=settings.temperature, top_k=0, top_p=1.0,
    )


def credit_settings(spec):
    """The production trainer's credit settings for one lab cell."""
    from capo.train.trainer import CreditSettings

    return CreditSettings(C=spec.C, P=spec.P, vote=spec.vote, num_critiques=spec.num_critiques,
                          separators=spec.separators, process_groups=spec.process_groups,
                          critique=spec.critique, penalty=spec.penalty, unjudgeable=spec.unjudgeable)


def _build_trainer(spec, seed, settings, model, tokenizer, policy_path, workdir, judge_spec, callback):
    """The production CAPO trainer (capo.train.trainer.CapoGRPOTrainer): the same class, credit
    path and verifier as `capo train`; only the task, the model and the judge are the lab's."""
    import capo.lab.judges  # noqa: F401  (registers the oracle and noisy judges)
    from capo.judges.base import make_judge
    from capo.train.trainer import CapoGRPOTrainer

    judge = make_judge(judge_spec) if spec.algorithm == "capo" else None
    credit = credit_settings(spec)
    return CapoGRPOTrainer(model=model, processing_class=tokenizer, args=grpo_args(settings, seed, workdir),
                           train_dataset=lab_dataset(settings, seed, tokenizer), algorithm=spec.algorithm,
                           judge=judge, credit=credit, callbacks=[callback])
