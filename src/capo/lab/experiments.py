"""Named lab experiments: cells (experiment config x seed) run through the production trainer,
results written as JSON per cell (resumable), then tables and plots.

A cell is identified by its RunSpec key and seed, not by the experiment that asked for it, so
the same run (e.g. CAPO with the oracle at C=2, P=1) is shared by `main` and `penalty`.
Every RL cell goes through capo.train (the same CAPO trainer and credit path as `capo train`);
only the task (capo.lab.task), the policy size (capo.lab.policy) and the judge differ.

Layout of an output folder:
    cells/<spec-key>/seed<k>.json    one finished cell: settings, eval curve, train telemetry
    <experiment>.md / .csv           the table (mean +- std over seeds)
    <experiment>_*.png               plots
    RUNS.md                          the command lines that produced the folder, machine, durations
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from capo.lab.policy import PolicyConfig
from capo.lab.task import TaskConfig

METRICS = ("accuracy", "wrong_step_rate", "process_correct", "right_answer_wrong_process")
LAB_FORMAT = 1  # bump when a change makes old cells incomparable


@dataclass(frozen=True)
class RunSpec:
    """One arm: an algorithm and its credit settings."""

    algorithm: str  # "sft" (no RL: the starting policy), "grpo" (rule reward), "capo"
    judge: str = "oracle"  # capo only: "oracle", "noisy:ff=..,miss=..", "calculator"
    vote: str = "intersection"
    num_critiques: int = 1
    C: float = 2.0
    P: float = 1.0
    # the trainer's `capo.separators`: "outside" (the paper: separator tokens get C*r_v only) or
    # "next" (a separator token joins the step it opens)
    separators: str = "outside"
    # the other exploit guards (capo.credit; the paper's rule is the first value of each)
    process_groups: str = "all"  # all | with_correct
    critique: str = "all"  # all | incorrect | correct
    penalty: str = "token"  # token | response
    unjudgeable: str = "ignore"  # ignore | flagged

    def key(self) -> str:
        if self.algorithm in ("sft", "grpo"):
            return self.algorithm
        judge = self.judge.replace(":", "-").replace(",", "-").replace("=", "")
        key = f"capo-{judge}-{self.vote}-n{self.num_critiques}-C{self.C:g}-P{self.P:g}"
        key += "" if self.separators == "outside" else f"-sep{self.separators}"
        # guards append only when not the paper's rule, so earlier cells keep their keys
        for name, paper in (("process_groups", "all"), ("critique", "all"), ("penalty", "token"),
                            ("unjudgeable", "ignore")):
            if getattr(self, name) != paper:
                key += f"-{name}{getattr(self, name)}"
        return key


@dataclass(frozen=True)
class LabSettings:
    steps: int = 80  # RL optimizer steps per cell
    eval_every: int = 10
    eval_problems: int = 200
    eval_samples: int = 4  # sampled responses per eval problem (temperature below)
    prompts_per_step: int = 8
    group_size: int = 8  # G
    learning_rate: float = 3e-4
    max_completion_length: int = 64
    temperature: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2)
    train_problems: int = 4000
    task: TaskConfig = field(default_factory=TaskConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def fingerprint(self) -> str:
        d = asdict(self)
        d.pop("seeds")
        d["format"] = LAB_FORMAT
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


QUICK = LabSettings(steps=40, eval_every=10, eval_problems=128, eval_samples=4)
FULL = LabSettings(steps=80, eval_every=20)
# an installation check in well under a minute: a barely trained micro policy, 2 RL steps, 1 seed
SMOKE = LabSettings(steps=2, eval_every=1, eval_problems=8, eval_samples=2, prompts_per_step=2, group_size=4,
                    seeds=(0,), train_problems=64,
                    policy=PolicyConfig(hidden_size=32, num_layers=1, vocab_size=300, sft_steps=20,
                                        sft_problems=200, sft_batch_size=8))
PRESETS = {"quick": QUICK, "full": FULL, "smoke": SMOKE}

NOISY_DEFAULT = "noisy:ff=0.2,miss=0.3"


def _main(_: LabSettings) -> list[tuple[str, RunSpec]]:
    return [("SFT only", RunSpec("sft")), ("GRPO-Rule", RunSpec("grpo")),
            ("CAPO (oracle, C=2, P=1)", RunSpec("capo", "oracle", C=2, P=1)),
            ("CAPO, separators join next step (lab fix)", RunSpec("capo", "oracle", C=2, P=1, separators="next"))]


def _voting(_: LabSettings) -> list[tuple[str, RunSpec]]:
    # separators join the next step: under the paper's rule the blank-line exploit (see `main`)
    # collapses most seeds and would swamp the differences between voting rules
    def capo(method: str, n: int) -> RunSpec:
        return RunSpec("capo", NOISY_DEFAULT, method, n, separators="next")

    rows = [("GRPO-Rule", RunSpec("grpo")), ("N=1 (any vote)", capo("intersection", 1))]
    for n in (2, 4, 8):
        for method in ("union", "intersection", "majority", "average"):
            rows.append((f"{method} N={n}", capo(method, n)))
    return rows


def _penalty(_: LabSettings) -> list[tuple[str, RunSpec]]:
    rows = [("GRPO-Rule", RunSpec("grpo"))]
    rows += [(f"C=2, P={p:g}", RunSpec("capo", "oracle", C=2, P=p)) for p in (0.1, 1, 2, 5)]
    # the same with separators joined to the next step (the lab fix, see `main`)
    rows += [(f"C=2, P={p:g}, lab fix", RunSpec("capo", "oracle", C=2, P=p, separators="next")) for p in (1, 2, 5)]
    return rows


# (false flag, miss); ordered so that an interrupted run has already covered both axes coarsely
NOISE_GRID = ((0.0, 0.0), (0.4, 0.0), (0.0, 0.6), (0.1, 0.0), (0.0, 0.3), (0.2, 0.3), (0.2, 0.0), (0.0, 0.9))


def _noise(_: LabSettings) -> list[tuple[str, RunSpec]]:
    rows = [("GRPO-Rule", RunSpec("grpo"))]
    for ff, miss in NOISE_GRID:
        judge = "oracle" if ff == miss == 0 else f"noisy:ff={ff:g},miss={miss:g}"
        rows.append((f"ff={ff:g}, miss={miss:g}", RunSpec("capo", judge, "intersection", 1)))
    return rows


def _guards(_: LabSettings) -> list[tuple[str, RunSpec]]:
    """Each exploit guard (capo.credit) on top of separators=next, and the combination `capo train`
    shipped until 2026-12-02, under the oracle and under a judge that also flags correct steps
    (false flags are what turned the separator leak into a collapse in `noise`)."""
    rows = [("GRPO-Rule", RunSpec("grpo"))]
    # the noisy judge first: an interrupted run then has the more telling half
    for judge, tag in (("noisy:ff=0.3,miss=0.3", "ff .3 miss .3"), ("oracle", "oracle")):
        base = RunSpec("capo", judge, C=2, P=1, separators="next")
        rows += [(f"{tag}: paper rule (separators outside)", replace(base, separators="outside")),
                 (f"{tag}: separators=next", base),
                 (f"{tag}: + process_groups=with_correct", replace(base, process_groups="with_correct")),
                 (f"{tag}: + penalty=response", replace(base, penalty="response")),
                 (f"{tag}: + unjudgeable=flagged", replace(base, unjudgeable="flagged")),
                 (f"{tag}: + critique=correct", replace(base, critique="correct")),
                 # the guards `capo train` shipped until 2026-12-02, together
                 (f"{tag}: with_correct + unjudgeable=flagged (default until 2026-12-02)",
                  replace(base, process_groups="with_correct", unjudgeable="flagged"))]
    return rows


EXPERIMENTS: dict[str, Callable[[LabSettings], list[tuple[str, RunSpec]]]] = {
    "main": _main, "voting": _voting, "penalty": _penalty, "noise": _noise, "guards": _guards}


# ---------------------------------------------------------------------------------------------
# One cell


def cell_path(out: Path, spec: RunSpec, seed: int) -> Path:
    return out / "cells" / spec.key() / f"seed{seed}.json"


def load_cell(path: Path, settings: LabSettings) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("fingerprint") == settings.fingerprint() else None


def _judge_spec_for_seed(spec: RunSpec, seed: int) -> str:
    if spec.judge.startswith("noisy"):
        sep = "," if ":" in spec.judge else ":"
        return f"{spec.judge}{sep}seed={1000 + seed}"
    return spec.judge


def run_cell(spec: RunSpec, seed: int, settings: LabSettings, policy_path: Path, out: Path,
             log: Callable[[str], None] = print) -> dict:
    """Train (unless sft) and evaluate one cell; write its JSON atomically; return it."""
    import torch

    from capo.lab.policy import evaluate_policy, load_policy
    from capo.lab.task import generate_problems

    t0 = time.time()
    eval_set = generate_problems(settings.eval_problems, 999_999, settings.task)

    def evaluate(model, tokenizer, step: int) -> dict:
        m = evaluate_policy(model, tokenizer, eval_set, n=settings.eval_samples, temperature=settings.temperature,
                            max_new_tokens=settings.max_completion_length, seed=seed * 100_003 + step, examples=3)
        examples = m.pop("examples")
        return {"step": step, **{k: round(v, 5) for k, v in m.items()}, "seconds": round(time.time() - t0, 1),
                "examples": examples}

    torch.manual_seed(seed)
    train_log: list[dict] = []
    if spec.algorithm == "sft":
        model, tokenizer = load_policy(policy_path)
        curve = [evaluate(model, tokenizer, 0)]
    else:
        from capo.lab.trainer_adapter import train_rl

        curve, train_log = train_rl(spec, seed, settings, policy_path, out / "work" / f"{spec.key()}-seed{seed}",
                                    evaluate, _judge_spec_for_seed(spec, seed))
    result = {
        "spec": asdict(spec), "key": spec.key(), "seed": seed, "fingerprint": settings.fingerprint(),
        "settings": _jsonable(asdict(settings)), "curve": curve, "train_log": train_log,
        "seconds": round(time.time() - t0, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = cell_path(out, spec, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)
    final = curve[-1]
    log(f"  done {spec.key()} seed {seed}: acc {final['accuracy']:.3f} wrong-step {final['wrong_step_rate']:.3f} "
        f"({result['seconds']:.0f} s)")
    return result


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _quiet() -> None:
    """One line per cell is the lab's output: silence transformers' progress bars and warnings."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="trl")


def _worker(args):  # top level: picklable for ProcessPoolExecutor
    spec, seed, settings, policy_path, out, threads = args
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _quiet()
    try:
        return run_cell(spec, seed, settings, Path(policy_path), Path(out))
    except Exception as err:  # noqa: BLE001  (report, do not take the other cells down)
        import traceback

        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}", "key": spec.key(), "seed": seed}


def run_experiments(names: list[str], settings: LabSettings, out: Path, *, jobs: int = 1, threads: int = 1,
                    log: Callable[[str], None] = print, policy_path: Path | None = None) -> dict:
    """Run every missing cell of the named experiments, then write their reports."""
    from capo.lab.policy import build_policy

    out.mkdir(parents=True, exist_ok=True)
    if policy_path is None:
        log("lab: starting policy (cached after the first build) ...")
        policy_path = build_policy(settings.task, settings.policy, log=log)
    todo, seen = [], set()
    for name in names:
        for _, spec in EXPERIMENTS[name](settings):
            for seed in settings.seeds:
                if (spec.key(), seed) in seen:
                    continue
                seen.add((spec.key(), seed))
                if load_cell(cell_path(out, spec, seed), settings) is None:
                    todo.append((spec, seed))
    log(f"lab: {len(seen)} cells, {len(seen) - len(todo)} already done, {len(todo)} to run (jobs={jobs})")
    # SFT evaluations first (cheap), then experiment by experiment, config by config, all seeds of
    # a config together: an interrupted run leaves whole configs, not one seed of everything
    todo.sort(key=lambda c: c[0].algorithm != "sft")
    errors = []
    t0 = time.time()
    if jobs <= 1:
        import torch

        torch.set_num_threads(threads)
        for spec, seed in todo:
            r = _worker((spec, seed, settings, str(policy_path), str(out), threads))
            if "error" in r:
                errors.append(r)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_worker, (spec, seed, settings, str(policy_path), str(out), threads))
                       for spec, seed in todo]
            for fut in as_completed(futures):
                r = fut.result()
                if "error" in r:
                    errors.append(r)
                    log(f"  FAILED {r['key']} seed {r['seed']}: {r['error']}")
    for name in names:
        write_report(name, settings, out)
    return {"cells": len(seen), "ran": len(todo), "errors": errors, "seconds": round(time.time() - t0, 1)}


# ---------------------------------------------------------------------------------------------
# Aggregation and reports


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(values: list[float], pct: bool = True) -> str:
    m, s = mean_std(values)
    if math.isnan(m):
        return "n/a"
    return f"{100 * m:.1f} ± {100 * s:.1f}" if pct else f"{m:.3f} ± {s:.3f}"


def collect(name: str, settings: LabSettings, out: Path) -> list[tuple[str, RunSpec, list[dict]]]:
    rows = []
    for label, spec in EXPERIMENTS[name](settings):
        cells = [c for seed in settings.seeds if (c := load_cell(cell_path(out, spec, seed), settings)) is not None]
        rows.append((label, spec, cells))
    return rows


def mean_curve(cells: list[dict], metric: str) -> tuple[list[int], list[float], list[float]]:
    """Mean and std per eval step over the cells (steps present in every cell)."""
    if not cells:
        return [], [], []
    steps = sorted(set.intersection(*[{p["step"] for p in c["curve"]} for c in cells]))
    means, stds = [], []
    for s in steps:
        vals = [next(p[metric] for p in c["curve"] if p["step"] == s) for c in cells]
        m, sd = mean_std(vals)
        means.append(m)
        stds.append(sd)
    return steps, means, stds


def steps_to_reach(cells: list[dict], target: float, metric: str = "accuracy") -> int | None:
    steps, means, _ = mean_curve(cells, metric)
    for s, m in zip(steps, means):
        if m >= target:
            return s
    return None


def _final(cells: list[dict], metric: str) -> list[float]:
    return [c["curve"][-1][metric] for c in cells]


def write_report(name: str, settings: LabSettings, out: Path) -> Path:
    rows = collect(name, settings, out)
    grpo = next((cells for _, spec, cells in rows if spec.algorithm == "grpo"), [])
    grpo_final = mean_std(_final(grpo, "accuracy"))[0] if grpo else math.nan
    header = ["config", "seeds", "accuracy %", "wrong-step rate %", "process-correct %",
              "right answer, wrong process %"]
    extra = []
    if name in ("voting", "penalty", "noise"):
        extra.append("gain vs GRPO (acc pts)")
    if name == "main":
        extra.append("steps to GRPO's final acc")
    lines = [f"# lab `{name}`", "",
             (f"{settings.steps} RL steps, {settings.prompts_per_step} prompts x G={settings.group_size} per step, "
              f"lr {settings.learning_rate:g}; metrics on {settings.eval_problems} held-out problems x "
              f"{settings.eval_samples} samples at T={settings.temperature:g}, at the last step; "
              f"mean ± std over seeds {list(settings.seeds)}."), "",
             "| " + " | ".join(header + extra) + " |", "|" + "---|" * (len(header) + len(extra))]
    csv = [",".join(["experiment", "config", "key", "seed", "step", *METRICS])]
    for label, spec, cells in rows:
        cols = [label, str(len(cells))] + [_fmt(_final(cells, m)) for m in METRICS]
        if name in ("voting", "penalty", "noise"):
            if spec.algorithm == "grpo" or not cells or not grpo:
                cols.append("")
            else:
                gains = _paired_gains(cells, grpo)
                cols.append(_fmt(gains) if gains else "")
        if name == "main":
            if spec.algorithm == "capo" and cells and not math.isnan(grpo_final):
                reached = steps_to_reach(cells, grpo_final)
                cols.append(f"{reached} of {settings.steps}" if reached is not None else f"not within {settings.steps}")
            else:
                cols.append("")
        lines.append("| " + " | ".join(cols) + " |")
        for c in cells:
            for p in c["curve"]:
                csv.append(",".join([name, f'"{label}"', spec.key(), str(c["seed"]), str(p["step"]),
                                     *[str(p[m]) for m in METRICS]]))
    if name == "main" and grpo:
        lines += ["", f"GRPO-Rule's final accuracy (mean): {100 * grpo_final:.1f} %."]
    md = out / f"{name}.md"
    md.write_text("\n".join(lines) + "\n")
    (out / f"{name}.csv").write_text("\n".join(csv) + "\n")
    try:
        plot(name, rows, settings, out)
    except Exception as err:  # noqa: BLE001  (plots are a convenience; the table is the result)
        print(f"lab: plot for {name} failed: {err}", file=sys.stderr)
    return md


def _paired_gains(cells: list[dict], grpo: list[dict]) -> list[float]:
    """Per seed: CAPO's final accuracy minus GRPO's with the same seed."""
    by_seed = {c["seed"]: c["curve"][-1]["accuracy"] for c in grpo}
    return [c["curve"][-1]["accuracy"] - by_seed[c["seed"]] for c in cells if c["seed"] in by_seed]


def plot(name: str, rows, settings: LabSettings, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    def curves(selected, filename, title):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        for label, spec, cells in selected:
            if not cells:
                continue
            for ax, metric in zip(axes, ("accuracy", "wrong_step_rate", "mean_steps")):
                scale, top = (1, None) if metric == "mean_steps" else (100, 100)
                if any(metric not in p for c in cells for p in c["curve"]):
                    continue  # cells written before this metric existed
                steps, means, stds = mean_curve(cells, metric)
                if spec.algorithm == "sft":
                    steps, means, stds = [0, settings.steps], means * 2, stds * 2
                    ax.plot(steps, [scale * m for m in means], "--", color="gray", label=label)
                    continue
                line, = ax.plot(steps, [scale * m for m in means], marker="o", ms=3, label=label)
                lo = [max(0.0, scale * (m - s)) for m, s in zip(means, stds)]
                hi = [scale * (m + s) if top is None else min(top, scale * (m + s)) for m, s in zip(means, stds)]
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.15)
        axes[0].set_ylabel("accuracy % (sampled, T=1)")
        axes[1].set_ylabel("wrong-step rate % (ground truth)")
        axes[2].set_ylabel("steps (paragraphs) per response")
        for ax in axes:
            ax.set_xlabel("RL step")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(title + f" (mean ± std, {len(settings.seeds)} seeds)")
        fig.tight_layout()
        path = out / filename
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    if name == "main":
        curves(rows, "main_curves.png", "SFT vs GRPO-Rule vs CAPO (oracle judge)")
    elif name == "penalty":
        curves(rows, "penalty_curves.png", "CAPO penalty P at C=2 (oracle judge)")
        _bars(plt, rows, out / "penalty_final.png", "final accuracy vs P (C=2)", paths)
    elif name == "noise":
        _noise_plot(plt, rows, out / "noise_gain.png", paths)
    elif name == "voting":
        _voting_plot(plt, rows, out / "voting_final.png", paths)
    return paths


def _bars(plt, rows, path, title, paths):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels, means, stds = [], [], []
    for label, _, cells in rows:
        m, s = mean_std(_final(cells, "accuracy"))
        labels.append(label)
        means.append(100 * m)
        stds.append(100 * s)
    ax.bar(range(len(labels)), means, yerr=stds, capsize=4, color="tab:blue", alpha=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("final accuracy %")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)


def _voting_plot(plt, rows, path, paths):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    n1 = next((cells for label, spec, cells in rows if spec.algorithm == "capo" and spec.num_critiques == 1), [])
    grpo = next((cells for label, spec, cells in rows if spec.algorithm == "grpo"), [])
    for ax, metric in zip(axes, ("accuracy", "wrong_step_rate")):
        for method in ("union", "intersection", "majority", "average"):
            xs, ms, ss = [], [], []
            for n in (1, 2, 4, 8):
                cells = n1 if n == 1 else next((c for _, sp, c in rows if sp.algorithm == "capo"
                                                and sp.vote == method and sp.num_critiques == n), [])
                if cells:
                    m, s = mean_std(_final(cells, metric))
                    xs.append(n)
                    ms.append(100 * m)
                    ss.append(100 * s)
            if xs:
                ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label=method)
        if grpo:
            ax.axhline(100 * mean_std(_final(grpo, metric))[0], color="gray", ls="--", label="GRPO-Rule")
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
        ax.set_xlabel("critiques per response N")
        ax.set_ylabel({"accuracy": "final accuracy %", "wrong_step_rate": "final wrong-step rate %"}[metric])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"voting with a noisy judge ({NOISY_DEFAULT}), mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)


def _noise_plot(plt, rows, path, paths):
    grpo = next((cells for _, spec, cells in rows if spec.algorithm == "grpo"), [])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, which in zip(axes, ("ff", "miss")):
        xs, ms, ss = [], [], []
        for label, spec, cells in rows:
            if spec.algorithm != "capo" or not cells or not grpo:
                continue
            ff, miss = _noise_of(spec)
            if (which == "ff" and miss == 0) or (which == "miss" and ff == 0):
                m, s = mean_std(_paired_gains(cells, grpo))
                xs.append(ff if which == "ff" else miss)
                ms.append(100 * m)
                ss.append(100 * s)
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        ax.errorbar([xs[i] for i in order], [ms[i] for i in order], yerr=[ss[i] for i in order], marker="o", capsize=3)
        ax.axhline(0, color="gray", ls="--")
        ax.set_xlabel("false-flag rate (miss = 0)" if which == "ff" else "miss rate (false flag = 0)")
        ax.set_ylabel("CAPO accuracy - GRPO accuracy (points)")
        ax.grid(alpha=0.3)
    fig.suptitle("CAPO's gain over GRPO-Rule vs judge quality (one critique), mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)


def _noise_of(spec: RunSpec) -> tuple[float, float]:
    if spec.judge == "oracle":
        return 0.0, 0.0
    from capo.lab.judges import parse_noisy_spec

    kw = parse_noisy_spec(spec.judge.partition(":")[2])
    return kw.get("false_flag", 0.0), kw.get("miss", 0.0)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_v = torch.__version__
    except ImportError:
        torch_v = "?"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, no GPU, Python {platform.python_version()}, torch {torch_v}, "
            f"load average at start {load:.1f}")


def record_run(out: Path, command: str, seconds: float, summary: dict) -> None:
    entry = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "", "```", command, "```", "",
             f"- machine: {machine_description()}",
             (f"- wall time: {seconds / 60:.1f} min; cells: {summary.get('cells')} "
              f"({summary.get('ran')} run now, the rest reused); failures: {len(summary.get('errors', []))}"), ""]
    with open(out / "RUNS.md", "a") as fh:
        fh.write("\n".join(entry) + "\n")


def settings_with(base: LabSettings, **overrides) -> LabSettings:
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
