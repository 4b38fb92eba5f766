"""ProcessBench (Qwen, arXiv 2412.06559): loading and scoring a judge's predicted wrong-step sets.

Items: `id, generator, problem, steps, final_answer_correct, label` (label -1: no wrong step, else
the index of the EARLIEST wrong step). CAPO's judge predicts a SET of wrong steps; we score

* the ProcessBench metrics from the earliest predicted step (min of the set, -1 if empty):
  accuracy on erroneous items (label != -1), on correct items (label == -1), and their harmonic
  mean F1 (null when a kind of item is absent). An item whose critiques gave no verdict (none parsed / all failed) counts as wrong in
  both accuracies (as ProcessBench counts an unparsable answer).
* step-level precision / recall / F1 of the flagged sets where the labels define the truth:
  the labelled step is wrong, the steps before it are right, all steps of a label -1 item are
  right; steps after the first error carry no label and are not scored. Precision is null when
  nothing was flagged, recall when no labelled wrong step was scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from capo.errors import CapoError
from capo.jsonl import iter_jsonl, parse_json
from capo.models.hub import hub_offline, hub_reachable

SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
HUB_ID = "Qwen/ProcessBench"


def _validate(items: list, where: str) -> list[dict]:
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            raise CapoError(f"{where}: item {k} is not an object")
        for field in ("problem", "steps", "label"):
            if field not in item:
                raise CapoError(f"{where}: item {k} ({item.get('id', '?')}) has no field {field!r}")
        if not isinstance(item["steps"], list) or not all(isinstance(s, str) for s in item["steps"]):
            raise CapoError(f"{where}: item {k} ({item.get('id', '?')}): 'steps' must be a list of strings")
        if not isinstance(item["label"], int) or item["label"] < -1 or item["label"] >= len(item["steps"]):
            raise CapoError(f"{where}: item {k} ({item.get('id', '?')}): label {item['label']!r} out of range")
    return items


def _read_file(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return _validate([row for _, row in iter_jsonl(text, str(path))], str(path))
    data = parse_json(text, str(path))
    if not isinstance(data, list):
        raise CapoError(f"{path}: expected a JSON list of items")
    return _validate(data, str(path))


def load_processbench(split: str, data: str | None = None, limit: int | None = None) -> list[dict]:
    """Items of a split from `data` (a file, or a folder holding <split>.json / .jsonl), else the
    hub dataset Qwen/ProcessBench. The first `limit` items, in file order."""
    if data:
        path = Path(data)
        if path.is_dir():
            for name in (f"{split}.json", f"{split}.jsonl"):
                if (path / name).is_file():
                    path = path / name
                    break
            else:
                found = sorted(f.stem for f in path.iterdir() if f.suffix in (".json", ".jsonl") and f.is_file())
                raise CapoError(f"--data {data}: no {split}.json or {split}.jsonl in this folder; --split is one of "
                                f"{', '.join(SPLITS)} (this folder has: {', '.join(found) or 'no .json/.jsonl file'})")
        elif not path.is_file():
            raise CapoError(f"--data {data}: no such file or folder")
        items = _read_file(path)
    else:
        if split not in SPLITS:
            raise CapoError(f"unknown ProcessBench split {split!r}; use one of {', '.join(SPLITS)}")
        if not hub_offline() and not hub_reachable(3.0):
            raise CapoError(f"cannot reach the Hugging Face hub to load {HUB_ID} split {split!r}; pass --data PATH "
                            f"(a folder with {split}.json, or the file), or set HF_HUB_OFFLINE=1 to use a cached copy")
        try:
            import datasets

            ds = datasets.load_dataset(HUB_ID, split=split)
            items = _validate([dict(x) for x in ds], f"{HUB_ID}:{split}")
        except CapoError:
            raise
        except Exception as err:
            msg = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            raise CapoError(f"cannot load {HUB_ID} split {split!r} from the Hugging Face hub ({msg}); "
                            f"pass --data PATH (a folder with {split}.json, or the file)") from None
    return items[:limit] if limit is not None else items


def _safe_div(a: float, b: float) -> float | None:
    """a / b, or None (JSON null) when undefined: no item of that kind, nothing flagged, ..."""
    return a / b if b else None


def _harmonic(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return 2 * a * b / (a + b) if a + b else 0.0


def processbench_metrics(items: Sequence[dict], predicted: Sequence[Sequence[int] | None]) -> dict:
    """Metrics for predicted wrong-step sets (None: no verdict). See the module docstring."""
    err_total = err_hit = ok_total = ok_hit = 0
    tp = fp = fn = 0
    no_verdict = scored_steps = 0
    for item, pred in zip(items, predicted):
        label = int(item["label"])
        n_steps = len(item["steps"])
        if pred is None:
            no_verdict += 1
            first = None
        else:
            pred = sorted(set(int(j) for j in pred if 0 <= int(j) < n_steps))
            first = pred[0] if pred else -1
        if label == -1:
            ok_total += 1
            ok_hit += first == -1
        else:
            err_total += 1
            err_hit += first == label
        if pred is None:
            continue
        flagged = set(pred)
        scored = range(n_steps) if label == -1 else range(label + 1)
        scored_steps += len(scored)
        for j in scored:
            truth = j == label
            if j in flagged and truth:
                tp += 1
            elif j in flagged:
                fp += 1
            elif truth:
                fn += 1
    acc_err = _safe_div(err_hit, err_total)
    acc_ok = _safe_div(ok_hit, ok_total)
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    judged = [p for p in predicted if p is not None]
    return {
        "items": len(items), "erroneous_items": err_total, "correct_items": ok_total,
        "acc_erroneous": acc_err, "acc_correct": acc_ok, "f1": _harmonic(acc_err, acc_ok),
        "step_precision": precision, "step_recall": recall, "step_f1": _harmonic(precision, recall),
        "scored_steps": scored_steps,
        "no_verdict_items": no_verdict,
        "flag_rate": _safe_div(sum(len(p) for p in judged),
                               sum(len(it["steps"]) for it, p in zip(items, predicted) if p is not None)),
    }
