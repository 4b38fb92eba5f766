"""The held-out evaluation of `capo train`: greedy accuracy before and after training, and the
paired difference of the two (the same problems, so a paired bootstrap interval)."""

from __future__ import annotations

import contextlib
import random


def evaluate_heldout(model, tokenizer, problems, config, label: str, bf16: bool = False) -> dict:
    """Greedy accuracy on the held-out problems with a 95% interval (capo.eval.evaluate), and which
    problems were solved (`correct`, for the paired difference). bf16: the training run's mixed
    precision (its GRPOConfig.bf16), applied on a CPU too."""
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
    n = len(before)
    diffs = [int(a) - int(b) for a, b in zip(after, before, strict=True)]
    rng = random.Random(seed)
    boots = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return {"difference": sum(diffs) / n, "ci95": [boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]]}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def describe(evaluation: dict) -> str:
    """'41.0% [31.9%, 50.8%] (n=100)'"""
    e = evaluation
    return f"{_pct(e['accuracy'])} [{_pct(e['ci95'][0])}, {_pct(e['ci95'][1])}] (n={e['n']})"
