"""What a finished run leaves for its reader: summary.json, summary.md (also printed), the
training curves (curves.png) and the model cards (<run>/README.md, <run>/final/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from capo.train.heldout import describe, paired_difference
from capo.train.model_card import write_model_cards
from capo.train.rundir import METRICS, plot_curves, read_jsonl, summarize_rows

# training curves named in summary.md: metric -> label
CURVES = (("accuracy", "training accuracy"), ("token_reward", "mean token reward"),
          ("completions/mean_length", "response length"), ("judge/flagged_step_rate", "flagged-step rate"))


def write_summary(config, run_dir: Path, evals: dict[str, dict], *, setup_s: float, train_s: float,
                  total_s: float, steps: int) -> str:
    """Write the run's summary files from metrics.jsonl and the held-out evaluations
    (evals: "before" / "after", as heldout.evaluate_heldout returns them); returns summary.md."""
    rows = read_jsonl(run_dir / METRICS)
    if config.run.plots:
        points = [(step, evals[k]["accuracy"], evals[k]["ci95"]) for k, step in (("before", 0), ("after", steps))
                  if k in evals]
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
        lines.append(f"- held-out accuracy before: {describe(evals['before'])}")
    if "after" in evals:
        lines.append(f"- held-out accuracy after:  {describe(evals['after'])}")
    if "before" in evals and "after" in evals:
        diff = paired_difference(evals["before"]["correct"], evals["after"]["correct"], seed=config.seed)
        summary["eval"]["difference"] = diff
        lines.append(f"- change: {100 * diff['difference']:+.1f} points, paired 95% interval "
                     f"[{100 * diff['ci95'][0]:+.1f}, {100 * diff['ci95'][1]:+.1f}]")
    c = summary["curves"]
    for key, label in CURVES:
        if key in c:
            lines.append(f"- {label}: first steps {c[key]['first']:.3g} -> last steps {c[key]['last']:.3g}")
    if "seconds_per_step" in c:
        lines.append(f"- median seconds per step: {c['seconds_per_step']:.1f}")
    text = "\n".join(lines) + "\n"
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    (run_dir / "summary.md").write_text(text)
    write_model_cards(config, summary, run_dir)
    return text
