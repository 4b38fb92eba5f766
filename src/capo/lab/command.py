"""`capo lab`: controlled credit-assignment experiments with step-level ground truth.

    capo lab main --quick                     # SFT vs GRPO-Rule vs CAPO(oracle), ~5 min on 2 cores
    capo lab all --out runs/lab/full          # main, voting, penalty, noise (resumable, ~1 h+)
    capo lab voting --seeds 0 1 2 3 --jobs 2
    capo lab main --report-only               # rebuild tables/plots from finished cells

Finished (experiment config, seed) cells are kept as JSON under OUT/cells/ and skipped when the
command runs again with the same settings, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from capo.errors import CapoError

NAMES = ("main", "voting", "penalty", "noise", "guards")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiments", nargs="+", metavar="EXPERIMENT",
                        help=f"one or more of {', '.join(NAMES)}, or 'all'")
    parser.add_argument("--quick", action="store_true",
                        help="short runs (40 RL steps, 128 eval problems) for a first look in minutes")
    parser.add_argument("--smoke", action="store_true",
                        help="installation check: a micro policy, 2 RL steps, 1 seed (meaningless numbers)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default runs/lab/<full|quick|smoke>)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="RL seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=None, help="RL steps per cell (overrides the preset)")
    parser.add_argument("--eval-every", type=int, default=None, help="evaluate every this many RL steps")
    parser.add_argument("--eval-problems", type=int, default=None, help="held-out problems per evaluation")
    parser.add_argument("--lr", type=float, default=None, help="RL learning rate (default 3e-4)")
    parser.add_argument("--jobs", type=int, default=2, help="cells run in parallel processes (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild tables and plots")


def resolve_names(requested: list[str]) -> list[str]:
    names: list[str] = []
    for name in requested:
        for n in (NAMES if name == "all" else (name,)):
            if n not in NAMES:
                raise CapoError(f"unknown lab experiment {n!r}; choose from {', '.join(NAMES)} or 'all'")
            if n not in names:
                names.append(n)
    return names


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (reconstructed from the parsed arguments, for RUNS.md)."""
    parts = ["capo", "lab", *args.experiments]
    for flag in ("quick", "smoke"):
        if getattr(args, flag):
            parts.append(f"--{flag}")
    for flag, value in (("--out", args.out), ("--steps", args.steps), ("--eval-every", args.eval_every),
                        ("--eval-problems", args.eval_problems), ("--lr", args.lr), ("--jobs", args.jobs),
                        ("--threads", args.threads)):
        if value is not None:
            parts += [flag, str(value)]
    if args.seeds:
        parts += ["--seeds", *map(str, args.seeds)]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from capo.lab import experiments as ex

    names = resolve_names(args.experiments)
    if args.quick and args.smoke:
        raise CapoError("--quick and --smoke exclude each other")
    preset = "smoke" if args.smoke else "quick" if args.quick else "full"
    base = ex.PRESETS[preset]
    settings = ex.settings_with(base, steps=args.steps, eval_every=args.eval_every,
                                eval_problems=args.eval_problems, learning_rate=args.lr,
                                seeds=tuple(args.seeds) if args.seeds else None)
    if settings.steps < 1 or settings.eval_every < 1 or not settings.seeds:
        raise CapoError("--steps and --eval-every must be >= 1 and --seeds non-empty")
    if args.jobs < 1 or args.threads < 1:
        raise CapoError("--jobs and --threads must be >= 1")
    out = args.out or Path("runs/lab") / preset
    if args.report_only:
        for name in names:
            print(ex.write_report(name, settings, out).read_text())
        return 0
    t0 = time.time()
    summary = ex.run_experiments(names, settings, out, jobs=args.jobs, threads=args.threads)
    seconds = time.time() - t0
    ex.record_run(out, command_line(args), seconds, summary)
    for name in names:
        print((out / f"{name}.md").read_text())
    print(f"lab: {summary['ran']} cells run in {seconds / 60:.1f} min; results in {out}/")
    if summary["errors"]:
        print(f"lab: {len(summary['errors'])} cells failed (rerun to retry): "
              + ", ".join(f"{e['key']}/seed{e['seed']}" for e in summary["errors"]), file=sys.stderr)
        return 1
    return 0
