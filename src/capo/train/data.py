"""Training and held-out problems: procedural generators, local files, hub datasets.

Every source yields `Problem(problem, answer, prompt=None)`; `prompt` is set only for verl-schema
rows, whose `prompt` (chat messages) is used as given. Sources (the `data.train` / `data.eval`
strings of the config):

    procedural:arith            multi-step arithmetic word problems (our generator, below)
    procedural:gym:<name>       any reasoning-gym dataset, e.g. procedural:gym:gsm_symbolic
    <file>.jsonl|.json|.parquet verl schema (`prompt` = chat messages, `reward_model.ground_truth`)
                                or plain columns `problem`|`question` + `answer`|`ground_truth`|
                                `final_answer` (a GSM8K "... #### 18" answer gives 18)
    hf:<dataset>[:<config>]     the same columns from the Hugging Face hub (when reachable)

Why our own generator for the default task: the default must train SmolLM2-135M-Instruct on CPU in
minutes, so the problems must be short (2-3 arithmetic steps, small numbers) yet not trivial.
reasoning-gym's word-problem generator (gsm_symbolic) only offers GSM8K difficulty (its config
rejects any other difficulty), on which this model scores about 0%, and its arithmetic generators
(basic_arithmetic, chain_sum) are bare expressions, not word problems. The `arith` generator
below writes templated 2-3 step word problems (+, -, x) with a configurable number range; every
step is an arithmetic claim the `calculator` judge can check. reasoning-gym stays available
through `procedural:gym:<name>`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capo.errors import CapoError
from capo.verify import gsm8k_reference, last_boxed


@dataclass(frozen=True)
class Problem:
    problem: str
    answer: str
    prompt: Any = None  # verl rows: the chat messages as given


# ---------------------------------------------------------------------------------------------
# the procedural generator

_NAMES = ["Sam", "Ana", "Tom", "Mia", "Leo", "Ava", "Ben", "Zoe", "Max", "Eva", "Raj", "Lin"]
_ITEMS = ["apples", "marbles", "stickers", "books", "coins", "cards", "pencils", "cookies", "shells", "stamps"]


def _one_step(rng: random.Random, hi: int) -> tuple[str, int]:
    name, _, item = rng.choice(_NAMES), rng.choice(_NAMES), rng.choice(_ITEMS)  # 2nd draw kept: fixed problem sets
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randint(2, hi), rng.randint(2, hi)
        return f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?", a + b
    if kind == 1:
        a = rng.randint(3, hi)
        b = rng.randint(1, a - 1)
        return f"{name} has {a} {item} and gives {b} of them away. How many {item} does {name} have left?", a - b
    a, b = rng.randint(2, min(hi, 9)), rng.randint(2, min(hi, 9))
    return f"{name} buys {a} bags with {b} {item} in each bag. How many {item} does {name} buy?", a * b


def _two_step(rng: random.Random, hi: int) -> tuple[str, int]:
    name, other, item = rng.choice(_NAMES), rng.choice(_NAMES), rng.choice(_ITEMS)
    while other == name:
        other = rng.choice(_NAMES)
    kind = rng.randrange(5)
    if kind == 0:
        a, b = rng.randint(5, hi), rng.randint(2, hi)
        c = rng.randint(1, min(hi, a + b - 1))
        return (f"{name} has {a} {item}. {name} gets {b} more {item} and then gives {c} {item} to {other}. "
                f"How many {item} does {name} have now?", a + b - c)
    if kind == 1:
        a, b, c = rng.randint(2, min(9, hi)), rng.randint(2, min(12, hi)), rng.randint(1, hi)
        return (f"{name} buys {a} bags with {b} {item} in each bag, and then finds {c} more {item}. "
                f"How many {item} does {name} have in total?", a * b + c)
    if kind == 2:
        a, b = rng.randint(2, min(9, hi)), rng.randint(2, min(12, hi))
        c = rng.randint(1, min(hi, a * b - 1))
        return (f"A box holds {b} {item}. {name} has {a} full boxes and gives away {c} {item}. "
                f"How many {item} does {name} have left?", a * b - c)
    if kind == 3:
        a, b = rng.randint(2, hi), rng.randint(1, hi)
        return (f"{name} has {a} {item}. {other} has {b} more {item} than {name}. "
                f"How many {item} do {name} and {other} have together?", a + (a + b))
    a, b = rng.randint(5, hi), rng.randint(2, 5)
    return (f"{name} has {a} {item}. {other} has {b} times as many {item} as {name}. "
            f"How many {item} do they have together?", a + a * b)


def _three_step(rng: random.Random, hi: int) -> tuple[str, int]:
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    kind = rng.randrange(2)
    if kind == 0:
        a, b, c = rng.randint(2, hi), rng.randint(2, min(6, hi)), rng.randint(2, min(10, hi))
        d = rng.randint(1, min(hi, a + b * c - 1))
        return (f"{name} has {a} {item}. {name} buys {b} packs with {c} {item} in each pack, and then "
                f"gives away {d} {item}. How many {item} does {name} have now?", a + b * c - d)
    other = rng.choice([x for x in _NAMES if x != name])
    a, b, c = rng.randint(2, hi), rng.randint(2, hi), rng.randint(2, 4)
    return (f"{name} has {a} {item} and buys {b} more. {other} has {c} times as many {item} as {name} has now. "
            f"How many {item} does {other} have?", (a + b) * c)


def arith_problems(n: int, seed: int, min_steps: int = 2, max_steps: int = 2, max_number: int = 30,
                   exclude: set[str] | None = None) -> list[Problem]:
    """`n` distinct word problems of `min_steps`..`max_steps` arithmetic steps (1 to 3), numbers up
    to `max_number`, deterministic in `seed`; texts in `exclude` are skipped (held-out split)."""
    if not 1 <= min_steps <= max_steps <= 3:
        raise CapoError(f"config key 'data.generator': arith needs 1 <= min_steps <= max_steps <= 3 "
                        f"(got {min_steps}, {max_steps})")
    if max_number < 5:
        raise CapoError(f"config key 'data.generator.max_number': must be >= 5 (got {max_number})")
    rng = random.Random(f"capo-arith-{seed}")
    seen = set(exclude or ())
    out: list[Problem] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise CapoError(f"the arith generator cannot make {n} distinct problems with max_number={max_number}")
        steps = rng.randint(min_steps, max_steps)
        text, answer = (_one_step, _two_step, _three_step)[steps - 1](rng, max_number)
        if text in seen:
            continue
        seen.add(text)
        out.append(Problem(text, str(answer)))
    return out


def gym_problems(name: str, n: int, seed: int, exclude: set[str] | None = None, **options) -> list[Problem]:
    """Problems from a reasoning-gym dataset (`pip install reasoning-gym`, the [gym] extra)."""
    try:
        import reasoning_gym
    except ImportError:
        raise CapoError("procedural:gym:<name> needs reasoning-gym: pip install 'capo[gym]'") from None
    try:
        ds = reasoning_gym.create_dataset(name, seed=seed, size=n + len(exclude or ()), **options)
    except Exception as err:
        raise CapoError(f"reasoning-gym dataset {name!r}: {err}".splitlines()[0]) from None
    out = []
    for row in ds:
        if exclude and row["question"] in exclude:
            continue
        out.append(Problem(row["question"], str(row["answer"])))
        if len(out) == n:
            break
    return out


def procedural(spec: str, n: int, seed: int, options: dict, exclude: set[str] | None = None) -> list[Problem]:
    name = spec.partition(":")[2]
    if name == "arith":
        allowed = {"min_steps", "max_steps", "max_number"}
        unknown = set(options) - allowed
        if unknown:
            raise CapoError(f"config key 'data.generator.{sorted(unknown)[0]}': unknown option of the arith "
                            f"generator; known: {', '.join(sorted(allowed))}")
        return arith_problems(n, seed, exclude=exclude, **options)
    if name.startswith("gym:") and name[4:]:
        return gym_problems(name[4:], n, seed, exclude=exclude, **options)
    raise CapoError(f"config key 'data.train': unknown generator {spec!r}; use procedural:arith or "
                    f"procedural:gym:<reasoning-gym dataset>")


# ---------------------------------------------------------------------------------------------
# files and the hub

def _text_of(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
        return _text_of(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def problem_from_row(row: dict, where: str) -> Problem:
    """A verl-schema row or a plain problem/answer row -> Problem (CapoError naming the row)."""
    if "prompt" in row and isinstance(row.get("reward_model"), dict):
        prompt = row["prompt"]
        truth = _text_of(row["reward_model"].get("ground_truth"))
        if truth is None:
            raise CapoError(f"{where}: reward_model.ground_truth is missing")
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, dict) for m in prompt):
            messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
        else:
            raise CapoError(f"{where}: `prompt` must be chat messages [{{role, content}}, ...] or a string")
        users = [m["content"] for m in messages if m["role"] == "user"]
        problem = (row.get("extra_info") or {}).get("question") if isinstance(row.get("extra_info"), dict) else None
        return Problem(str(problem or (users[-1] if users else messages[-1]["content"])), truth, messages)
    problem = next((row[k] for k in ("problem", "question", "Question") if row.get(k) is not None), None)
    answer = next((row[k] for k in ("answer", "ground_truth", "final_answer", "target") if row.get(k) is not None),
                  None)
    if answer is None and isinstance(row.get("solution"), str):
        answer = last_boxed(row["solution"])
    if problem is None or answer is None:
        raise CapoError(f"{where}: expected verl columns (prompt, reward_model.ground_truth) or problem/question "
                        f"and answer columns; got {', '.join(sorted(map(str, row)))[:120]}")
    answer = _text_of(answer)
    if isinstance(answer, str) and "####" in answer:
        answer = gsm8k_reference(answer)
    return Problem(str(problem).strip(), answer)


def _file_rows(path: Path) -> list[dict]:
    from capo.eval.benchmarks import read_rows

    if path.suffix.lower() not in (".jsonl", ".json", ".parquet"):
        raise CapoError(f"data file {path}: use a .jsonl, .json or .parquet file")
    return read_rows(path)


def _hub_rows(spec: str, split: str) -> list[dict]:
    from capo.models.hub import hub_offline, hub_reachable

    name, _, config = spec[3:].partition(":")
    if not name:
        raise CapoError(f"data source {spec!r}: expected hf:<dataset>[:<config>]")
    if not hub_offline() and not hub_reachable():
        raise CapoError(f"data source {spec!r}: the Hugging Face hub is unreachable; use a local .jsonl/.parquet file")
    import datasets

    try:
        ds = datasets.load_dataset(name, config or None, split=split)
    except Exception as err:
        raise CapoError(f"data source {spec!r}: {type(err).__name__}: {' '.join(str(err).split())[:160]}") from None
    return [dict(r) for r in ds]


def load_source(spec: str, *, split: str = "train", limit: int | None = None, seed: int = 0,
                generator: dict | None = None, exclude: set[str] | None = None) -> list[Problem]:
    """Problems of one data source (see module docstring)."""
    if spec.startswith("procedural:"):
        if limit is None:
            raise CapoError("config key 'data.train_size': a procedural source needs a size")
        return procedural(spec, limit, seed, dict(generator or {}), exclude)
    if spec.startswith("hf:"):
        rows, where = _hub_rows(spec, split), spec
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise CapoError(f"data file {spec!r}: no such file")
        rows, where = _file_rows(path), str(path)
    problems = [problem_from_row(r, f"{where} row {i}") for i, r in enumerate(rows)
                if not (exclude and str(r.get("problem", r.get("question", ""))).strip() in exclude)]
    if not problems:
        raise CapoError(f"{where}: no problems")
    return problems[:limit] if limit is not None else problems


def load_train_eval(data, seed: int) -> tuple[list[Problem], list[Problem]]:
    """(train, held-out) problems for a `DataSection`; the held-out set never overlaps training."""
    eval_size = data.eval_size
    if data.eval is not None:
        held = load_source(data.eval, split="test", limit=eval_size or None, seed=seed + 1,
                           generator=data.generator) if eval_size else []
        train = load_source(data.train, split=data.split, limit=data.train_size, seed=seed,
                            generator=data.generator, exclude={p.problem for p in held})
        return train, held
    if data.train.startswith("procedural:"):
        held = load_source(data.train, limit=eval_size, seed=seed + 1_000_003, generator=data.generator) \
            if eval_size else []
        train = load_source(data.train, limit=data.train_size, seed=seed, generator=data.generator,
                            exclude={p.problem for p in held})
        return train, held
    rows = load_source(data.train, split=data.split, seed=seed, generator=data.generator)
    if eval_size and len(rows) <= eval_size:
        raise CapoError(f"config key 'data.eval_size': {data.train} has {len(rows)} problems, too few to hold "
                        f"out {eval_size}; set data.eval or a smaller data.eval_size")
    held = rows[len(rows) - eval_size:] if eval_size else []
    train = rows[: len(rows) - eval_size] if eval_size else rows
    if data.train_size is not None:
        train = train[: data.train_size]
    return train, held


def build_prompt(tokenizer, p: Problem, kind: str = "math", system: str | None = None) -> str:
    """The rollout prompt: verl rows' own messages, else the evaluation's template (format_prompt)."""
    if p.prompt is not None:
        messages = ([{"role": "system", "content": system}] if system and p.prompt[0]["role"] != "system" else []) \
            + list(p.prompt)
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages)
    from capo.eval.prompting import format_prompt

    return format_prompt(tokenizer, p.problem, kind=kind, system=system)


def to_dataset(problems: list[Problem], tokenizer, kind: str = "math", system: str | None = None):
    """A datasets.Dataset with the columns TRL and the CAPO trainer read: prompt (text), problem, answer."""
    import datasets

    return datasets.Dataset.from_dict({
        "prompt": [build_prompt(tokenizer, p, kind, system) for p in problems],
        "problem": [p.problem for p in problems],
        "answer": [p.answer for p in problems],
    })
