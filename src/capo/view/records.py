"""What `capo view` reads, turned into the one compact form the page renders.

Two inputs:
    a run directory      <run>/rollouts.jsonl (capo.train.rollouts), metrics.jsonl (per-step
                         telemetry), config.yaml (title, vote method)
    a critiques file     the output of `capo critique` (steps as texts, critiques, step_weights,
                         and with --tokenizer: tokens and token_advantages)

Each rollout becomes a short-keyed object (the page holds thousands, so keys are short):
    s step (null: none)   g group key   p index into `problems`   t response text
    sp step spans [[start, end], ...] in code points   c c_j per step   V parsed   N asked
    w voted step weights   r r_v (null: unknown)   j judged   k critiques [[text, wrong_steps or
    null, latency_s, error, cached], ...]   tc characters per token   ad advantages [[value, count]]
"""

from __future__ import annotations

import json
from pathlib import Path

from capo.errors import CapoError
from capo.jsonl import iter_jsonl
from capo.train.rollouts import ROLLOUTS, run_lengths, step_counts

METRIC_KEYS = {"accuracy": "accuracy", "flag": "judge/flagged_step_rate", "agree": "judge/vote_agreement",
               "parse": "judge/parse_failures", "fail": "judge/failures"}


def _read_jsonl(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CapoError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return [row for _, row in iter_jsonl(text, str(path))]


def _read_jsonl_tolerant(path: Path) -> list[dict]:
    """A run's own files: a torn last line (a killed writer) is skipped, not an error."""
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _critique_list(crits) -> list:
    out = []
    for c in crits or []:
        wrong = c.get("wrong_steps")
        out.append([c.get("text") or "", sorted(wrong) if wrong is not None else None, c.get("latency_s"),
                    c.get("error"), bool(c.get("cached"))])
    return out


class _Problems:
    """Problems are stored once and referred to by index (a group's G responses share one)."""

    def __init__(self):
        self.items: list[list] = []
        self._index: dict[tuple, int] = {}

    def add(self, problem: str, answer) -> int:
        key = (problem, json.dumps(answer))
        if key not in self._index:
            self._index[key] = len(self.items)
            self.items.append([problem, answer if answer is None else str(answer)])
        return self._index[key]


def from_run_rows(rows: list[dict], problems: _Problems) -> list[dict]:
    out = []
    for r in rows:
        item = {"s": r.get("step"), "g": f"{r.get('step')}:{r.get('group')}", "p": problems.add(r.get("problem", ""),
                                                                                               r.get("answer")),
                "t": r.get("text", ""), "sp": r.get("steps", []), "r": r.get("r_v"), "j": bool(r.get("judged"))}
        if r.get("judged"):
            item.update(c=r.get("counts"), V=r.get("V"), N=r.get("N"), w=r.get("weights"),
                        k=_critique_list(r.get("critiques")))
        if r.get("token_chars") is not None:
            item["tc"] = r["token_chars"]
        if r.get("advantages") is not None:
            item["ad"] = r["advantages"]
        out.append(item)
    return out


def _spans(response: str, steps: list[str]) -> list[list[int]]:
    """Step texts -> spans in code points. capo's splitters give exact substrings in order
    (response[start:end] == text), so a forward search finds each."""
    spans, cursor = [], 0
    for text in steps:
        at = response.find(text, cursor)
        if at < 0:
            at = response.find(text)
        if at < 0:
            spans.append([cursor, cursor])  # not found: an empty step keeps the indices in line
            continue
        spans.append([at, at + len(text)])
        cursor = at + len(text)
    return spans


def from_critique_rows(rows: list[dict], name: str, problems: _Problems) -> list[dict]:
    out = []
    for lineno, r in enumerate(rows, 1):
        if not isinstance(r.get("response"), str) or not isinstance(r.get("steps"), list) \
                or not isinstance(r.get("critiques"), list):
            raise CapoError(f"{name}: row {lineno} is not a `capo critique` output row (needs response, steps, "
                            f"critiques); a run's rollouts: pass the run directory")
        crits = _critique_list(r["critiques"])
        steps = r["steps"]
        outcome = r.get("outcome", r.get("correct"))
        group = r.get("group")
        item = {"s": None, "g": f"g:{json.dumps(group)}" if group is not None else f"row:{lineno}",
                "p": problems.add(r.get("problem", ""), r.get("reference")), "t": r["response"],
                "sp": _spans(r["response"], steps), "r": None if outcome is None else float(outcome), "j": True,
                "c": step_counts([None if c[1] is None else frozenset(c[1]) for c in crits], len(steps)),
                "V": sum(c[1] is not None for c in crits), "N": len(crits), "w": r.get("step_weights"), "k": crits}
        if isinstance(r.get("tokens"), list) and isinstance(r.get("token_advantages"), list):
            item["tc"] = [len(t) for t in r["tokens"]]
            item["ad"] = run_lengths(r["token_advantages"])
        out.append(item)
    return out


def telemetry_from_metrics(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        point = {"step": r.get("step")}
        for short, key in METRIC_KEYS.items():
            if isinstance(r.get(key), (int, float)):
                point[short] = r[key]
        out.append(point)
    return out


def telemetry_from_rollouts(rollouts: list[dict]) -> list[dict]:
    """Per step, from the records themselves (a critiques file, or a run without metrics.jsonl)."""
    by_step: dict = {}
    for x in rollouts:
        by_step.setdefault(x["s"], []).append(x)
    out = []
    for step, xs in by_step.items():
        judged = [x for x in xs if x.get("j") and x.get("V")]
        steps = sum(len(x["sp"]) for x in judged)
        flagged = sum(sum(1 for w in (x.get("w") or []) if w > 0) for x in judged)
        agree = [sum(max(c, x["V"] - c) for c in x["c"]) / (x["V"] * len(x["c"])) for x in judged if x.get("c")]
        known = [x["r"] for x in xs if x.get("r") is not None]
        point = {"step": step, "flag": flagged / steps if steps else 0.0,
                 "agree": sum(agree) / len(agree) if agree else 0.0,
                 "parse": float(sum(1 for x in xs for c in x.get("k", []) if c[1] is None and not c[3])),
                 "fail": float(sum(1 for x in xs for c in x.get("k", []) if c[3]))}
        if known:
            point["accuracy"] = sum(1 for v in known if v > 0) / len(known)
        out.append(point)
    return out


def load(path: str | Path) -> dict:
    """The page's data: {"title", "source", "problems", "rollouts", "telemetry"}."""
    p = Path(path)
    problems = _Problems()
    if p.is_dir():
        roll = p / ROLLOUTS
        if not roll.is_file():
            raise CapoError(f"{p}: no {ROLLOUTS} (a run of an older capo, or run.rollout_groups=0); "
                            f"`capo view` also reads a `capo critique` output file")
        rollouts = from_run_rows(_read_jsonl_tolerant(roll), problems)
        metrics = p / "metrics.jsonl"
        telemetry = telemetry_from_metrics(_read_jsonl_tolerant(metrics)) if metrics.is_file() else []
        title = f"run {p.resolve().name}"
        config = p / "config.yaml"
        if config.is_file():
            import yaml

            c = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
            capo, judge = c.get("capo") or {}, c.get("judge") or {}
            title += (f" | {c.get('algorithm', '?')} | judge {judge.get('spec', '?')} | vote {capo.get('vote', '?')} "
                      f"of N = {capo.get('num_critiques', '?')} | C = {capo.get('C', '?')}, P = {capo.get('P', '?')}")
        source = "run"
    elif p.is_file():
        rollouts = from_critique_rows(_read_jsonl(p), str(p), problems)
        telemetry = []
        title, source = f"critiques {p.name}", "critiques"
    else:
        raise CapoError(f"{p}: no such run directory or file")
    if not rollouts:
        raise CapoError(f"{p}: no rollouts to show (empty {ROLLOUTS if source == 'run' else 'file'})")
    if not telemetry:
        telemetry = telemetry_from_rollouts(rollouts)
    return {"title": title, "source": source, "problems": problems.items, "rollouts": rollouts,
            "telemetry": telemetry}
