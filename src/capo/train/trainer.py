"""CapoGRPOTrainer: TRL's GRPOTrainer with CAPO's token-level advantages (and the paper's baselines).

A thin subclass. TRL generates, scores the outcome (our reward function, then any the user adds),
computes logits and old/ref log-probs exactly as usual; afterwards `_generate_and_score_completions`
builds one `capo.estimators.Rollout` and replaces TRL's (B,) advantages by the (B, T) ones of the
estimator registered under the algorithm's name (capo.estimators; no branch on algorithm names):

    capo    r_v (rule verifier) -> judge critiques of the responses' steps -> vote -> token rewards
            R = C*r_v - P*w -> token-group normalization -> (B, T) advantages  (capo.credit)
    grpo    GRPO-Rule: r_v, TRL's own sequence-level advantages (group normalization)
    genorm  GRPO-GenORM: the judge decides final-answer correctness (N verdicts, majority), then the
            same sequence-level normalization

TRL's loss accepts (B, T) advantages (`_compute_loss` unsqueezes only 1-D ones; trl >= 0.26; the
test suite checks it). With several processes, each rank judges its own responses, the group's
alignments/critiques/masks are gathered, normalized over whole groups and sliced back per rank,
as TRL does with rewards.

A drop-in for GRPOTrainer: every GRPOConfig option is honoured, given a CAPO meaning, or refused at
construction with a CapoError (docs/training.md, "As a library"; tests/test_trl_parity.py).
Extra `reward_funcs` follow our verifier (reward function 0); grpo and genorm train on TRL's own
sequence advantages.

Per-step judge telemetry is logged through TRL's metrics (averaged per logging step):
accuracy, token_reward, judge/flagged_step_rate, judge/vote_agreement, judge/parse_failures,
judge/failures, judge/seconds, judge/correct_with_flagged_steps, judge/judged, judge/mean_steps.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import torch
from packaging.version import Version

from capo.credit import align_batch, reported_checkable, select_for_critique
from capo.errors import CapoError
from capo.estimators import ESTIMATORS, Rollout, genorm_reward
from capo.judges.base import CritiqueRequest, Judge, JudgeResult
from capo.rewards import AGGREGATIONS, SCALES, aggregate_rewards
from capo.train.config import CapoSection
from capo.verify import MathVerifier

TRL_TESTED = (Version("1.10"), Version("1.17"))  # [low, high): the range in pyproject.toml

# The GenORM judge prompt: the whole response is one "step"; the judge flags it (index 0) when the
# FINAL ANSWER is wrong. Generating judges use it as their template; rule judges (calculator) ignore
# templates and flag the response when it contains a false arithmetic claim.
GENORM_TEMPLATE = """You are a meticulous math teacher. Decide whether the student's FINAL ANSWER to the problem is correct.

The problem:
{problem}
{reference_block}
The student's solution:

{steps_block}

Work out the correct answer yourself, compare it with the student's final answer, and judge only the final answer.
Finish with exactly one line:
Wrong step list: [0]
if the final answer is wrong (or missing), or
Wrong step list: []
if it is correct."""


def check_trl_version() -> str:
    import trl

    version = Version(trl.__version__)
    if version < Version("0.26"):
        raise CapoError(f"trl {trl.__version__} cannot train on per-token advantages; install trl>=1.10,<1.17")
    if not TRL_TESTED[0] <= version < TRL_TESTED[1]:
        warnings.warn(f"capo train is tested with trl >={TRL_TESTED[0]},<{TRL_TESTED[1]}; found {trl.__version__}",
                      stacklevel=2)
    return trl.__version__


# The trainer's credit settings are the config's `capo` section (one definition of their fields,
# help texts and defaults); the old name stays for library users.
CreditSettings = CapoSection


@dataclass(frozen=True)
class JudgeCall:
    result: JudgeResult
    seconds: float


@dataclass(frozen=True)
class EarlyCritique:
    """Step critiques started right after generation (overlap_judge): this process's responses."""

    texts: list[str]
    aligned: list
    outcomes: list[float]  # r_v, reused by the reward function
    future: Future  # -> (critiques, checkable), as _critique_steps returns them


@dataclass(frozen=True)
class StepRecord:
    """What TRL's step hands on to our advantage computation. TRL computes the rewards inside its own
    `_generate_and_score_completions`, which returns no rewards; `_calculate_rewards` records them."""

    inputs: list[dict]  # this process's rows
    completions: list[str]  # this process's completions, as text
    completion_ids: list  # this process's completion token ids
    rewards: torch.Tensor  # (B, K) every process's rewards, one column per reward function
    answer_critiques: list | None  # genorm: this process's N answer verdicts per response
    judge_calls: list[JudgeCall]  # this process's judge calls of the step (telemetry)


from trl import GRPOTrainer  # noqa: E402  (after the version helpers, which must import without it)


def message_text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")  # content blocks


def completion_text(completion) -> str:
    """A completion as text. With conversational prompts TRL hands completions over as messages
    ([{"role": "assistant", "content": ...}]); the verifier and the judge read text."""
    if isinstance(completion, str):
        return completion
    return "\n\n".join(message_text(m) for m in completion if m.get("role", "assistant") == "assistant")


def problem_text(example: dict) -> str:
    """The problem the judge is shown: the `problem` column, else the last user message of a
    conversational prompt (TRL datasets often have no `problem` column), else the prompt text."""
    if example.get("problem") is not None:
        return example["problem"]
    prompt = example["prompt"]
    if isinstance(prompt, str):
        return prompt
    users = [m for m in prompt if m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def check_trl_options(args, algorithm: str, num_reward_funcs: int, trainer_kwargs: dict) -> None:
    """Refuse, before TRL builds anything, the GRPOTrainer options CapoGRPOTrainer cannot honour."""
    scale = getattr(args, "scale_rewards", "group")
    if scale not in SCALES:
        raise CapoError(f"scale_rewards={scale!r}: use group, batch or none")
    aggregation = getattr(args, "multi_objective_aggregation", "sum_then_normalize")
    if aggregation not in AGGREGATIONS:
        raise CapoError(f"multi_objective_aggregation={aggregation!r}: use {' or '.join(AGGREGATIONS)}")
    weights = getattr(args, "reward_weights", None)
    if weights is not None and len(weights) != num_reward_funcs:
        raise CapoError(f"reward_weights has {len(weights)} entries for {num_reward_funcs} reward functions: "
                        "the verifier's weight first, then one per reward_funcs entry")
    if algorithm != "grpo":
        for name in ("tools", "rollout_func", "environment_factory"):
            if trainer_kwargs.get(name) is not None:
                raise CapoError(f"{name} is not supported with algorithm={algorithm}: the judge critiques the "
                                "policy's own text step by step, not tool calls or environment turns (use grpo)")


class CapoGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose advantages come from CAPO (or the GRPO-Rule / GRPO-GenORM baselines).

    The train dataset needs the columns `prompt` (text, or chat messages) and `answer` (reference);
    `problem` (shown to the judge) defaults to the prompt's last user message. `reward_funcs` are
    extra reward functions, combined with our verifier as TRL combines reward functions.
    """

    def __init__(self, model, reward_funcs=None, args=None, *rest, algorithm: str = "capo",
                 judge: Judge | None = None, credit: CapoSection | None = None, verifier=None,
                 sample_log: int = 0, overlap_judge: bool = True, **kwargs):
        try:
            self.estimator = ESTIMATORS.lookup(algorithm)
        except ValueError as err:
            raise CapoError(f"algorithm: {err}") from None
        if self.estimator.judge is not None and judge is None:
            raise CapoError(f"algorithm {algorithm} needs a judge")
        extra = list(reward_funcs) if isinstance(reward_funcs, list) else [] if reward_funcs is None else [reward_funcs]
        check_trl_version()
        check_trl_options(args, algorithm, 1 + len(extra), kwargs)
        self.algorithm = algorithm
        self.judge = judge
        self.credit = credit or CapoSection()
        self.verifier = verifier or MathVerifier()
        self.sample_log = sample_log
        self.samples: list[dict] = []  # a few rollouts of the last step (main process), for the run dir
        self._step_record: StepRecord | None = None
        # judge overlap: critiques start as soon as the completions exist (in `_generate`) and run
        # while TRL computes old/reference log-probs; they are awaited only for the advantages
        self.overlap_judge = overlap_judge
        self._step_inputs: list[dict] | None = None
        self._early: EarlyCritique | None = None
        self._judge_pool: ThreadPoolExecutor | None = None
        self._judge_calls: list[JudgeCall] = []
        self._answer_critiques: list | None = None
        processing = kwargs.get("reward_processing_classes")
        if processing is not None:  # ours needs none; theirs follow it
            kwargs["reward_processing_classes"] = [None, *(processing if isinstance(processing, list)
                                                           else [processing])]
        super().__init__(model, [self._reward_function(), *extra], args, *rest, **kwargs)

    def _tokenize_prompts(self, prompts: list):
        """Text prompts (already rendered by format_prompt) are tokenized exactly as `capo eval`
        tokenizes them: no second BOS when the chat template wrote the special tokens."""
        if prompts and isinstance(prompts[0], str):
            from capo.eval.generation import encode_prompts

            return encode_prompts(getattr(self, "_tokenizer", None) or self.processing_class, prompts), None, {}
        return super()._tokenize_prompts(prompts)

    # -- the outcome reward TRL computes and gathers -----------------------------------------
    def _reward_function(self):
        verifier = self.verifier

        def outcome(prompts, completions, answer, **_):
            texts = [completion_text(c) for c in completions]
            early = self._early
            if early is not None and early.texts == texts:  # verified already, for the early critique
                return list(early.outcomes)
            return [verifier(t, a) for t, a in zip(texts, answer, strict=True)]

        def genorm(prompts, completions, answer, problem=None, **_):
            problems = [problem_text({"problem": p, "prompt": q})
                        for p, q in zip(problem or [None] * len(prompts), prompts, strict=True)]
            return self._answer_verdicts([completion_text(c) for c in completions], problems, answer)

        # the estimator decides whether the judge's answer verdicts are the reward (genorm) or r_v is
        return genorm if self.estimator.judge == "answer" else outcome

    def _answer_verdicts(self, completions, problems, answers) -> list[float | None]:
        """GenORM's reward: 1 if the majority of the judge's N verdicts says the final answer is
        right, else 0; None (no learning signal) when no verdict parsed. Keeps the critiques for the
        estimator."""
        requests = [CritiqueRequest(p, (c,), a if self.credit.reference_in_prompt else None)
                    for p, c, a in zip(problems, completions, answers, strict=True)]
        result = self._call_judge(requests)
        self._answer_critiques = [[c.wrong_steps for c in crits] for crits in result.result.critiques]
        return [genorm_reward(crits, self.credit.min_valid) for crits in self._answer_critiques]

    def _call_judge(self, requests) -> JudgeCall:
        t0 = time.perf_counter()
        result = self.judge.critique(requests, self.credit.num_critiques)
        call = JudgeCall(result, time.perf_counter() - t0)
        self._judge_calls.append(call)
        return call

    def _generate(self, prompts):
        """TRL's generation; with `overlap_judge`, the step critiques of this process's responses are
        sent right away, in a background thread, so that the judge works while TRL computes the
        old/reference log-probs. Same requests, same results as judging after the rewards."""
        result = super()._generate(prompts)
        inputs, self._step_inputs = self._step_inputs, None
        if self.overlap_judge and self.estimator.judge == "steps" and inputs is not None:
            completion_ids, completions = result[1], result[3]
            texts = [completion_text(c) for c in completions]
            aligned = self._align(completion_ids)
            outcomes = [float(self.verifier(t, x["answer"])) for t, x in zip(texts, inputs, strict=True)]
            if self._judge_pool is None:
                self._judge_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capo-judge")
            future = self._judge_pool.submit(self._critique_steps, aligned, inputs, outcomes)
            self._early = EarlyCritique(texts, aligned, outcomes, future)
        return result

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        # rewards: (B, K) over all processes, column 0 ours (verifier, or genorm's verdict), then the user's.
        # TRL's step returns no rewards: they reach the advantage computation through this record.
        self._step_record = StepRecord(inputs, [completion_text(c) for c in completions], completion_ids_list,
                                       rewards.detach().float().cpu(), self._answer_critiques, self._judge_calls)
        return rewards

    # -- advantages --------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        self._judge_calls, self._answer_critiques, self._early = [], None, None
        self._step_inputs = inputs  # for `_generate`, which TRL hands only the prompts
        out = super()._generate_and_score_completions(inputs)
        step, self._step_record = self._step_record, None
        early, self._early = self._early, None
        mode = "train" if self.model.training else "eval"
        acc = self.accelerator
        local_n = len(step.completion_ids)
        local = slice(acc.process_index * local_n, (acc.process_index + 1) * local_n)
        num_generations = self.num_generations if mode == "train" else self.num_generations_eval
        groups = torch.arange(step.rewards.shape[0]) // num_generations
        loss_mask = out["completion_mask"]
        # Group statistics count every generated token: mask_truncated_completions takes truncated
        # completions out of the loss only, as TRL does (it zeroes their completion_mask after
        # sampling, but keeps their rewards in its group statistics).
        lengths = torch.tensor([len(ids) for ids in step.completion_ids])
        mask = (torch.arange(loss_mask.shape[1]) < lengths.unsqueeze(1)).to(loss_mask)

        aligned = early.aligned if early is not None else self._align(step.completion_ids)
        # r_v of this process's responses: reward column 0, unless the judge's verdict is the reward
        local_rv = (torch.tensor([float(self.verifier(c, x["answer"])) for c, x in zip(step.completions, step.inputs)])
                    if self.estimator.judge == "answer" else step.rewards[local, 0])
        critiques, checkable = step.answer_critiques, None
        wait = None  # seconds this step blocked on the step critiques (None: judged inside TRL's rewards)
        t0 = time.perf_counter()
        if early is not None:
            critiques, checkable = early.future.result()
            wait = time.perf_counter() - t0
        elif self.estimator.judge == "steps":
            critiques, checkable = self._critique_steps(aligned, step.inputs, local_rv.tolist())
            wait = time.perf_counter() - t0
        rollout, critiques = self._gather_rollout(step, aligned, local_rv, groups, mask, critiques, checkable,
                                                  out["advantages"])
        # normalize_then_sum: TRL then scales by the batch std whatever scale_rewards says; so do we
        scale = "batch" if self.multi_objective_aggregation == "normalize_then_sum" else self.scale_rewards
        estimate = self.estimator.fn(rollout, critiques, replace(self.credit.credit_config(), scale=scale))
        advantages = estimate.advantages[local, : mask.shape[1]].to(device=mask.device, dtype=torch.float32)
        out["advantages"] = advantages * loss_mask
        self._log_advantages(estimate.advantages, rollout.mask)

        metrics = {**estimate.metrics, **self._judge_metrics(step.judge_calls, wait),
                   "accuracy": float(rollout.outcomes.mean())}
        for name, value in metrics.items():
            self._metrics[mode][name].append(value)
        if self.sample_log and acc.is_main_process:
            flagged = ([v.wrong_steps for v in estimate.votes[local]]
                       if self.estimator.judge == "steps" and estimate.votes else None)
            self.samples = [{"problem": problem_text(x), "answer": x["answer"], "completion": c,
                             "r_v": float(local_rv[i]), **({"flagged_steps": flagged[i]} if flagged else {})}
                            for i, (x, c) in enumerate(zip(step.inputs[: self.sample_log],
                                                           step.completions[: self.sample_log]))]
        self._record_rollouts(step, aligned, local_rv, groups[local], out["advantages"])
        return out

    def _align(self, completion_ids) -> list:
        tokenizer = getattr(self, "_tokenizer", None) or self.processing_class
        return align_batch(tokenizer, completion_ids, self.credit.splitter, self.credit.separators)

    def _critique_steps(self, aligned, inputs, outcomes):
        """This process's responses judged step by step: (critiques, checkable) per response, as
        capo.estimators reads them (None: not judged; [] judged with zero steps)."""
        judged, selected = select_for_critique(aligned, outcomes, self.credit.critique)
        critiques: list[list | None] = [None] * len(aligned)
        checkable: list[bool | None] = [None] * len(aligned)
        for i in judged:
            critiques[i] = []
        if selected:
            requests = [CritiqueRequest(problem_text(inputs[i]), tuple(s.text for s in aligned[i].steps),
                                        inputs[i]["answer"] if self.credit.reference_in_prompt else None)
                        for i in selected]
            call = self._call_judge(requests)
            for i, crits in zip(selected, call.result.critiques, strict=True):
                critiques[i] = [c.wrong_steps for c in crits]
                checkable[i] = reported_checkable(crits)
        return critiques, checkable

    def _gather_rollout(self, step, aligned, local_rv, groups, mask, critiques, checkable, sequence_advantages):
        """The Rollout of all processes (each rank judged its own responses; groups are normalized
        whole, as TRL does with rewards) and the gathered critiques."""
        if self.accelerator.num_processes > 1:
            aligned = self._gather_objects(aligned)
            critiques = None if critiques is None else self._gather_objects(critiques)
            checkable = None if checkable is None else self._gather_objects(checkable)
            mask = self.accelerator.gather(self.accelerator.pad_across_processes(mask, dim=1, pad_index=0))
        outcomes = self._gather(local_rv.float())
        sequence_advantages = self._gather(sequence_advantages.float())
        # the outcome term of C*r - P*w: our verifier combined with the user's reward functions as TRL
        # combines them; r_v alone still decides what counts as correct (critique selection, guards)
        reward = aggregate_rewards(step.rewards, self.reward_weights, groups, self.multi_objective_aggregation)
        return Rollout(aligned, outcomes.cpu(), reward, groups.tolist(), mask.cpu(), sequence_advantages.cpu(),
                       checkable), critiques

    def _judge_metrics(self, calls: list[JudgeCall], wait: float | None = None) -> dict[str, float]:
        """Judge telemetry of this step's calls, summed over processes (seconds: the slowest).
        judge/wait_seconds: how long the step blocked on the judge (with overlap, the rest was hidden
        behind TRL's own compute; without, at least judge/seconds). A judge called inside TRL's
        reward step (wait None) blocks for all its seconds."""
        if self.estimator.judge is None:
            return {}
        seconds = sum(c.seconds for c in calls)
        mine = (sum(c.result.num_failed for c in calls), sum(c.result.num_unparsable for c in calls),
                seconds, {}, seconds if wait is None else wait)
        for c in calls:
            for reason, k in c.result.failures.items():
                mine[3][reason] = mine[3].get(reason, 0) + k
        counts = self._gather_objects([mine])
        reasons: dict[str, int] = {}
        for c in counts:
            for reason, k in c[3].items():
                reasons[reason] = reasons.get(reason, 0) + k
        return {"judge/parse_failures": float(sum(c[1] for c in counts)),
                "judge/failures": float(sum(c[0] for c in counts)),
                "judge/seconds": max(c[2] for c in counts),
                "judge/wait_seconds": max(c[4] for c in counts),
                **{f"judge/failed/{reason}": float(k) for reason, k in reasons.items()}}

    def _log_advantages(self, advantages: torch.Tensor, mask: torch.Tensor) -> None:
        """TRL's completions log (log_completions) holds the (B,) advantages TRL computed; put in
        their place what we train on: each response's mean token advantage (all processes)."""
        m = mask.float().to(advantages.device)
        per_response = (advantages * m).sum(1) / m.sum(1).clamp(min=1)
        logged = self._logs["advantages"]
        for _ in range(min(len(per_response), len(logged))):
            logged.pop()
        logged.extend(per_response.tolist())

    def _gather(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.accelerator.num_processes == 1:
            return tensor
        return self.accelerator.gather(tensor.to(self.accelerator.device)).cpu()

    def _gather_objects(self, items: list) -> list:
        if self.accelerator.num_processes == 1:
            return items
        from accelerate.utils import gather_object

        return gather_object(items)

    # -- the rollout record of `capo view` (<run>/rollouts.jsonl; capo/train/rollouts.py) ---------
    rollout_log = None  # a rollouts.RolloutLog; `capo train` sets one from run.rollout_groups / rollouts_every

    def _record_rollouts(self, step, aligned, local_rv, groups, advantages) -> None:
        """Hand this process's responses of the batch, their raw critiques and the advantages they
        are trained on to the rollout log (main process; it keeps only the sampled steps and groups)."""
        log = self.rollout_log
        if log is None or not self.accelerator.is_main_process or not log.wants(self.state.global_step + 1):
            return
        calls = step.judge_calls if self.estimator.judge is not None else []
        log.add(self.state.global_step + 1, [problem_text(x) for x in step.inputs], [x.get("answer") for x in step.inputs],
                step.completion_ids, aligned, local_rv.tolist(), groups.tolist(), advantages.detach().float().cpu(),
                self.estimator.judge, calls[-1].result.critiques if calls else None)
