"""The model card of a `capo train` run: README.md in the run directory and in <run>/final/.

TRL writes a generic card ("a fine-tuned version of [None]"); this one says what a reader of a
checkpoint needs: base model, algorithm, judge and credit settings, data, steps, held-out
accuracy before and after with intervals, the curves, and the command that reproduces it.
"""

from __future__ import annotations

from pathlib import Path


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _accuracy_lines(ev: dict) -> list[str]:
    lines = []
    for key, label in (("before", "before training"), ("after", "after training")):
        if key in ev:
            e = ev[key]
            lines.append(f"| {label} | {_pct(e['accuracy'])} | [{_pct(e['ci95'][0])}, {_pct(e['ci95'][1])}] "
                         f"(Wilson) | {e['n']} |")
    if "difference" in ev:
        d = ev["difference"]
        lines.append(f"| change | {100 * d['difference']:+.1f} points | [{100 * d['ci95'][0]:+.1f}, "
                     f"{100 * d['ci95'][1]:+.1f}] (paired bootstrap) | {ev['after']['n']} |")
    if not lines:
        return ["No held-out evaluation was run (`data.eval_size: 0` or `run.eval_*: false`)."]
    return ["| held-out accuracy | value | 95 % interval | problems |", "|---|---|---|---|", *lines]


def model_card(config, summary: dict, curves: str | None) -> str:
    """Markdown card of one run; `curves` is the relative path of curves.png (None: no plot)."""
    c, j, t, d = config.capo, config.judge, config.trl, config.data
    base = config.model.name_or_path
    credit = (f"C = {c.C:g}, P = {c.P:g}, vote `{c.vote}` of N = {c.num_critiques} critiques, critique `{c.critique}`, "
              f"splitter `{c.splitter}`; guards: separators `{c.separators}`, process_groups `{c.process_groups}`, "
              f"penalty `{c.penalty}`, unjudgeable `{c.unjudgeable}`")
    rows = [
        ("base model", f"`{base}`" + (" (LoRA adapter)" if config.model.lora else "")),
        ("algorithm", {"capo": "CAPO (token-level credit from an LLM judge; arXiv 2508.02298)",
                       "grpo": "GRPO-Rule (outcome reward only)",
                       "genorm": "GRPO-GenORM (the judge decides final-answer correctness)"}[config.algorithm]),
        ("judge", "-" if config.algorithm == "grpo" else f"`{j.spec}`" + (f" at {j.base_url}" if j.base_url else "")),
        ("credit", credit if config.algorithm == "capo" else "-"),
        ("training data", f"`{d.train}`" + (f", {d.train_size} problems" if d.train_size else "")),
        ("held-out data", f"`{d.eval}`" if d.eval else f"{d.eval_size} problems disjoint from training"),
        ("steps", f"{summary['steps']} optimizer steps of {t.get('per_device_train_batch_size', '?')} rollouts per "
                  f"device (G = {t.get('num_generations', '?')}), learning rate {t.get('learning_rate', '?')}, "
                  f"at most {t.get('max_completion_length', '?')} new tokens, beta {t.get('beta', '?')}"),
        ("seed", str(config.seed)),
        ("wall time", f"{summary['seconds']['total'] / 60:.1f} min"),
    ]
    lines = ["---", f"base_model: {base}", "library_name: transformers",
             f"tags: [capo, {config.algorithm}, trl, reinforcement-learning, math]", "---", "",
             f"# {Path(base).name} trained with {config.algorithm.upper()} (capo)", "",
             "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], "",
             "## Held-out accuracy (greedy)", "", *_accuracy_lines(summary.get("eval", {})), ""]
    if curves:
        lines += ["## Training curves", "", f"![accuracy, response length and mean token reward per step]({curves})", ""]
    lines += ["## Reproduce", "", "```bash", "capo train config.yaml   # the run directory's resolved configuration",
              "```", ""]
    return "\n".join(lines)


def write_model_cards(config, summary: dict, run_dir: Path) -> None:
    """README.md in the run directory (over TRL's generic card) and in <run>/final/."""
    has_curves = (run_dir / "curves.png").is_file()
    (run_dir / "README.md").write_text(model_card(config, summary, "curves.png" if has_curves else None))
    final = run_dir / "final"
    if final.is_dir():
        (final / "README.md").write_text(model_card(config, summary, "../curves.png" if has_curves else None))
