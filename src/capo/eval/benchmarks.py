"""Benchmark registry and loaders: one `BenchmarkSpec` per benchmark, field mapping defined once.

Every benchmark loads either from the Hugging Face hub by name (the default) or from a local file
or folder (`data=`), and every row, whichever the source, goes through the spec's one `to_item`
function, which maps that benchmark's field names to an `EvalItem`:

    math500        HuggingFaceH4/MATH-500 (test)                problem, answer
    gsm8k          openai/gsm8k, main (test)                    question, answer ("... #### 18")
    aime24         HuggingFaceH4/aime_2024 (train)              problem, answer
    amc23          math-ai/amc23 (test)                         question|problem, answer (27.0 -> "27")
    minerva        math-ai/minervamath (test)                   question|problem, answer or last \\boxed{} of solution
    olympiadbench  Hothan/OlympiadBench, OE_TO_maths_en_COMP    question (+context), final_answer[0] ($ removed)
    arc_challenge  allenai/ai2_arc, ARC-Challenge (test)        question, choices{text,label}, answerKey
    gpqa_diamond   Idavidrein/gpqa, gpqa_diamond (train)        Question, Correct Answer, Incorrect Answer 1-3
                   (options shuffled deterministically from the seed and the question text)
    mmlu_pro       TIGER-Lab/MMLU-Pro (test)                    question, options (<= 10), answer (letter)

Local files: .jsonl, .json (a list, or {"data"|"rows"|"test": [...]}), .parquet, .csv. A folder
is searched for the benchmark's own sub-folder (e.g. `<root>/gsm8k/test.jsonl`, the layout of
the project's shared data folder), then for `<root>/<name>.jsonl`, then for a single data file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo.eval.prompting import LETTERS
from capo.models.hub import hub_offline, hub_reachable
from capo.verify import gsm8k_reference, last_boxed


@dataclass
class EvalItem:
    """One question. `answer` is the reference: a math expression, or an option letter."""

    problem: str
    answer: str
    kind: str = "math"  # "math" | "choice"
    options: list[str] | None = None
    benchmark: str = "custom"
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    kind: str
    hub: str
    config: str | None
    split: str
    to_item: Callable[[dict, int], EvalItem]  # (row, seed) -> item; the field mapping
    local_dirs: tuple[str, ...] = ()
    description: str = ""


BENCHMARKS: dict[str, BenchmarkSpec] = {}
ALIASES: dict[str, str] = {}
GROUPS: dict[str, tuple[str, ...]] = {}


def register(spec: BenchmarkSpec, aliases: Sequence[str] = ()) -> BenchmarkSpec:
    BENCHMARKS[spec.name] = spec
    for alias in aliases:
        ALIASES[alias] = spec.name
    return spec


# ---------------------------------------------------------------- field helpers

class FieldMissing(KeyError):
    pass


def _get(row: dict, *names: str, required: bool = True):
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    if required:
        raise FieldMissing(f"none of the fields {list(names)} in a row with fields {sorted(row)}")
    return None


def _answer_text(value) -> str:
    """A reference answer as text: 27.0 -> "27", lists -> their first element."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _id(row: dict, index_fields: Sequence[str] = ("id", "unique_id", "idx", "ID")) -> str | None:
    value = _get(row, *index_fields, required=False)
    return None if value is None else str(value)


# ---------------------------------------------------------------- math benchmarks

def _math500(row: dict, seed: int) -> EvalItem:
    return EvalItem(problem=_get(row, "problem"), answer=_answer_text(_get(row, "answer")), id=_id(row),
                    meta={k: row[k] for k in ("subject", "level") if k in row})


def _gsm8k(row: dict, seed: int) -> EvalItem:
    return EvalItem(problem=_get(row, "question", "problem"), answer=gsm8k_reference(str(_get(row, "answer"))),
                    id=_id(row))


def _aime(row: dict, seed: int) -> EvalItem:
    return EvalItem(problem=_get(row, "problem", "question", "Problem"),
                    answer=_answer_text(_get(row, "answer", "Answer")), id=_id(row))


def _amc(row: dict, seed: int) -> EvalItem:
    return EvalItem(problem=_get(row, "problem", "question"), answer=_answer_text(_get(row, "answer")), id=_id(row))


def _minerva(row: dict, seed: int) -> EvalItem:
    answer = _get(row, "answer", required=False)
    if answer is None:  # Qwen2.5-Math's file: the reference is the solution's last \boxed{}
        answer = last_boxed(str(_get(row, "solution")))
        if answer is None:
            raise FieldMissing("no 'answer' field and no \\boxed{} in 'solution'")
    return EvalItem(problem=_get(row, "problem", "question"), answer=_answer_text(answer), id=_id(row),
                    meta={"type": row["type"]} if "type" in row else {})


def _olympiad(row: dict, seed: int) -> EvalItem:
    problem = str(_get(row, "question", "problem"))
    context = row.get("context")
    if context:
        problem = f"{str(context).strip()}\n\n{problem}"
    answer = _answer_text(_get(row, "final_answer", "answer")).replace("$", "").strip()
    meta = {k: row[k] for k in ("subfield", "answer_type", "unit", "is_multiple_answer") if row.get(k) is not None}
    return EvalItem(problem=problem, answer=answer, id=_id(row), meta=meta)


# ---------------------------------------------------------------- multiple choice

def _letter_of(index: int, n: int) -> str:
    if not 0 <= index < n:
        raise FieldMissing(f"answer index {index} out of range for {n} options")
    return LETTERS[index]


def _arc(row: dict, seed: int) -> EvalItem:
    question = _get(row, "question")
    if isinstance(question, dict):  # the original ARC jsonl: {"stem", "choices": [{"text","label"}]}
        choices = question.get("choices", [])
        texts = [c["text"] for c in choices]
        labels = [str(c["label"]) for c in choices]
        question = question["stem"]
    else:  # the hub schema: choices = {"text": [...], "label": [...]}
        choices = _get(row, "choices")
        texts, labels = list(choices["text"]), [str(x) for x in choices["label"]]
    key = str(_get(row, "answerKey")).strip()
    if key not in labels:
        raise FieldMissing(f"answerKey {key!r} not among labels {labels}")
    return EvalItem(problem=question, answer=_letter_of(labels.index(key), len(texts)), kind="choice",
                    options=texts, id=_id(row))


def _gpqa(row: dict, seed: int) -> EvalItem:
    question = str(_get(row, "Question", "question")).strip()
    correct = str(_get(row, "Correct Answer", "correct_answer")).strip()
    wrong = [str(_get(row, f"Incorrect Answer {i}", f"incorrect_answer_{i}")).strip() for i in (1, 2, 3)]
    options = [correct, *wrong]
    # Deterministic per question: independent of row order, --limit and the other rows.
    digest = hashlib.sha256(f"{seed}\x00{question}".encode()).hexdigest()
    random.Random(int(digest[:16], 16)).shuffle(options)
    return EvalItem(problem=question, answer=LETTERS[options.index(correct)], kind="choice", options=options,
                    id=_id(row, ("Record ID", "id")), meta={"shuffle_seed": seed})


def _mmlu_pro(row: dict, seed: int) -> EvalItem:
    options = [str(o) for o in _get(row, "options")]
    if not 2 <= len(options) <= len(LETTERS):
        raise FieldMissing(f"{len(options)} options (expected 2 to {len(LETTERS)})")
    answer = _get(row, "answer", required=False)
    if answer is None or str(answer).strip().upper() not in LETTERS[:len(options)]:
        answer = _letter_of(int(_get(row, "answer_index")), len(options))
    return EvalItem(problem=_get(row, "question"), answer=str(answer).strip().upper(), kind="choice",
                    options=options, id=_id(row, ("question_id", "id")),
                    meta={"category": row["category"]} if "category" in row else {})


register(BenchmarkSpec("math500", "math", "HuggingFaceH4/MATH-500", None, "test", _math500, ("math500",),
                       "MATH-500 (500 competition problems, Lightman et al. split)"), ["math-500", "math_500"])
register(BenchmarkSpec("gsm8k", "math", "openai/gsm8k", "main", "test", _gsm8k, ("gsm8k",),
                       "GSM8K test (1319 grade-school word problems)"), ["gsm"])
register(BenchmarkSpec("aime24", "math", "HuggingFaceH4/aime_2024", None, "train", _aime, ("aime24", "aime_2024"),
                       "AIME 2024 (30)"), ["aime", "aime2024", "aime_2024"])
register(BenchmarkSpec("amc23", "math", "math-ai/amc23", None, "test", _amc, ("amc23", "amc"),
                       "AMC 2023 (40)"), ["amc", "amc2023"])
register(BenchmarkSpec("minerva", "math", "math-ai/minervamath", None, "test", _minerva,
                       ("minerva_math", "minerva", "minervamath"), "Minerva math (272)"),
         ["minerva_math", "minervamath"])
register(BenchmarkSpec("olympiadbench", "math", "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train", _olympiad,
                       ("olympiadbench", "olympiad_bench"), "OlympiadBench, open-ended text-only English math (675)"),
         ["olympiad", "olympiad_bench"])
register(BenchmarkSpec("arc_challenge", "choice", "allenai/ai2_arc", "ARC-Challenge", "test", _arc,
                       ("arc_challenge", "ARC-Challenge", "arc"), "ARC-Challenge test (1172, 3-5 options)"),
         ["arc", "arc-challenge", "arc_c"])
register(BenchmarkSpec("gpqa_diamond", "choice", "Idavidrein/gpqa", "gpqa_diamond", "train", _gpqa,
                       ("gpqa_diamond", "gpqa"), "GPQA-Diamond (198, 4 options; gated on the hub)"),
         ["gpqa", "gpqa-diamond"])
register(BenchmarkSpec("mmlu_pro", "choice", "TIGER-Lab/MMLU-Pro", None, "test", _mmlu_pro,
                       ("mmlu_pro", "mmlu-pro", "MMLU-Pro"), "MMLU-Pro test (12032, up to 10 options)"),
         ["mmlu-pro", "mmlupro"])

GROUPS.update({
    "math": ("math500", "gsm8k", "aime24", "amc23", "minerva", "olympiadbench"),
    "choice": ("arc_challenge", "gpqa_diamond", "mmlu_pro"),
})
GROUPS["ood"] = GROUPS["choice"]
GROUPS["all"] = GROUPS["math"] + GROUPS["choice"]


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    if key in BENCHMARKS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise CapoError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)} (groups: {', '.join(GROUPS)})")


def parse_benchmarks(spec: str | Iterable[str]) -> list[str]:
    """"gsm8k,math500" / "math" / "all" -> canonical names, order kept, duplicates dropped."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        for name in GROUPS.get(part.lower(), (part,)):
            name = canonical_name(name)
            if name not in names:
                names.append(name)
    if not names:
        raise CapoError("no benchmark given (e.g. --benchmarks gsm8k,math500)")
    return names


# ---------------------------------------------------------------- local files

DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def read_rows(path: Path) -> list[dict]:
    """Rows of a local data file (.jsonl, .json, .parquet, .csv)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                for key in ("data", "rows", "test", "train", "examples"):
                    if isinstance(data.get(key), list):
                        return data[key]
                raise CapoError(f"{path}: a JSON object without a list of rows ('data', 'rows', 'test')")
            return list(data)
        if suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f))
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
    except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise CapoError(f"cannot read {path}: {err}") from err
    raise CapoError(f"{path}: unsupported data file (use {', '.join(DATA_SUFFIXES)})")


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def find_local_file(spec: BenchmarkSpec, path: str | os.PathLike) -> Path:
    """The data file of `spec` given a file, a benchmark folder or a root holding per-benchmark folders."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise CapoError(f"--data {path}: no such file or folder")
    names = tuple(dict.fromkeys((spec.name, *spec.local_dirs)))
    folders = [path / d for d in names if (path / d).is_dir()]
    for folder in folders:
        files = _data_files(folder)
        for preferred in (spec.split, "test"):
            for f in files:
                if f.stem == preferred:
                    return f
        if len(files) == 1:
            return files[0]
        if files:
            raise CapoError(f"{folder}: several data files ({', '.join(f.name for f in files)}); "
                            f"pass --data {spec.name}=FILE")
    for name in names:
        for suffix in DATA_SUFFIXES:
            if (path / f"{name}{suffix}").is_file():
                return path / f"{name}{suffix}"
    files = _data_files(path)
    if not folders and len(files) == 1 and not any((path / d).is_dir() for d in _all_local_dirs()):
        return files[0]
    raise CapoError(f"--data {path}: no data for {spec.name} (looked for {'/, '.join(names)}/ folders "
                    f"or {spec.name}.jsonl)")


def _all_local_dirs() -> set[str]:
    return {d for s in BENCHMARKS.values() for d in (s.name, *s.local_dirs)}


# ---------------------------------------------------------------- the hub

def load_hub_rows(spec: BenchmarkSpec) -> list[dict]:
    where = spec.hub + (f" ({spec.config})" if spec.config else "")
    # Offline mode: datasets reads its cache only, so no probe.
    if not hub_offline() and not hub_reachable():
        raise CapoError(f"cannot download {spec.name} from the Hugging Face hub ({where}): hub unreachable; "
                        f"pass --data PATH")
    import logging

    import datasets

    for name in ("datasets", "huggingface_hub", "fsspec"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        ds = datasets.load_dataset(spec.hub, spec.config, split=spec.split)
    except Exception as err:  # network, gated repo, missing cache in offline mode ...
        reason = " ".join(str(err).split())[:160]
        raise CapoError(f"cannot download {spec.name} ({where}): {type(err).__name__}: {reason}; "
                        f"pass --data PATH") from err
    return [dict(row) for row in ds]


# ---------------------------------------------------------------- loading

def items_from_rows(spec: BenchmarkSpec, rows: Sequence[dict], *, source: str, seed: int = 0,
                    limit: int | None = None) -> list[EvalItem]:
    items = []
    for i, row in enumerate(rows[:limit] if limit is not None else rows):
        try:
            item = spec.to_item(row, seed)
        except (FieldMissing, KeyError, TypeError, ValueError, IndexError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise CapoError(f"{source}: row {i} is not in {spec.name}'s format: {msg}") from err
        item.benchmark = spec.name
        if item.id is None:
            item.id = str(i)
        item.meta.setdefault("row", i)
        items.append(item)
    return items


def load_benchmark(name: str, data: str | os.PathLike | None = None, *, limit: int | None = None,
                   seed: int = 0) -> list[EvalItem]:
    """The first `limit` items of benchmark `name` (all if None), from `data` or the hub."""
    spec = BENCHMARKS[canonical_name(name)]
    if limit is not None and limit < 1:
        raise CapoError(f"--limit must be at least 1, got {limit}")
    if data is not None:
        path = find_local_file(spec, data)
        rows, source = read_rows(path), str(path)
    else:
        rows, source = load_hub_rows(spec), spec.hub
    items = items_from_rows(spec, rows, source=source, seed=seed, limit=limit)
    if not items:
        raise CapoError(f"{source}: no items for {spec.name}")
    return items


def parse_data_args(values: Sequence[str] | None, names: Sequence[str]) -> dict[str, str | None]:
    """--data values ("PATH" for every benchmark, or "name=PATH") -> {benchmark: path or None}."""
    default: str | None = None
    per: dict[str, str] = {}
    for value in values or ():
        key, sep, rest = value.partition("=")
        if sep and key.strip() and not Path(value).exists():
            per[canonical_name(key)] = rest
        else:
            if default is not None:
                raise CapoError("--data PATH given twice; use --data NAME=PATH for per-benchmark files")
            default = value
    unused = set(per) - set(names)
    if unused:
        raise CapoError(f"--data for {', '.join(sorted(unused))}, which is not in --benchmarks")
    return {n: per.get(n, default) for n in names}


def coerce_items(items: Iterable, benchmark: str = "custom") -> list[EvalItem]:
    """In-memory items for `evaluate`: EvalItem, (problem, answer) pairs or dicts with those keys
    (optional kind, options, benchmark, id)."""
    out = []
    for i, it in enumerate(items):
        if isinstance(it, EvalItem):
            item = it
        elif isinstance(it, dict):
            item = EvalItem(problem=str(it.get("problem", it.get("question"))), answer=_answer_text(it["answer"]),
                            kind=it.get("kind", "math"), options=it.get("options"),
                            benchmark=it.get("benchmark", benchmark), id=it.get("id"),
                            meta=dict(it.get("meta", {})))
        elif isinstance(it, (tuple, list)) and len(it) == 2:
            item = EvalItem(problem=str(it[0]), answer=_answer_text(it[1]), benchmark=benchmark)
        else:
            raise TypeError(f"item {i}: expected EvalItem, dict or (problem, answer), got {type(it).__name__}")
        if item.kind not in ("math", "choice"):
            raise ValueError(f"item {i}: kind must be 'math' or 'choice', got {item.kind!r}")
        if item.kind == "choice" and not item.options:
            raise ValueError(f"item {i}: a multiple-choice item needs options")
        if item.id is None:
            item.id = str(i)
        out.append(item)
    return out
