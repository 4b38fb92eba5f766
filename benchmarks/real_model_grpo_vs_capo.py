"""GRPO-Rule vs CAPO (calculator judge) on the real model: SmolLM2-135M-Instruct, `capo train`'s
default task and settings, several seeds each; reports final held-out accuracy with intervals.

    nice -n 10 .venv/bin/python benchmarks/real_model_grpo_vs_capo.py --seeds 0 1 2 \\
        --out runs/bench-real > runs/bench-real.log 2>&1 &      # long: run it in the background
    .venv/bin/python benchmarks/real_model_grpo_vs_capo.py --report-only --out runs/bench-real

Each (algorithm, seed) is one ordinary `capo train` run (a subprocess, exactly the CLI a user
runs) in OUT/<algorithm>-seed<k>/; a finished run (summary.json present) is skipped, an
interrupted one is resumed from its last checkpoint, so the script can be stopped and restarted.
Extra `key=value` arguments after `--` are passed to every run (e.g. `-- trl.max_steps=20`).

Report (OUT/report.md, OUT/report.json):
  * per algorithm: final held-out accuracy, mean ± std over seeds, and a 95% interval that
    resamples both seeds and held-out items (hierarchical bootstrap);
  * per seed: CAPO - GRPO on the same held-out items (the held-out set depends only on the
    seed), with a paired bootstrap 95% interval; and the mean over seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ALGORITHMS = {"grpo": [], "capo": ["judge.spec=calculator"]}


def run_one(algorithm: str, seed: int, out: Path, extra: list[str]) -> dict | None:
    run_dir = out / f"{algorithm}-seed{seed}"
    summary = run_dir / "summary.json"
    if summary.is_file():
        return json.loads(summary.read_text())
    cmd = [sys.executable, "-m", "capo.cli", "train", f"algorithm={algorithm}", f"seed={seed}",
           f"run.output_dir={run_dir}", "run.progress=false", *ALGORITHMS[algorithm], *extra]
    resumable = any(p.name.startswith("checkpoint-") for p in run_dir.glob("checkpoint-*"))
    cmd.append("--resume" if resumable else "--overwrite")
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd)}", flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, check=False)
    print(f"[{time.strftime('%H:%M:%S')}] {algorithm} seed {seed}: exit {proc.returncode} "
          f"after {(time.time() - t0) / 60:.1f} min", flush=True)
    return json.loads(summary.read_text()) if summary.is_file() else None


def _correct(run_dir: Path) -> list[bool] | None:
    path = run_dir / "eval_after.json"
    if not path.is_file():
        return None
    return [bool(x) for x in json.loads(path.read_text())["correct"]]


def _train_steps(run_dir: Path) -> list[dict]:
    """The run's per-step training metrics (metrics.jsonl rows with a grad_norm)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if "grad_norm" in r]


def hierarchical_ci(per_seed: list[list[int]], resamples: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean over seeds of per-item values (accuracy: bools; paired
    differences: -1/0/1), resampling seeds, then items within each seed."""
    rng = random.Random(seed)
    stats = []
    for _ in range(resamples):
        runs = [per_seed[rng.randrange(len(per_seed))] for _ in per_seed]
        stats.append(statistics.fmean(statistics.fmean(r[rng.randrange(len(r))] for _ in r) for r in runs))
    stats.sort()
    return stats[int(0.025 * resamples)], stats[int(0.975 * resamples) - 1]


def paired_ci(a: list[bool], b: list[bool], resamples: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    boots = sorted(statistics.fmean(diffs[rng.randrange(len(diffs))] for _ in diffs) for _ in range(resamples))
    return statistics.fmean(diffs), boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]


def paired_differences(a_runs: dict, b_runs: dict, seeds: list[int]) -> tuple[list[str], list[float], tuple | None]:
    """a - b per seed on the same held-out items (paired bootstrap 95% interval), then the mean over
    seeds (seeds, then items, resampled). a_runs, b_runs: seed -> per-item correctness or None."""
    lines, diffs, paired = [], [], []
    for s in seeds:
        a, b = a_runs.get(s), b_runs.get(s)
        if a is not None and b is not None and len(a) == len(b):
            d, lo, hi = paired_ci(a, b, seed=s)
            diffs.append(d)
            paired.append([int(x) - int(y) for x, y in zip(a, b, strict=True)])
            lines.append(f"- seed {s}: {100 * d:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]")
    if not diffs:
        return lines, diffs, None
    lo, hi = hierarchical_ci(paired)
    lines.append(f"- mean over {len(diffs)} seeds: {100 * statistics.fmean(diffs):+.1f} points "
                 f"[{100 * lo:+.1f}, {100 * hi:+.1f}] (95% interval resampling seeds, then items)")
    return lines, diffs, (lo, hi)


def report(out: Path, seeds: list[int], baseline: Path | None = None) -> str:
    lines = ["# GRPO-Rule vs CAPO (calculator judge) on SmolLM2-135M-Instruct, `capo train` default task", ""]
    data: dict = {"seeds": seeds, "algorithms": {}}
    correct = {alg: {s: _correct(out / f"{alg}-seed{s}") for s in seeds} for alg in ALGORITHMS}
    lines += [("| algorithm | seeds done | final held-out accuracy, mean ± std over seeds | 95% interval "
               "(seeds x items bootstrap) | before training (mean) |"), "|---|---|---|---|---|"]
    for alg in ALGORITHMS:
        done = {s: c for s, c in correct[alg].items() if c is not None}
        accs = [statistics.fmean(c) for c in done.values()]
        befores = []
        for s in done:
            path = out / f"{alg}-seed{s}" / "eval_before.json"
            if path.is_file():
                befores.append(json.loads(path.read_text())["accuracy"])
        if accs:
            lo, hi = hierarchical_ci(list(done.values()))
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            row = [alg, str(len(accs)), f"{100 * statistics.fmean(accs):.1f} ± {100 * sd:.1f} %",
                   f"[{100 * lo:.1f}, {100 * hi:.1f}] %",
                   f"{100 * statistics.fmean(befores):.1f} %" if befores else "n/a"]
        else:
            row = [alg, "0", "n/a", "n/a", "n/a"]
        data["algorithms"][alg] = {"per_seed": dict(zip(map(str, done), accs))}
        lines.append("| " + " | ".join(row) + " |")
    more, diffs, ci = paired_differences(correct["capo"], correct["grpo"], seeds)
    lines += ["", "Per seed, CAPO - GRPO on the same held-out items (paired bootstrap 95% interval):", "", *more]
    if ci:
        data["difference_ci95"] = list(ci)
    data["differences"] = diffs
    if baseline is not None:  # another credit setting's CAPO runs, same seeds and items
        theirs = {s: _correct(baseline / f"capo-seed{s}") for s in seeds}
        more, diffs, ci = paired_differences(correct["capo"], theirs, seeds)
        lines += ["", f"Per seed, CAPO here - CAPO of {baseline} on the same held-out items (paired bootstrap "
                  "95% interval):", "", *more]
        data["capo_vs_baseline"] = {"baseline": str(baseline), "differences": diffs,
                                    **({"difference_ci95": list(ci)} if ci else {})}
    lines += ["", "Per run, held-out accuracy before and after training (the same 100 items; paired bootstrap "
              "95% interval of the change; wall time of the whole `capo train` run). Informative steps: "
              "optimizer steps with a non-zero gradient (the rest had every advantage 0: all-wrong or "
              "all-right groups, or CAPO groups without process signal). Cut off: responses that hit "
              "the token limit, in training (mean over steps) and in the held-out evaluation "
              "(before -> after):", "",
              "| run | before | after | change (points) | 95% interval | interval above 0 | informative steps "
              "| cut off in training | held-out cut off | wall min |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for alg in ALGORITHMS:
        for s in seeds:
            path = out / f"{alg}-seed{s}" / "summary.json"
            if not path.is_file():
                continue
            summary = json.loads(path.read_text())
            ev = summary.get("eval", {})
            if "difference" not in ev:
                continue
            d = ev["difference"]
            steps = _train_steps(out / f"{alg}-seed{s}")
            informative = sum(1 for r in steps if r.get("grad_norm", 0) > 0)
            clipped = statistics.fmean(r.get("completions/clipped_ratio", 0.0) for r in steps) if steps else 0.0
            lines.append(f"| {alg} seed {s} | {100 * ev['before']['accuracy']:.0f} % | {100 * ev['after']['accuracy']:.0f} % "
                         f"| {100 * d['difference']:+.1f} | [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}] "
                         f"| {'yes' if d['ci95'][0] > 0 else 'no'} | {informative} of {len(steps)} "
                         f"| {100 * clipped:.0f} % | {100 * ev['before'].get('truncated_rate', 0):.0f} -> "
                         f"{100 * ev['after'].get('truncated_rate', 0):.0f} % | {summary['seconds']['total'] / 60:.1f} |")
    for alg in ALGORITHMS:
        for s in seeds:
            summary = out / f"{alg}-seed{s}" / "summary.json"
            if summary.is_file():
                secs = json.loads(summary.read_text()).get("seconds", {})
                data["algorithms"][alg].setdefault("seconds", {})[str(s)] = secs.get("total")
    lines += ["", f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}."]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(data, indent=1))
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-real"))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--algorithms", nargs="+", choices=list(ALGORITHMS), default=list(ALGORITHMS),
                        help="run only these (two processes, one per algorithm, share the machine's cores)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also report CAPO here minus CAPO in this earlier --out folder (another credit "
                             "setting, e.g. `-- capo.process_groups=all` vs the default), paired per seed")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for seed in args.seeds:  # interleaved, so a partial run still compares like with like
            for alg in args.algorithms:
                run_one(alg, seed, args.out, extra)
    print(report(args.out, args.seeds, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
