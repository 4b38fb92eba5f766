"""CapoGRPOTrainer as a drop-in for TRL's GRPOTrainer: each TRL option is honoured (or refused at
construction), never silently ignored. One test per option that used to be ignored.

Generation is scripted (the trainer's `_generate_single_turn` returns fixed token ids), so rewards,
critiques and advantages are exact; everything after sampling (decoding, conversational messages,
TRL's reward functions and masks, our credit path) runs for real on the tiny random model.
Expected advantages are recomputed here from the formulas, not through the trainer's code path.
"""

from __future__ import annotations

import datasets
import pytest
import torch
from support import reference_critiques

from capo.credit import CreditConfig, align_batch, assign_credit
from capo.errors import CapoError
from capo.eval.prompting import format_prompt, user_message
from capo.judges import make_judge
from capo.train.config import PAPER_RULE
from capo.train.trainer import CapoGRPOTrainer, CreditSettings
from capo.verify import MathVerifier

RIGHT = "1 + 1 = 2\n\nThe answer is \\boxed{2}."  # correct, nothing flagged
RIGHT_FLAGGED = "1 + 1 = 3\n\nSo the answer is \\boxed{2}."  # correct, step 1 false
WRONG = "1 + 1 = 3\n\nThe answer is \\boxed{3}."  # wrong, step 1 false
BARE = "The answer is \\boxed{4}."  # wrong, nothing to check
# two prompt groups of G = 4 with different spreads, so group and batch statistics differ
SCRIPT = [RIGHT, RIGHT_FLAGGED, WRONG, BARE, RIGHT, WRONG, WRONG, BARE]
GROUPS = [0, 0, 0, 0, 1, 1, 1, 1]
R_V = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
C, P = 2.0, 1.0


def problem(k: int) -> str:
    return f"Question {k}: What is 1 + 1?"


class RecordingJudge:
    """The calculator judge, keeping every request it is sent."""

    def __init__(self):
        self.inner = make_judge("calculator")
        self.requests = []

    def critique(self, requests, n):
        self.requests.extend(requests)
        return self.inner.critique(requests, n)

    def close(self):
        pass


def make_trainer(model_dir, tmp_path, algorithm="capo", conversational=False, credit=None, reward_funcs=None,
                 trainer_kwargs=None, **config):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig

    tok = AutoTokenizer.from_pretrained(model_dir)
    if conversational:  # TRL's usual format: chat messages
        ds = datasets.Dataset.from_dict({"prompt": [[{"role": "user", "content": user_message(problem(k))}]
                                                    for k in range(2)],
                                         "problem": [problem(k) for k in range(2)], "answer": ["2"] * 2})
    else:
        ds = datasets.Dataset.from_dict({"prompt": [format_prompt(tok, problem(k)) for k in range(2)],
                                         "problem": [problem(k) for k in range(2)], "answer": ["2"] * 2})
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none",
                      per_device_train_batch_size=8, num_generations=4, max_completion_length=24,
                      gradient_checkpointing=False, logging_steps=1, seed=0, **{"beta": 0.0, **config})
    return CapoGRPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, train_dataset=ds,
                           processing_class=tok, algorithm=algorithm,
                           judge=None if algorithm == "grpo" else RecordingJudge(),
                           credit=credit or CreditSettings(C=C, P=P, vote="intersection", num_critiques=2, **PAPER_RULE),
                           **({"reward_funcs": reward_funcs} if reward_funcs else {}), **(trainer_kwargs or {}))


def run(trainer, truncated=()):
    """One scripted rollout: completion i is SCRIPT[i] (+ EOS unless i is in `truncated`)."""
    tok = trainer.processing_class
    ids = [tok(t, add_special_tokens=False).input_ids + ([] if i in truncated else [tok.eos_token_id])
           for i, t in enumerate(SCRIPT)]
    trainer._generate_single_turn = lambda prompt_ids, *a, **k: ([list(x) for x in ids], None)
    trainer.model.eval()
    out = trainer._generate_and_score_completions([trainer.train_dataset[g] for g in GROUPS])
    return out, ids


def reference(trainer, ids, critique="all", **config):
    """The paper's credit for the scripted rollout, recomputed: (CreditBatch, full-length mask)."""
    tok = trainer.processing_class
    aligned = align_batch(tok, ids)
    assert [MathVerifier()(t, "2") for t in SCRIPT] == R_V.tolist()
    crits = reference_critiques(make_judge("calculator"), aligned, [problem(g) for g in GROUPS], "2", 2)
    if critique == "correct":
        crits = [c if r > 0 else None for c, r in zip(crits, R_V.tolist(), strict=True)]
    width = max(len(x) for x in ids)
    mask = torch.tensor([[1.0] * len(x) + [0.0] * (width - len(x)) for x in ids])
    config = {"C": C, "P": P, "vote": "intersection", **config}
    return assign_credit(aligned, R_V.tolist(), GROUPS, crits, mask, CreditConfig(**config)), mask


def center_per_group(values, mask):
    """Token values minus the mean over their group's masked tokens, 0 on padding."""
    out = torch.zeros_like(values)
    for g in set(GROUPS):
        rows = [i for i, x in enumerate(GROUPS) if x == g]
        out[rows] = (values[rows] - values[rows][mask[rows] > 0].mean()) * mask[rows]
    return out


def normalize_groups(r):
    """TRL's group normalization of (B,) rewards: unbiased std, eps 1e-4."""
    g = r.view(-1, 4)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + 1e-4)).flatten()


def response_means(adv, mask):
    return (adv * mask).sum(1) / mask.sum(1)


def sequence_values(out):
    """grpo trains on (B, T) advantages too (capo.estimators): one value per response on every token
    of its loss mask, 0 elsewhere; that value per response, (B,) (0 for a fully masked response)."""
    adv, m = out["advantages"], out["completion_mask"].bool()
    values = torch.stack([row[keep][0] if keep.any() else torch.tensor(0.0) for row, keep in zip(adv, m)])
    assert torch.equal(adv * m, values.unsqueeze(1) * m) and (adv[~m] == 0).all()
    return values


# 1 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["capo", "genorm"])
def test_conversational_prompts_score_the_completion_text(tiny_model_dir, tmp_path, algorithm):
    # TRL hands conversational completions over as messages; the verifier used to score those 0,
    # so every reward was 0 and nothing was learned
    trainer = make_trainer(tiny_model_dir, tmp_path, algorithm, conversational=True)
    out, ids = run(trainer)
    assert trainer._metrics["eval"]["accuracy"][-1] == pytest.approx(3 / 8)
    requests = trainer.judge.requests
    assert requests and all(isinstance(s, str) for r in requests for s in r.steps)
    assert {r.problem for r in requests} == {problem(g) for g in GROUPS}
    if algorithm == "capo":  # steps come from the completion ids and are the completion's text
        assert {"\n\n".join(r.steps) for r in requests} == set(SCRIPT)
        credit, _ = reference(trainer, ids)
        assert torch.allclose(out["advantages"], credit.advantages, atol=1e-6)
        assert out["advantages"].abs().sum() > 0
    else:  # the final-answer judge reads the whole completion as one step
        assert sorted(r.steps[0] for r in requests) == sorted(SCRIPT)


def test_completion_and_problem_text_of_conversational_rows():
    from capo.train.trainer import completion_text, problem_text

    assert completion_text([{"role": "assistant", "content": RIGHT}]) == RIGHT
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": RIGHT}]}]) == RIGHT
    assert completion_text(RIGHT) == RIGHT
    # no `problem` column (common in TRL datasets): the judge is shown the last user message
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 1 + 1?"}]
    assert problem_text({"prompt": messages, "answer": "2"}) == "What is 1 + 1?"
    assert problem_text({"prompt": messages, "problem": "1 + 1?"}) == "1 + 1?"


# 2 ------------------------------------------------------------------------------------------
def test_scale_rewards_none_only_centers_capo_token_rewards(tiny_model_dir, tmp_path):
    trainer = make_trainer(tiny_model_dir, tmp_path, scale_rewards="none")
    out, ids = run(trainer)
    credit, mask = reference(trainer, ids)
    want = center_per_group(credit.rewards, mask)  # R - group token mean, no division (Dr. GRPO)
    assert torch.allclose(out["advantages"], want, atol=1e-5)
    assert not torch.allclose(want, credit.advantages, atol=1e-2)  # the test can tell the two apart


# 3 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["capo", "grpo"])
def test_scale_rewards_batch(tiny_model_dir, tmp_path, algorithm):
    from capo.train.config import validate_trl

    validate_trl({"scale_rewards": "batch"})  # capo train accepts it too
    trainer = make_trainer(tiny_model_dir, tmp_path, algorithm, scale_rewards="batch")
    out, ids = run(trainer)
    if algorithm == "grpo":  # as TRL: centered per group, divided by the std of all rewards of the batch
        g = R_V.view(-1, 4)
        want = ((g - g.mean(1, keepdim=True)).flatten()) / (R_V.std() + 1e-4)
        assert torch.allclose(sequence_values(out), want, atol=1e-5)
        assert not torch.allclose(want, normalize_groups(R_V), atol=1e-2)
        return
    credit, mask = reference(trainer, ids)
    # CAPO's analogue: centered per group over tokens, divided by the std of all token rewards of the batch
    want = center_per_group(credit.rewards, mask) / (credit.rewards[mask > 0].std(unbiased=False) + 1e-6)
    assert torch.allclose(out["advantages"], want, atol=1e-5)
    assert not torch.allclose(want, credit.advantages, atol=1e-2)


# 4 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm,options", [
    ("capo", dict(reward_weights=[0.5])),
    ("grpo", dict(reward_weights=[3.0], scale_rewards="none")),
    ("capo", dict(multi_objective_aggregation="normalize_then_sum")),
    ("grpo", dict(multi_objective_aggregation="normalize_then_sum")),
])
def test_reward_weights_and_multi_objective_aggregation(tiny_model_dir, tmp_path, algorithm, options):
    trainer = make_trainer(tiny_model_dir, tmp_path, algorithm, **options)
    out, ids = run(trainer)
    credit, mask = reference(trainer, ids)
    if "reward_weights" in options:
        if algorithm == "capo":  # the outcome term is 0.5 * r_v: the paper's credit with C / 2
            want = reference(trainer, ids, C=C / 2)[0].advantages
        else:  # TRL, Dr. GRPO style: 3 * (r - group mean)
            want = 3 * (R_V - R_V.view(-1, 4).mean(1).repeat_interleave(4))
    elif algorithm == "grpo":  # TRL: normalize each function per group, sum, normalize over the batch
        x = normalize_groups(R_V)
        want = (x - x.mean()) / (x.std() + 1e-4)
    else:  # CAPO: outcome term = r_v normalized per group; token rewards then scaled by the batch std
        rewards = credit.rewards + C * (normalize_groups(R_V) - R_V).unsqueeze(1) * mask
        want = center_per_group(rewards, mask) / (rewards[mask > 0].std(unbiased=False) + 1e-6)
    got = sequence_values(out) if algorithm == "grpo" else out["advantages"]
    assert torch.allclose(got, want, atol=1e-4)
    default = credit.advantages if algorithm == "capo" else normalize_groups(R_V)
    assert not torch.allclose(want, default, atol=1e-2)  # the option changes the advantages


# 5 ------------------------------------------------------------------------------------------
def test_mask_truncated_completions_stay_in_the_baseline_for_both_algorithms(tiny_model_dir, tmp_path):
    # TRL zeroes a truncated completion's completion_mask (no loss) but keeps its reward in the
    # group statistics; capo used to drop its tokens from the group's token mean and std instead
    truncated = (3, 5)
    for algorithm in ("capo", "grpo"):
        trainer = make_trainer(tiny_model_dir, tmp_path, algorithm, mask_truncated_completions=True)
        out, ids = run(trainer, truncated)
        loss_mask = out["completion_mask"]
        assert [i for i in range(8) if loss_mask[i].sum() == 0] == list(truncated)  # TRL masked them
        if algorithm == "grpo":
            # truncated rewards counted in their groups; truncated responses themselves out of the loss
            want = normalize_groups(R_V) * (loss_mask.sum(1) > 0)
            got = sequence_values(out)
        else:
            credit, _ = reference(trainer, ids)  # every generated token counted in the group statistics
            want, got = credit.advantages * loss_mask, out["advantages"]
        assert torch.allclose(got, want, atol=1e-5), algorithm


# 6 ------------------------------------------------------------------------------------------
def test_completions_log_shows_the_advantages_we_train_on(tiny_model_dir, tmp_path):
    trainer = make_trainer(tiny_model_dir, tmp_path, log_completions=True)
    out, ids = run(trainer)
    logged = torch.tensor(list(trainer._logs["advantages"])[-8:])
    want = response_means(out["advantages"], out["completion_mask"].float())
    assert torch.allclose(logged, want, atol=1e-6)
    assert not torch.allclose(logged, normalize_groups(R_V), atol=1e-2)  # not TRL's sequence advantages
    assert len(trainer._logs["advantages"]) == len(trainer._logs["completion"])


# 7 ------------------------------------------------------------------------------------------
def shows_work(completions, **_):
    """A user's format reward: 1 when the completion shows a calculation."""
    return [1.0 if "1 + 1" in c else 0.0 for c in completions]


def test_extra_reward_funcs_join_the_outcome_term(tiny_model_dir, tmp_path):
    credit_settings = CreditSettings(C=C, P=P, vote="intersection", num_critiques=2, critique="correct",
                                     **PAPER_RULE)
    trainer = make_trainer(tiny_model_dir, tmp_path, credit=credit_settings, reward_funcs=[shows_work],
                           reward_weights=[1.0, 0.5])
    out, ids = run(trainer)
    # which responses are critiqued is decided by the verifier's r_v alone: WRONG shows work
    # (combined reward 0.5 > 0) but is not correct
    assert sorted(r.steps for r in trainer.judge.requests) == sorted(
        [tuple(t.split("\n\n")) for t, r in zip(SCRIPT, R_V.tolist(), strict=True) if r > 0])
    credit, mask = reference(trainer, ids, critique="correct")
    fmt = torch.tensor(shows_work(SCRIPT))
    rewards = credit.rewards + C * 0.5 * fmt.unsqueeze(1) * mask  # C * (r_v + 0.5 * format) - P * w
    want = center_per_group(rewards, mask)
    for g in set(GROUPS):
        rows = [i for i, x in enumerate(GROUPS) if x == g]
        want[rows] /= rewards[rows][mask[rows] > 0].std(unbiased=False) + 1e-6
    assert torch.allclose(out["advantages"], want, atol=1e-5)
    assert "rewards/shows_work/mean" in trainer._metrics["eval"]
    assert trainer._metrics["eval"]["accuracy"][-1] == pytest.approx(3 / 8)  # still the verifier's


def test_options_that_cannot_be_honoured_are_refused_at_construction(tiny_model_dir, tmp_path):
    from capo.train.config import validate_trl

    with pytest.raises(CapoError, match="reward_weights has 1 entries for 2 reward functions"):
        make_trainer(tiny_model_dir, tmp_path, reward_funcs=[shows_work], reward_weights=[1.0])
    with pytest.raises(CapoError, match="trl.reward_weights"):
        validate_trl({"reward_weights": [1.0, 2.0]})  # capo train has only the verifier
    with pytest.raises(CapoError, match="tools is not supported with algorithm=capo"):
        make_trainer(tiny_model_dir, tmp_path, trainer_kwargs={"tools": [shows_work]})


# 9 ------------------------------------------------------------------------------------------
def test_judge_overlap_gives_the_same_critiques_and_advantages(tiny_model_dir, tmp_path):
    results = {}
    for overlap in (True, False):
        trainer = make_trainer(tiny_model_dir, tmp_path, trainer_kwargs={"overlap_judge": overlap})
        out, ids = run(trainer)
        results[overlap] = (out["advantages"], sorted(r.steps for r in trainer.judge.requests),
                            {k: v[-1] for k, v in trainer._metrics["eval"].items() if "seconds" not in k})
    assert torch.equal(results[True][0], results[False][0])
    assert results[True][1] == results[False][1] and results[True][1]  # the same requests, once each
    assert results[True][2] == results[False][2]
    credit, _ = reference(trainer, ids)
    assert torch.allclose(results[True][0], credit.advantages, atol=1e-5)


class SlowJudge(RecordingJudge):
    """The calculator judge, taking `delay` seconds per call; records when each call ran."""

    def __init__(self, delay):
        super().__init__()
        self.delay, self.calls = delay, []

    def critique(self, requests, n):
        import time

        start = time.perf_counter()
        time.sleep(self.delay)
        self.calls.append((start, time.perf_counter()))
        return super().critique(requests, n)


@pytest.mark.parametrize("overlap", [True, False])
def test_judge_runs_while_trl_computes_reference_log_probs(tiny_model_dir, tmp_path, overlap):
    import time

    # beta > 0: TRL computes the reference model's log-probs between generation and rewards
    trainer = make_trainer(tiny_model_dir, tmp_path, beta=0.04, trainer_kwargs={"overlap_judge": overlap})
    trainer.judge = SlowJudge(delay=2.0)
    forward_calls = []
    inner = trainer._get_per_token_logps_and_entropies

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = inner(*args, **kwargs)
        forward_calls.append((start, time.perf_counter()))
        return result

    trainer._get_per_token_logps_and_entropies = timed
    out, _ = run(trainer)
    (judge_start, judge_end), = trainer.judge.calls
    first_forward = forward_calls[0][0]
    wait = trainer._metrics["eval"]["judge/wait_seconds"][-1]
    if overlap:  # sent before the log-probs, still running while they were computed
        assert judge_start < first_forward < judge_end
        assert wait < trainer._metrics["eval"]["judge/seconds"][-1]
    else:  # judged after TRL's step: every second of the judge is waited for
        assert judge_start > forward_calls[-1][1]
        assert wait >= trainer._metrics["eval"]["judge/seconds"][-1]
    assert out["advantages"].abs().sum() > 0
