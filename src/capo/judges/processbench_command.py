"""`capo processbench`: score a judge on ProcessBench with the CAPO all-wrong-steps prompt.

The judge sees each item's problem and steps (no reference answer: ProcessBench gives none) and
returns the set of wrong steps; N critiques are voted (--vote). Metrics (capo.judges.processbench):
ProcessBench's accuracy on erroneous items / on correct items / F1 from the earliest predicted
wrong step, plus step-level precision/recall of the flagged sets where labels define them.
JSON on stdout (and --output); a one-line summary on stderr. Data: --data PATH (a folder with
<split>.json, or the file) else the hub dataset Qwen/ProcessBench.
Defaults differ from `capo critique`: one greedy critique (--n 1 --temperature 0), 512 tokens,
--parse-mode lenient.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from capo.errors import CapoError
from capo.judges.options import add_judge_arguments, critique_in_chunks, judge_from_args
from capo.judges.processbench import SPLITS, load_processbench, processbench_metrics
from capo.outputs import atomic_output, check_output, write_text_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="gsm8k", help=f"{' | '.join(SPLITS)} (default: gsm8k)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="local ProcessBench: a folder with <split>.json, or the file (default: the hub)")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N items only (file order: in gsm8k the first 50 all have an error)")
    parser.add_argument("--sample-seed", type=int, default=None, metavar="SEED",
                        help="with --limit: a seeded random subset instead of the first N items")
    parser.add_argument("--vote", default="majority",
                        help="union | intersection | majority | average (default: majority)")
    parser.add_argument("--min-valid", type=int, default=1, help="parsed critiques needed for a verdict (default: 1)")
    parser.add_argument("-o", "--output", default=None, metavar="FILE", help="also write the JSON here")
    parser.add_argument("--predictions", default=None, metavar="FILE",
                        help="write per-item predictions and critiques (JSONL)")
    parser.add_argument("--chunk", type=int, default=64, help="items per judge call (default: 64)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    # lenient parsing: ProcessBench's own prompt (--prompt-template) asks for \boxed{}; the items'
    # steps are a benchmark's, not a policy's that could learn to plant verdicts
    add_judge_arguments(parser, n=1, temperature=0.0, max_tokens=512, parse_mode="lenient")


def run(args: argparse.Namespace) -> int:

    from capo.judges.base import CritiqueRequest
    from capo.voting import VOTERS, vote

    if args.vote not in VOTERS:
        raise CapoError(f"unknown --vote {args.vote!r}; use one of {', '.join(sorted(VOTERS))}")
    if args.limit is not None and args.limit < 1:
        raise CapoError(f"--limit must be >= 1, got {args.limit}")
    if args.chunk < 1:
        raise CapoError("--chunk must be >= 1")
    check_output(args.output, "--output")  # before the work, not after it
    check_output(args.predictions, "--predictions")
    items = load_processbench(args.split, args.data, None if args.sample_seed is not None else args.limit)
    if args.sample_seed is not None and args.limit is not None and args.limit < len(items):
        import random

        keep = sorted(random.Random(args.sample_seed).sample(range(len(items)), args.limit))
        items = [items[i] for i in keep]
    requests = [CritiqueRequest(it["problem"], tuple(it["steps"])) for it in items]
    start = time.perf_counter()
    judge = judge_from_args(args)
    try:
        critiques, failures = critique_in_chunks(judge, requests, args.n, args.chunk, f"processbench {args.split}",
                                                 not args.no_progress)
    finally:
        judge.close()
    seconds = time.perf_counter() - start

    votes = [vote([c.wrong_steps for c in cs], len(r.steps), args.vote, args.min_valid)
             for r, cs in zip(requests, critiques)]
    predicted = [v.wrong_steps if v.has_verdict else None for v in votes]
    metrics = processbench_metrics(items, predicted)
    all_crits = [c for cs in critiques for c in cs]
    report = {
        "split": args.split, "source": args.data or "hub:Qwen/ProcessBench", "limit": args.limit,
        "sample_seed": args.sample_seed, "judge": args.judge, "n": args.n,
        "vote": args.vote, "temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens,
        "seed": args.seed, **metrics,
        "critiques": len(all_crits), "failed_critiques": sum(failures.values()), "failures": failures,
        "unparsable_critiques": sum(1 for c in all_crits if c.error is None and c.wrong_steps is None),
        "cached_critiques": sum(1 for c in all_crits if c.cached),
        "completion_tokens": sum(c.completion_tokens for c in all_crits), "seconds": round(seconds, 2),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        write_text_atomic(args.output, text + "\n")
    if args.predictions:
        with atomic_output(args.predictions) as fh:
            for it, v, p, cs in zip(items, votes, predicted, critiques):
                fh.write(json.dumps({"id": it.get("id"), "label": it["label"], "predicted": p,
                                     "critiques": [{"text": c.text, "wrong_steps": sorted(c.wrong_steps)
                                                    if c.wrong_steps is not None else None, "error": c.error}
                                                   for c in cs]}, ensure_ascii=False) + "\n")
    def fmt(x):
        return "n/a" if x is None else f"{x:.3f}"

    print(f"capo processbench: {args.split} {len(items)} items ({metrics['erroneous_items']} erroneous, "
          f"{metrics['correct_items']} correct), judge {args.judge}: acc_erroneous {fmt(metrics['acc_erroneous'])}, "
          f"acc_correct {fmt(metrics['acc_correct'])}, F1 {fmt(metrics['f1'])}, step P/R "
          f"{fmt(metrics['step_precision'])}/{fmt(metrics['step_recall'])}, {metrics['no_verdict_items']} without "
          f"verdict, {report['unparsable_critiques']} unparsable, {report['failed_critiques']} failed, "
          f"{seconds:.1f} s", file=sys.stderr)
    return 0
