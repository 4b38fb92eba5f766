"""The run directory of `capo train`, and the callbacks that fill it.

    <run>/config.yaml           the resolved configuration (a resumed run reads it back)
    <run>/metrics.jsonl         one row per optimizer step: {"step", "time_s", accuracy, token_reward,
                                judge/..., loss, ...}; rows past the checkpoint a run resumes from are
                                dropped first, so a resumed run never duplicates or skips a step
    <run>/completions.jsonl     a few sampled rollouts per step (same truncation on resume)
    <run>/rollouts.jsonl        sampled prompt groups with steps, votes, raw critiques, token advantages
                                (capo.train.rollouts; `capo view` shows them; same truncation on resume)
    <run>/tensorboard/          run.report_to: tensorboard (TRL's integration; capo.train.tracking)
    <run>/checkpoint-<K>/       TRL/transformers checkpoints (weights, optimizer, scheduler, RNG, data position)
    <run>/eval_before.json, eval_after.json     held-out evaluations (capo.eval)
    <run>/curves.png            accuracy, response length, mean per-token reward over steps (paper Fig. 4)
    <run>/summary.json, summary.md              the short summary printed at the end
    <run>/final/                the final policy (or LoRA adapter) and tokenizer
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

from transformers import TrainerCallback

from capo.train.rollouts import ROLLOUTS

METRICS = "metrics.jsonl"
COMPLETIONS = "completions.jsonl"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (trainer_state.json written last by transformers), oldest first."""
    run = Path(run_dir)
    found = []
    if run.is_dir():
        for p in run.iterdir():
            m = _CHECKPOINT.match(p.name)
            if m and p.is_dir() and (p / "trainer_state.json").is_file():
                found.append((int(m.group(1)), p))
    return sorted(found)


def last_checkpoint(run_dir: str | Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1][1] if found else None


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL file; a torn last line (a killed writer) is ignored."""
    rows = []
    p = Path(path)
    if not p.is_file():
        return rows
    with p.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def truncate_rows(path: str | Path, last_step: int) -> int:
    """Keep only rows with step <= last_step (atomically); returns how many were dropped."""
    p = Path(path)
    if not p.is_file():
        return 0
    rows = read_jsonl(p)
    keep = [r for r in rows if int(r.get("step", 0)) <= last_step]
    tmp = p.with_suffix(p.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in keep:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, p)
    return len(rows) - len(keep)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class RunLogger(TrainerCallback):
    """Writes metrics.jsonl, completions.jsonl and rollouts.jsonl (main process only). Trackers
    (tensorboard, trackio, wandb) are TRL's own callbacks (capo.train.tracking)."""

    def __init__(self, run_dir: str | Path, *, trainer=None, resume_step: int = 0, time_offset: float = 0.0):
        self.run = Path(run_dir)
        self.trainer = trainer
        self.resume_step = resume_step
        self.time_offset = time_offset  # wall seconds of the earlier segments of a resumed run
        self.train_stats: dict = {}
        self._t0 = time.monotonic()
        self._last = self._t0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._t0 = self._last = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if "train_runtime" in logs:  # the end-of-training summary, not a step
            self.train_stats = {k: _clean(v) for k, v in logs.items()}
            return
        now = time.monotonic()
        row = {"step": state.global_step, "time_s": round(self.time_offset + now - self._t0, 3),
               "step_s": round(now - self._last, 3)}
        self._last = now
        row.update({k: _clean(v) for k, v in logs.items()})
        with (self.run / METRICS).open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        samples = getattr(self.trainer, "samples", None)
        if samples:
            with (self.run / COMPLETIONS).open("a", encoding="utf-8") as f:
                for s in samples:
                    f.write(json.dumps({"step": state.global_step, **s}, ensure_ascii=False) + "\n")
            self.trainer.samples = []
        log = getattr(self.trainer, "rollout_log", None)
        records = log.take() if log is not None else []
        if records:
            with (self.run / ROLLOUTS).open("a", encoding="utf-8") as f:
                for r in records:
                    f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")


class ProgressBar(TrainerCallback):
    """A tqdm bar: step, batch accuracy, mean token reward, flagged-step rate, judge failures."""

    def __init__(self, desc: str = "train"):
        self.desc = desc
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.desc, unit="step",
                            dynamic_ncols=True)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs or "train_runtime" in logs:
            return
        self.bar.n = state.global_step
        post = {"acc": logs.get("accuracy"), "tokR": logs.get("token_reward"),
                "flag": logs.get("judge/flagged_step_rate"), "jfail": logs.get("judge/failures"),
                "len": logs.get("completions/mean_length")}
        self.bar.set_postfix({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in post.items() if v is not None},
                             refresh=False)
        self.bar.refresh()

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.n = state.global_step
            self.bar.close()
            self.bar = None


# ---------------------------------------------------------------------------------------------
# the end of a run: curves and summary

def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(r["step"])
            ys.append(float(v))
    return xs, ys


def _smooth(ys: list[float], window: int) -> list[float]:
    out = []
    for i in range(len(ys)):
        part = ys[max(0, i - window + 1): i + 1]
        out.append(sum(part) / len(part))
    return out


def plot_curves(rows: list[dict], out: str | Path, *, title: str = "", eval_points: list[tuple] = ()) -> Path | None:
    """Accuracy, response length and mean per-token reward over steps (the paper's Figure 4).

    eval_points: (step, accuracy, (low, high)) of held-out evaluations, drawn on the accuracy panel."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("accuracy", "training accuracy (r_v)"), ("completions/mean_length", "response length (tokens)"),
              ("token_reward", "mean per-token reward")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    window = max(1, len(rows) // 10)
    for ax, (key, label) in zip(axes, panels):
        xs, ys = _series(rows, key)
        if xs:
            ax.plot(xs, ys, color="tab:blue", alpha=0.35 if window > 1 else 1.0, lw=1, marker=".", label="per step")
            if window > 1:
                ax.plot(xs, _smooth(ys, window), color="tab:blue", lw=2, label=f"mean of {window}")
        if key == "accuracy":
            for step, acc, ci in eval_points:
                ax.errorbar([step], [acc], yerr=[[acc - ci[0]], [ci[1] - acc]], fmt="o", color="tab:red",
                            capsize=4, label="held-out (95% CI)" if step == eval_points[0][0] else None)
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def summarize_rows(rows: list[dict], last: int = 5) -> dict:
    """Means of the first and last `last` steps of the main curves, and step-time statistics."""
    out: dict = {"steps": len(rows)}
    for key in ("accuracy", "token_reward", "completions/mean_length", "judge/flagged_step_rate",
                "judge/failures", "judge/parse_failures", "judge/seconds", "judge/correct_with_flagged_steps",
                "judge/vote_agreement"):
        _, ys = _series(rows, key)
        if ys:
            out[key] = {"first": sum(ys[:last]) / len(ys[:last]), "last": sum(ys[-last:]) / len(ys[-last:])}
    _, secs = _series(rows, "step_s")
    if secs:
        out["seconds_per_step"] = sorted(secs)[len(secs) // 2]
    return out
