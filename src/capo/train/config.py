"""The `capo train` configuration: one dataclass tree, loaded from YAML, validated, overridable.

    config = load_config("configs/paper-qwen2.5-1.5b.yaml", ["trl.learning_rate=2e-6", "capo.vote=majority"])

Sections (each a dataclass below; every field has a `help`):
    algorithm, seed     capo | grpo | genorm; the one seed of the run
    model               the policy (a folder, a hub id or "smollm2"), dtype, LoRA
    data                training / held-out data (procedural generator, JSONL, parquet, hub), prompt kind
    capo                CAPO's credit settings (C, P, vote, N critiques, which responses are critiqued)
    judge               the GenPRM judge (spec as `capo critique --judge`, sampling, server)
    run                 the run directory: checkpoints, evaluations, plots, progress bar
    trl                 passed through to TRL's GRPOConfig (learning rate, batch, G, lengths, loss,
                        vLLM rollout options, ...); any GRPOConfig field, checked against its type

Loading is strict: an unknown key or a bad value raises CapoError with one line naming the key,
e.g. "config key 'capo.vote': must be one of union, intersection, majority, average (got 'mean')".
The embedded default (capo/configs/default.yaml) is the CPU demo that `capo train` runs with no
arguments; a user file is merged over it key by key, then command-line overrides `a.b=value`
(values in YAML syntax) are applied on top.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import re

import yaml

from capo.errors import CapoError


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-5` as a string; accept it (and 1E5, .5e-3) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)

ALGORITHMS = ("capo", "grpo", "genorm")
VOTES = ("union", "intersection", "majority", "average")
CRITIQUE_WHICH = ("all", "incorrect", "correct")
# GRPOConfig fields that `capo train` owns (set from other sections): rejected in `trl:`.
TRL_MANAGED = {
    "output_dir": "run.output_dir",
    "seed": "seed",
    "data_seed": "seed",
    "save_steps": "run.save_steps",
    "save_total_limit": "run.save_total_limit",
    "save_strategy": "run.save_steps",
    "logging_steps": "(every step is logged)",
    "logging_strategy": "(every step is logged)",
    "logging_dir": "run.report_to (tensorboard writes to <run>/tensorboard)",
    "report_to": "run.report_to",
    "disable_tqdm": "run.progress",
    "resume_from_checkpoint": "the --resume option",
}


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


@dataclass
class ModelSection:
    name_or_path: str = _help("policy: a local folder, a hub id, or 'smollm2' (offline SmolLM2-135M-Instruct)",
                              default="smollm2")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _help(
        "weights dtype; auto: bfloat16 on a GPU that supports it, else float32 weights with bf16 autocast on CPUs with native bf16", default="auto")
    lora: bool = _help("train a LoRA adapter (peft) instead of all weights", default=False)
    lora_r: int = _help("LoRA rank", default=16)
    lora_alpha: int = _help("LoRA alpha", default=32)
    lora_dropout: float = _help("LoRA dropout", default=0.05)
    lora_target_modules: str | list[str] = _help("LoRA target modules ('all-linear' or a list)", default="all-linear")


@dataclass
class DataSection:
    train: str = _help(
        "training data: procedural:<arith|gsm_symbolic|...> (generated), a .jsonl/.json/.parquet file "
        "(verl schema `prompt` + `reward_model.ground_truth`, or `problem`/`question` + `answer` columns), "
        "or hf:<dataset>[:<config>] (the hub, when reachable)", default="procedural:arith")
    split: str = _help("split of an hf: dataset", default="train")
    eval: str | None = _help(
        "held-out problems for the before/after evaluation (same forms as `train`); null: a disjoint "
        "held-out set from the procedural generator, or the last eval_size rows of the training file",
        default=None)
    eval_size: int = _help("held-out problems evaluated before and after training (0: no evaluation)",
                           default=100)
    train_size: int | None = _help("use at most this many training problems (procedural: how many to generate)",
                                   default=2000)
    kind: Literal["math"] = _help("answer kind: math (final answer in \\boxed{}, checked by math-verify)",
                                  default="math")
    system_prompt: str | None = _help("optional system message of the prompt template", default=None)
    generator: dict[str, Any] = _help(
        "options of the procedural generator (arith: min_steps, max_steps, max_number)", default_factory=dict)


@dataclass
class CapoSection:
    C: float = _help("W_whole: token reward C * r_v for the outcome", default=2.0)
    P: float = _help("W_process: penalty P * w on tokens of steps the judges flag", default=1.0)
    vote: Literal["union", "intersection", "majority", "average"] = _help(
        "how N critiques are combined per step", default="intersection")
    num_critiques: int = _help("N: critiques sampled per response (genorm: outcome verdicts)", default=4)
    min_valid: int = _help("fewer parsed critiques than this: no process penalty for the response", default=1)
    critique: Literal["all", "incorrect", "correct"] = _help(
        "which responses are sent to the judge (by their outcome r_v)", default="all")
    splitter: str = _help("step splitter: paragraph | line | marker:<regex>", default="paragraph")
    separators: Literal["outside", "next"] = _help(
        "tokens between steps (blank lines): outside = no step, reward C*r_v only (the paper); next = they "
        "take the step they open, so a flagged step's separator is penalized too (closes the exploit the "
        "lab found: docs/results/lab)", default="outside")
    process_groups: Literal["all", "with_correct"] = _help(
        "groups whose responses get the process penalty: all (the paper) | with_correct = only groups "
        "holding a correct response (in an all-wrong group the penalty would otherwise reward saying "
        "nothing the judge can flag)", default="all")
    penalty: Literal["token", "response"] = _help(
        "shape of the process penalty: token = -P on every token of a flagged step (the paper) | "
        "response = a flagged response loses P on average whatever its length or step count, flagged "
        "tokens still P below its unflagged ones (padding cannot dilute the penalty)", default="token")
    unjudgeable: Literal["ignore", "flagged"] = _help(
        "a judged wrong response (r_v = 0) with zero steps, or in which the judge found nothing to check "
        "(the calculator: no arithmetic claim): ignore = no penalty (the paper) | flagged = every token "
        "penalized as a wrong step", default="ignore")
    reference_in_prompt: bool = _help("show the reference answer to the judge", default=True)
    eps: float = _help("epsilon of the token-group normalization", default=1e-6)


@dataclass
class JudgeSection:
    spec: str = _help("calculator | hf:<model folder or smollm2> | openai:<model>", default="calculator")
    base_url: str | None = _help("OpenAI-compatible server for openai:<model>", default=None)
    api_key_env: str | None = _help("environment variable holding the API key (openai)", default=None)
    temperature: float = _help("judge sampling temperature (0: greedy)", default=0.7)
    top_p: float = _help("judge top-p", default=0.95)
    max_tokens: int = _help("max tokens per critique", default=1024)
    seed: int | None = _help("judge sampling seed", default=None)
    concurrency: int = _help("openai: requests in flight", default=32)
    timeout: float = _help("openai: seconds per request", default=120.0)
    retries: int = _help("openai: retries on transient errors", default=4)
    deadline: float | None = _help("seconds per judge batch; unanswered critiques count as failures",
                                   default=None)
    batch_size: int = _help("hf: sequences per generate call", default=8)
    cache: str | None = _help("critique cache file (null: no cache)", default=None)
    prompt_template: str | None = _help("file with a critique template ({problem}, {reference_block}, "
                                        "{steps_block}); null: the built-in one", default=None)
    parse_mode: Literal["strict", "lenient"] = _help(
        "strict: only the template's own `Wrong step list: [..]` line counts (a student cannot plant "
        "another form); lenient: also boxed, JSON, a bare list, 'all steps are correct'", default="strict")
    overlap: bool = _help(
        "capo: send the step critiques as soon as the completions exist and let TRL compute the old/"
        "reference log-probs meanwhile; same critiques, same advantages (judge/wait_seconds: the part not "
        "hidden)", default=True)
    structured_verdicts: bool = _help(
        "openai: constrain each critique to end with a parsable verdict line (server structured outputs; "
        "vLLM); servers without support are detected, logged once, and sent unconstrained requests",
        default=False)


@dataclass
class RunSection:
    output_dir: str = _help("run directory (checkpoints, metrics, plots, summary)", default="runs/capo-default")
    save_steps: int = _help("checkpoint every K optimizer steps", default=10)
    save_total_limit: int | None = _help("keep at most this many checkpoints (null: all)", default=2)
    eval_before: bool = _help("evaluate the held-out set before training", default=True)
    eval_after: bool = _help("evaluate the held-out set after training", default=True)
    eval_max_new_tokens: int = _help("max new tokens of the greedy evaluation", default=256)
    eval_batch_size: int = _help("sequences per generate call in the evaluation", default=50)
    report_to: list[str] | str = _help(
        "trackers TRL reports every step's metrics to (judge telemetry included), through its own integrations: "
        "tensorboard (<run>/tensorboard), trackio (local, $TRACKIO_DIR), wandb (offline in <run>/wandb unless "
        "WANDB_MODE is set), any other transformers integration; one name or a list; [] or none: no tracker",
        default_factory=lambda: ["tensorboard"])
    tensorboard: bool | None = _help(
        "old switch, an alias: true adds tensorboard to run.report_to, false removes it; null: run.report_to decides",
        default=None)
    plots: bool = _help("write training-curve PNGs at the end", default=True)
    progress: bool = _help("show a live progress bar", default=True)
    log_completions: int = _help("write this many sample completions per step to completions.jsonl",
                                 default=2)
    rollout_groups: int = _help(
        "prompt groups (all G responses each) written per recorded step to rollouts.jsonl for `capo view`: "
        "steps, per-step votes, the N raw critiques, r_v, token advantages (about 17 kB per step at G = 8 with "
        "the calculator judge, 77 kB with 1 kB LLM critiques; 0: no record)", default=2)
    rollouts_every: int = _help("record rollouts every K-th optimizer step (rollouts.jsonl)", default=1)
    skip_zero_gradient_steps: bool = _help(
        "skip the optimizer step when the whole gradient is exactly zero (every advantage 0 and no KL): "
        "otherwise Adam's momentum keeps moving the weights on steps without learning signal "
        "(capo/train/zero_gradient.py)", default=True)


@dataclass
class TrainConfig:
    algorithm: Literal["capo", "grpo", "genorm"] = _help(
        "capo: token-level credit from judge critiques; grpo: GRPO-Rule (outcome only); "
        "genorm: GRPO-GenORM (the judge decides final-answer correctness, N votes, majority)", default="capo")
    seed: int = _help("seed of data generation, shuffling, sampling and initialization", default=0)
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    capo: CapoSection = field(default_factory=CapoSection)
    judge: JudgeSection = field(default_factory=JudgeSection)
    run: RunSection = field(default_factory=RunSection)
    trl: dict[str, Any] = _help("GRPOConfig fields passed to TRL (learning_rate, num_generations, ...)",
                                default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------------------------
# loading


def default_config_text() -> str:
    return resources.files("capo").joinpath("configs/default.yaml").read_text(encoding="utf-8")


def _read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CapoError(f"config file {p}: no such file")
    try:
        data = _yaml(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise CapoError(f"config file {p}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CapoError(f"config file {p}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "generator":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b=value' -> (['a', 'b'], value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise CapoError(f"override {text!r}: expected key=value, e.g. trl.learning_rate=1e-5")
    try:
        value = _yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = _merge({}, data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise CapoError(f"override {text!r}: config key {part!r} is not a section")
            else:
                child = node[part] = dict(child)
            node = child
        node[path[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict | None = None) -> TrainConfig:
    """Embedded default <- `base` (e.g. a resumed run's saved config) <- YAML file <- overrides."""
    data = _yaml(default_config_text()) or {}
    if base is not None:
        data = _merge(data, base)
    if path is not None:
        data = _merge(data, _read_yaml(path))
    data = apply_overrides(data, overrides or [])
    config = from_dict(data)
    validate(config)
    return config


def from_dict(data: dict) -> TrainConfig:
    return _build(TrainConfig, data, "")


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise CapoError(f"config key {prefix.rstrip('.') or '<top>'!r}: must be a mapping of keys, "
                        f"got {_show(data)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {prefix + close[0]!r}?)" if close else f"; known keys: {', '.join(names)}"
            raise CapoError(f"config key {prefix + str(key)!r}: unknown key{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, f"{prefix}{key}.")
        else:
            kwargs[key] = check_type(value, tp, prefix + key)
    return cls(**kwargs)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def check_type(value: Any, tp, key: str) -> Any:
    """Return `value` (ints widened to float where a float is expected) if it fits type `tp`,
    else raise CapoError naming `key`."""
    ok, out = _fits(value, tp)
    if not ok:
        raise CapoError(f"config key {key!r}: must be {_type_name(tp)} (got {_show(value)})")
    return out


def _fits(value: Any, tp) -> tuple[bool, Any]:
    if tp is Any or tp is object:
        return True, value
    if tp is type(None) or tp is None:
        return value is None, value
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp) and not isinstance(value, bool), value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, out = _fits(value, arg)
            if ok:
                return True, out
        return False, value
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(tp)
        if args and args[0] is not Ellipsis:
            items = [_fits(v, args[0]) for v in value]
            if not all(ok for ok, _ in items):
                return False, value
            return True, [v for _, v in items]
        return True, list(value)
    if origin is dict or tp is dict:
        return isinstance(value, dict), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = {m.value for m in tp} | set(tp.__members__)
        return value in values, value
    if isinstance(tp, type):
        return isinstance(value, tp), value
    return True, value  # an annotation we do not model: let the consumer check it


def _positive(key: str, value, allow_zero: bool = False):
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise CapoError(f"config key {key!r}: must be {'>= 0' if allow_zero else '> 0'} (got {value})")


def validate(config: TrainConfig) -> None:
    """Value checks beyond types; one line naming the key on the first problem."""
    c = config
    _positive("capo.num_critiques", c.capo.num_critiques)
    _positive("capo.min_valid", c.capo.min_valid)
    if c.capo.min_valid > c.capo.num_critiques:
        raise CapoError(f"config key 'capo.min_valid': must be <= capo.num_critiques "
                        f"({c.capo.min_valid} > {c.capo.num_critiques})")
    _positive("capo.C", c.capo.C, allow_zero=True)
    _positive("capo.P", c.capo.P, allow_zero=True)
    _positive("capo.eps", c.capo.eps)
    if c.algorithm == "capo" and c.capo.P > c.capo.C:
        raise CapoError(f"config key 'capo.P': must be <= capo.C so that a correct answer with a flagged step "
                        f"still beats any wrong answer (got P={c.capo.P} > C={c.capo.C})")
    try:
        from capo.steps import compile_splitter

        compile_splitter(c.capo.splitter)
    except ValueError as err:
        raise CapoError(f"config key 'capo.splitter': {err}") from None
    _positive("data.eval_size", c.data.eval_size, allow_zero=True)
    _positive("data.train_size", c.data.train_size)
    for key in ("train", "eval"):
        value = getattr(c.data, key)
        if value is not None and not value.strip():
            raise CapoError(f"config key 'data.{key}': must not be empty")
    _positive("run.save_steps", c.run.save_steps)
    _positive("run.save_total_limit", c.run.save_total_limit)
    _positive("run.eval_max_new_tokens", c.run.eval_max_new_tokens)
    _positive("run.eval_batch_size", c.run.eval_batch_size)
    _positive("run.log_completions", c.run.log_completions, allow_zero=True)
    _positive("run.rollout_groups", c.run.rollout_groups, allow_zero=True)
    _positive("run.rollouts_every", c.run.rollouts_every)
    from capo.train.tracking import check_trackers

    check_trackers(c.run)
    _positive("judge.max_tokens", c.judge.max_tokens)
    _positive("judge.concurrency", c.judge.concurrency)
    _positive("judge.timeout", c.judge.timeout)
    _positive("judge.retries", c.judge.retries, allow_zero=True)
    _positive("judge.deadline", c.judge.deadline)
    _positive("judge.batch_size", c.judge.batch_size)
    _positive("judge.temperature", c.judge.temperature, allow_zero=True)
    if not 0 < c.judge.top_p <= 1:
        raise CapoError(f"config key 'judge.top_p': must be in (0, 1] (got {c.judge.top_p})")
    if not c.judge.spec.strip():
        raise CapoError("config key 'judge.spec': must not be empty")
    if c.judge.prompt_template is not None and not Path(c.judge.prompt_template).is_file():
        raise CapoError(f"config key 'judge.prompt_template': no such file {c.judge.prompt_template!r}")
    _positive("model.lora_r", c.model.lora_r)
    if not c.model.name_or_path.strip():
        raise CapoError("config key 'model.name_or_path': must not be empty")
    validate_trl(c.trl)


# GRPOConfig fields that TRL checks only deep inside training: checked here up front.
TRL_CHOICES = {
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none"),
    "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
    "vllm_mode": ("server", "colocate"),
    "importance_sampling_level": ("token", "sequence"),
}


def trl_field_types() -> dict[str, Any]:
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(GRPOConfig) if f.init}


def validate_trl(trl: dict[str, Any]) -> None:
    """Keys must be GRPOConfig fields (not ones `capo train` manages), values of the field's type."""
    fields = trl_field_types()
    for key, value in trl.items():
        if key in TRL_MANAGED:
            raise CapoError(f"config key 'trl.{key}': set by capo train; use {TRL_MANAGED[key]} instead")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean 'trl.{close[0]}'?)" if close else ""
            raise CapoError(f"config key 'trl.{key}': not a field of TRL's GRPOConfig{hint}")
        trl[key] = check_type(value, fields[key], f"trl.{key}")
        if key in TRL_CHOICES and trl[key] not in TRL_CHOICES[key]:
            raise CapoError(f"config key 'trl.{key}': must be one of {', '.join(TRL_CHOICES[key])} "
                            f"(got {_show(trl[key])})")
    for key in ("learning_rate", "per_device_train_batch_size", "num_generations", "max_completion_length",
                "gradient_accumulation_steps", "steps_per_generation", "num_iterations"):
        if key in trl and trl[key] is not None:
            _positive(f"trl.{key}", trl[key])
    if "max_steps" in trl and trl["max_steps"] is not None and trl["max_steps"] == 0:
        raise CapoError("config key 'trl.max_steps': must be > 0 (or -1: as many as the epochs give)")
    if "temperature" in trl:
        _positive("trl.temperature", trl["temperature"])
    if "beta" in trl:
        _positive("trl.beta", trl["beta"], allow_zero=True)
    if trl.get("reward_weights") is not None and len(trl["reward_weights"]) != 1:
        raise CapoError("config key 'trl.reward_weights': capo train has one reward function (the verifier), "
                        f"so one weight (got {len(trl['reward_weights'])})")


def describe_keys(config: TrainConfig | None = None) -> str:
    """Every key with the value a run uses and its help, for `capo train --list-keys`: the embedded
    default merged into the dataclasses (one source of defaults), or `config` (a file + overrides)."""
    config = config if config is not None else load_config()
    lines = []

    def walk(cls, node, prefix):
        for f in dataclasses.fields(cls):
            tp = typing.get_type_hints(cls)[f.name]
            value = getattr(node, f.name)
            if dataclasses.is_dataclass(tp):
                walk(tp, value, f"{prefix}{f.name}.")
                continue
            if f.name == "trl":
                for key in sorted(value):
                    lines.append(f"trl.{key} = {value[key]!r}\n    passed to trl.GRPOConfig")
                continue
            lines.append(f"{prefix}{f.name} = {value!r}\n    {f.metadata.get('help', '')}")

    walk(TrainConfig, config, "")
    lines.append("trl.<field> = any other field of trl.GRPOConfig except "
                 + ", ".join(sorted(TRL_MANAGED)) + " (set by capo train)")
    return "\n".join(lines)
