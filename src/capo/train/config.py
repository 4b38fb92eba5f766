"""The `capo train` configuration: one dataclass tree, loaded from YAML, validated, overridable.

    config = load_config("configs/paper-qwen2.5-1.5b.yaml", ["trl.learning_rate=2e-6", "capo.vote=majority"])

Sections (each a dataclass below; every field has a `help`, which `capo train --list-keys` prints):
    algorithm, seed     capo | grpo | genorm; the one seed of the run
    model               the policy (a folder, a hub id or "smollm2"), dtype, LoRA
    data                training / held-out data (procedural generator, JSONL, parquet, hub), prompt kind
    capo                CAPO's credit settings (C, P, vote, N critiques, which responses are critiqued)
    judge               the GenPRM judge (spec as `capo critique --judge`, sampling, server)
    run                 the run directory: checkpoints, evaluations, plots, progress bar
    trl                 passed through to TRL's GRPOConfig (learning rate, batch, G, lengths, loss,
                        vLLM rollout options, ...); any GRPOConfig field, checked against its type

Sources, later ones winning key by key: the embedded default (capo/configs/default.yaml, the CPU
demo that `capo train` runs with no arguments; the dataclass defaults only fill keys it leaves
out), a user YAML file, then command-line overrides `a.b=value` (values in YAML syntax).

Types and ranges are checked by pydantic (strict: no "4" for an int, no 4.5 for an int, ints
widen to floats) against the annotations below, TRL's keys against GRPOConfig's own annotations;
`validate` holds the checks that involve several keys or the file system. Every problem is one
CapoError line naming the key, e.g.
"config key 'capo.vote': must be 'union', 'intersection', 'majority' or 'average' (got 'mean')".
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, \
    TypeAdapter, ValidationError, with_config

from capo.errors import CapoError
from capo.judges.options import DEFAULTS as JUDGE_DEFAULTS


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


# Every section: unknown keys are errors, and no value is coerced from another type.
_STRICT = with_config(ConfigDict(strict=True, extra="forbid"))
UnitInterval = Annotated[float, Field(gt=0, le=1)]

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


@_STRICT
@dataclass
class ModelSection:
    name_or_path: str = _help("policy: a local folder, a hub id, or 'smollm2' (offline SmolLM2-135M-Instruct)",
                              default="smollm2")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _help(
        "weights dtype; auto: bfloat16 on a GPU that supports it, else float32 weights with bf16 autocast on CPUs with native bf16", default="auto")
    lora: bool = _help("train a LoRA adapter (peft) instead of all weights", default=False)
    lora_r: PositiveInt = _help("LoRA rank", default=16)
    lora_alpha: int = _help("LoRA alpha", default=32)
    lora_dropout: float = _help("LoRA dropout", default=0.05)
    lora_target_modules: str | list[str] = _help("LoRA target modules ('all-linear' or a list)", default="all-linear")


@_STRICT
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
    eval_size: NonNegativeInt = _help(
        "held-out problems evaluated before and after training (0: no evaluation)", default=100)
    train_size: PositiveInt | None = _help(
        "use at most this many training problems (procedural: how many to generate)", default=2000)
    kind: Literal["math"] = _help("answer kind: math (final answer in \\boxed{}, checked by math-verify)",
                                  default="math")
    system_prompt: str | None = _help("optional system message of the prompt template", default=None)
    generator: dict[str, Any] = _help(
        "options of the procedural generator (arith: min_steps, max_steps, max_number)", default_factory=dict)


# The exploit guards (docs/training.md#exploit-guards): the paper's rule first, then the guard.
GUARD_HELP = {
    "separators": "tokens between steps (blank lines): outside = no step, reward C*r_v only (the paper); "
                  "next = they take the step they open, so a flagged step's separator is penalized too "
                  "(closes the exploit the lab found: docs/results/lab) | next_and_last = also the tokens after "
                  "the last step (EOS) take the last step (closes the stop-early push of process_groups=all)",
    "process_groups": "groups whose responses get the process penalty: all (the paper) | with_correct = only "
                      "groups holding a correct response (in an all-wrong group the penalty would otherwise "
                      "reward saying nothing the judge can flag)",
    "penalty": "shape of the process penalty: token = -P on every token of a flagged step (the paper) | "
               "response = a flagged response loses P on average whatever its length or step count, "
               "flagged tokens still P below its unflagged ones (padding cannot dilute the penalty)",
    "unjudgeable": "a judged wrong response (r_v = 0) with zero steps, or in which the judge found nothing "
                   "to check (the calculator: no arithmetic claim): ignore = no penalty (the paper) | "
                   "flagged = every token penalized as a wrong step",
}


# The paper's credit rule: each exploit guard at its first value (configs/paper-*.yaml).
PAPER_RULE = {"separators": "outside", "process_groups": "all", "penalty": "token", "unjudgeable": "ignore"}


@_STRICT
@dataclass
class CapoSection:
    # The exploit guards default to `capo train`'s choice, so that the trainer used as a library
    # (CreditSettings()) is not open to the exploits the paper's rule invites; the paper's rule
    # is each guard's first value (configs/paper-*.yaml set it).
    C: NonNegativeFloat = _help("W_whole: token reward C * r_v for the outcome", default=2.0)
    P: NonNegativeFloat = _help("W_process: penalty P * w on tokens of steps the judges flag", default=1.0)
    vote: Literal["union", "intersection", "majority", "average"] = _help(
        "how N critiques are combined per step", default="intersection")
    num_critiques: PositiveInt = _help("N: critiques sampled per response (genorm: outcome verdicts)", default=4)
    min_valid: PositiveInt = _help("fewer parsed critiques than this: no process penalty for the response", default=1)
    critique: Literal["all", "incorrect", "correct"] = _help(
        "which responses are sent to the judge (by their outcome r_v)", default="all")
    splitter: str = _help("step splitter: paragraph | line | marker:<regex>", default="paragraph")
    separators: Literal["outside", "next", "next_and_last"] = _help(GUARD_HELP["separators"], default="next_and_last")
    process_groups: Literal["all", "with_correct"] = _help(GUARD_HELP["process_groups"], default="all")
    penalty: Literal["token", "response"] = _help(GUARD_HELP["penalty"], default="token")
    unjudgeable: Literal["ignore", "flagged"] = _help(GUARD_HELP["unjudgeable"], default="flagged")
    reference_in_prompt: bool = _help("show the reference answer to the judge", default=True)
    eps: PositiveFloat = _help("epsilon of the token-group normalization", default=1e-6)

    def credit_config(self):
        """The pure core's settings (capo.credit.CreditConfig) for these credit settings."""
        from capo.credit import CreditConfig  # torch: only when training

        return CreditConfig(self.C, self.P, self.vote, self.min_valid, self.eps, self.process_groups,
                            self.penalty, self.unjudgeable)


@_STRICT
@dataclass
class JudgeSection:
    spec: str = _help("calculator | hf:<model folder or smollm2> | openai:<model>", default="calculator")
    base_url: str | None = _help("OpenAI-compatible server for openai:<model>", default=None)
    api_key_env: str | None = _help("environment variable holding the API key (openai)", default=None)
    temperature: NonNegativeFloat = _help("judge sampling temperature (0: greedy)",
                                          default=JUDGE_DEFAULTS["temperature"])
    top_p: UnitInterval = _help("judge top-p", default=JUDGE_DEFAULTS["top_p"])
    max_tokens: PositiveInt = _help("max tokens per critique", default=JUDGE_DEFAULTS["max_tokens"])
    seed: int | None = _help("judge sampling seed", default=None)
    concurrency: PositiveInt = _help("openai: requests in flight", default=JUDGE_DEFAULTS["concurrency"])
    timeout: PositiveFloat = _help("openai: seconds per request", default=JUDGE_DEFAULTS["timeout"])
    retries: NonNegativeInt = _help("openai: retries on transient errors", default=JUDGE_DEFAULTS["retries"])
    deadline: PositiveFloat | None = _help(
        "seconds per judge batch; unanswered critiques count as failures", default=None)
    batch_size: PositiveInt = _help("hf: sequences per generate call",
                                    default=JUDGE_DEFAULTS["batch_size"])
    cache: str | None = _help("critique cache file (null: no cache)", default=None)
    prompt_template: str | None = _help("file with a critique template ({problem}, {reference_block}, "
                                        "{steps_block}); null: the built-in one", default=None)
    parse_mode: Literal["strict", "lenient"] = _help(
        "strict: only the template's own `Wrong step list: [..]` line counts (a student cannot plant "
        "another form); lenient: also boxed, JSON, a bare list, 'all steps are correct'",
        default=JUDGE_DEFAULTS["parse_mode"])
    overlap: bool = _help(
        "capo: send the step critiques as soon as the completions exist and let TRL compute the old/"
        "reference log-probs meanwhile; same critiques, same advantages (judge/wait_seconds: the part not "
        "hidden)", default=True)
    structured_verdicts: bool = _help(
        "constrain each critique to end with a parsable verdict line: openai judges through the server's "
        "structured outputs (vLLM; servers without support are detected, logged once, and sent "
        "unconstrained requests), hf judges through a logits processor",
        default=False)


@_STRICT
@dataclass
class RunSection:
    output_dir: str = _help("run directory (checkpoints, metrics, plots, summary)", default="runs/capo-default")
    save_steps: PositiveInt = _help("checkpoint every K optimizer steps", default=10)
    save_total_limit: PositiveInt | None = _help("keep at most this many checkpoints (null: all)", default=2)
    eval_before: bool = _help("evaluate the held-out set before training", default=True)
    eval_after: bool = _help("evaluate the held-out set after training", default=True)
    eval_max_new_tokens: PositiveInt = _help("max new tokens of the greedy evaluation", default=256)
    eval_batch_size: PositiveInt = _help("sequences per generate call in the evaluation", default=50)
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
    log_completions: NonNegativeInt = _help(
        "write this many sample completions per step to completions.jsonl", default=2)
    rollout_groups: NonNegativeInt = _help(
        "prompt groups (all G responses each) written per recorded step to rollouts.jsonl for `capo view`: "
        "steps, per-step votes, the N raw critiques, r_v, token advantages (about 17 kB per step at G = 8 with "
        "the calculator judge, 77 kB with 1 kB LLM critiques; 0: no record)", default=2)
    rollouts_every: PositiveInt = _help("record rollouts every K-th optimizer step (rollouts.jsonl)", default=1)
    skip_zero_gradient_steps: bool = _help(
        "skip the optimizer step when the whole gradient is exactly zero (every advantage 0 and no KL): "
        "otherwise Adam's momentum keeps moving the weights on steps without learning signal "
        "(capo/train/zero_gradient.py)", default=True)


@_STRICT
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
    """`extra` over `base`, key by key inside sections; data.generator is replaced whole (its keys
    depend on the generator), and an empty section (`capo:` with every line commented out) changes nothing."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(out.get(key), dict) and key != "generator" and (value is None or isinstance(value, dict)):
            out[key] = _merge(out[key], value or {})
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
    """Each 'a.b=value' sets one key (also inside data.generator), creating sections as needed."""
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


# ---------------------------------------------------------------------------------------------
# types and ranges: pydantic against the annotations


@functools.cache
def _adapter(tp) -> TypeAdapter:
    return TypeAdapter(tp, config=None if dataclasses.is_dataclass(tp) else ConfigDict(strict=True))


def _validate(tp, data: Any, prefix: str = ""):
    """`data` as an instance of `tp`, or CapoError naming the key of the first problem. The data is
    what YAML reads, i.e. JSON data, so it is validated as JSON: strict, yet a mapping may stand for
    a dataclass (a date YAML reads becomes its text)."""
    try:
        return _adapter(tp).validate_json(json.dumps(data, default=str))
    except ValidationError as err:
        raise CapoError(_one_line(err, tp, prefix)) from None


def _one_line(err: ValidationError, tp, prefix: str) -> str:
    errors = err.errors()
    first = errors[0]
    if first["type"] == "unexpected_keyword_argument":
        *section, name = first["loc"]
        known = [f.name for f in dataclasses.fields(_section(tp, section))]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {'.'.join([*section, close[0]])!r}?)" if close else f"; known keys: {', '.join(known)}"
        return f"config key {'.'.join([*section, name])!r}: unknown key{hint}"
    keys = _keys(tp, first["loc"])
    where = ".".join(filter(None, [prefix, *keys]))
    # a union reports one error per member: "must be a valid string or a list"
    same = [e["msg"] for e in errors if e["loc"][:len(keys)] == first["loc"][:len(keys)]]
    what = " or ".join(dict.fromkeys(m.replace("Input should be ", "") for m in same))
    for json_word, yaml_word in (("an object", "a mapping of keys"), ("a valid array", "a list")):
        what = what.replace(json_word, yaml_word)
    return f"config key {where or '<top>'!r}: must be {what} (got {_show(first['input'])})"


def _keys(tp, loc: tuple) -> list[str]:
    """The config keys at the start of a pydantic error location (the rest names union members
    or list items): section fields, then one key of a mapping field (data.generator, trl)."""
    keys = []
    for part in loc:
        if not dataclasses.is_dataclass(tp) or part not in {f.name for f in dataclasses.fields(tp)}:
            break
        keys.append(part)
        tp = typing.get_type_hints(tp)[part]
        if typing.get_origin(tp) is dict:
            keys += [str(k) for k in loc[len(keys):len(keys) + 1]]
            break
    return keys


def _section(tp, path) -> type:
    for part in path:
        tp = typing.get_type_hints(tp)[part]
    return tp


def from_dict(data: dict) -> TrainConfig:
    """The config tree from plain data (keys, types and ranges checked; see `validate` for the rest)."""
    if not isinstance(data, dict):
        raise CapoError(f"config: must be a mapping of keys, got {_show(data)}")
    return _validate(TrainConfig, data)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive(key: str, value, allow_zero: bool = False):
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise CapoError(f"config key {key!r}: must be {'>= 0' if allow_zero else '> 0'} (got {value})")


def validate(config: TrainConfig) -> None:
    """The checks types cannot express (several keys, the file system, TRL's fields); one line
    naming the key on the first problem."""
    c = config
    if c.capo.min_valid > c.capo.num_critiques:
        raise CapoError(f"config key 'capo.min_valid': must be <= capo.num_critiques "
                        f"({c.capo.min_valid} > {c.capo.num_critiques})")
    if c.algorithm == "capo" and c.capo.P > c.capo.C:
        raise CapoError(f"config key 'capo.P': must be <= capo.C so that a correct answer with a flagged step "
                        f"still beats any wrong answer (got P={c.capo.P} > C={c.capo.C})")
    try:
        from capo.steps import compile_splitter

        compile_splitter(c.capo.splitter)
    except ValueError as err:
        raise CapoError(f"config key 'capo.splitter': {err}") from None
    for key, value in (("data.train", c.data.train), ("data.eval", c.data.eval), ("judge.spec", c.judge.spec),
                       ("model.name_or_path", c.model.name_or_path)):
        if value is not None and not value.strip():
            raise CapoError(f"config key {key!r}: must not be empty")
    from capo.train.tracking import check_trackers

    check_trackers(c.run)
    if c.judge.prompt_template is not None and not Path(c.judge.prompt_template).is_file():
        raise CapoError(f"config key 'judge.prompt_template': no such file {c.judge.prompt_template!r}")
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
    """Keys must be GRPOConfig fields (not ones `capo train` manages), values of the field's type
    (ints widened to floats in place)."""
    fields = trl_field_types()
    for key, value in trl.items():
        if key in TRL_MANAGED:
            raise CapoError(f"config key 'trl.{key}': set by capo train; use {TRL_MANAGED[key]} instead")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean 'trl.{close[0]}'?)" if close else ""
            raise CapoError(f"config key 'trl.{key}': not a field of TRL's GRPOConfig{hint}")
        trl[key] = _validate(fields[key], value, f"trl.{key}")
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
