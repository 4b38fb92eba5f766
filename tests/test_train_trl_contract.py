"""The TRL contract CAPO relies on: GRPOTrainer's loss honours (B, T) per-token advantages.

If a TRL release stops doing so (e.g. collapses advantages to one value per sequence, or
rejects 2-D advantages), these tests fail. Also checks that CapoGRPOTrainer really hands (B, T)
advantages to the loss, equal to the ones capo.credit computes.
"""

from __future__ import annotations

import pytest
import torch
from test_train_e2e import make_boxer, problem_text

from capo.credit import CreditConfig, align_batch, assign_credit
from support import reference_critiques


def _trainer(model_dir, tmp_path, loss_type="bnpo", cls=None, **kwargs):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from capo.eval.prompting import format_prompt

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ds = datasets.Dataset.from_dict({"prompt": [format_prompt(tok, problem_text(k)) for k in range(8)],
                                     "problem": [problem_text(k) for k in range(8)], "answer": ["2"] * 8})
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none",
                      per_device_train_batch_size=8, num_generations=4, max_completion_length=24,
                      loss_type=loss_type, gradient_checkpointing=False, beta=0.0, logging_steps=1, seed=0)
    if cls is None:
        return GRPOTrainer(model=model, reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
                           args=args, train_dataset=ds, processing_class=tok)
    return cls(model=model, args=args, train_dataset=ds, processing_class=tok, **kwargs)


def _batch(trainer, generator):
    tok = trainer.processing_class
    b, p, t = 4, 6, 7
    prompt_ids = torch.randint(3, len(tok) - 1, (b, p), generator=generator)
    completion_ids = torch.randint(3, len(tok) - 1, (b, t), generator=generator)
    completion_mask = torch.ones(b, t, dtype=torch.long)
    completion_mask[1, 5:] = 0
    completion_mask[3, 3:] = 0
    return {"prompt_ids": prompt_ids, "prompt_mask": torch.ones(b, p, dtype=torch.long),
            "completion_ids": completion_ids, "completion_mask": completion_mask,
            "num_items_in_batch": completion_mask.sum()}


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.fixture(scope="module")
def boxer(tiny_model_dir, tmp_path_factory):
    return make_boxer(tiny_model_dir, tmp_path_factory.mktemp("boxer-contract") / "model")


@pytest.mark.parametrize("loss_type", ["bnpo", "dapo", "grpo"])
def test_trl_loss_uses_per_token_advantages(tiny_model_dir, tmp_path, loss_type):
    trainer = _trainer(tiny_model_dir, tmp_path, loss_type)
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 1
    g = torch.Generator().manual_seed(0)
    inputs = _batch(trainer, g)
    mask = inputs["completion_mask"].float()
    adv = torch.randn(mask.shape, generator=g) * mask  # varies along every sequence

    def trl_grad(advantages):
        model.zero_grad()
        trainer._compute_loss(model, {**inputs, "advantages": advantages}).backward()
        return _grads(model).clone()

    def manual_grad(advantages):
        # -sum_t A[i,t] * logp[i,t] with TRL's own per-sequence/per-token weighting of `loss_type`
        model.zero_grad()
        ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[:, -mask.shape[1] - 1:-1]
        logp = torch.log_softmax(logits.float() / trainer.temperature, -1).gather(
            -1, inputs["completion_ids"].unsqueeze(-1)).squeeze(-1)
        per_token = -advantages * logp * mask
        if loss_type == "grpo":
            loss = (per_token.sum(1) / mask.sum(1)).mean()
        else:
            loss = per_token.sum() / mask.sum()
        loss.backward()
        return _grads(model).clone()

    got, want = trl_grad(adv), manual_grad(adv)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-7)
    # the test can tell: per-sequence mean advantages give a different gradient
    collapsed = (adv.sum(1) / mask.sum(1)).unsqueeze(1) * mask
    assert not torch.allclose(trl_grad(collapsed), got, rtol=1e-3, atol=1e-6)
    # and (B,) advantages still mean one value per sequence, as in TRL
    seq = torch.randn(4, generator=g)
    assert torch.allclose(trl_grad(seq), trl_grad(seq.unsqueeze(1).expand_as(mask).contiguous()), atol=1e-7)


def test_capo_trainer_returns_token_level_advantages_from_capo_credit(boxer, tmp_path):
    from capo.judges import make_judge
    from capo.train.config import PAPER_RULE
    from capo.train.trainer import CapoGRPOTrainer, CreditSettings

    credit = CreditSettings(C=2.0, P=1.0, vote="intersection", num_critiques=2, **PAPER_RULE)
    trainer = _trainer(boxer, tmp_path, "dapo", cls=CapoGRPOTrainer, algorithm="capo",
                       judge=make_judge("calculator"), credit=credit)
    trainer.model.eval()
    batch = [trainer.train_dataset[i] for i in (0, 0, 0, 0, 1, 1, 1, 1)]
    torch.manual_seed(3)
    out = trainer._generate_and_score_completions(batch)
    adv, mask = out["advantages"], out["completion_mask"]
    assert adv.shape == mask.shape and adv.dim() == 2
    # recompute with capo.credit from the same completion ids
    ids = [row[m.bool()].tolist() for row, m in zip(out["completion_ids"], mask)]
    texts = trainer.processing_class.batch_decode(ids, skip_special_tokens=True)
    from capo.verify import MathVerifier

    aligned = align_batch(trainer.processing_class, ids)
    outcomes = [MathVerifier()(t, "2") for t in texts]
    judge = make_judge("calculator")
    crits = reference_critiques(judge, aligned, [x["problem"] for x in batch], "2", 2)
    want = assign_credit(aligned, outcomes, [0, 0, 0, 0, 1, 1, 1, 1], crits, mask.float(),
                         CreditConfig(2.0, 1.0, "intersection"))
    assert torch.allclose(adv, want.advantages, atol=1e-6)
    metrics = trainer._metrics["eval"]
    for key in ("accuracy", "token_reward", "judge/flagged_step_rate", "judge/failures", "judge/seconds"):
        assert key in metrics, key


class _ScriptedJudge:
    """GenORM test judge: no verdict for "\\boxed{3}", else 'wrong' when the response says "= 3"."""

    def critique(self, requests, n):
        from capo.judges.base import Critique, JudgeResult

        out = []
        for r in requests:
            text = r.steps[0]
            verdict = None if "\\boxed{3}" in text else (frozenset({0}) if "= 3" in text else frozenset())
            out.append([Critique("scripted", verdict)] * n)
        return JudgeResult(out)

    def close(self):
        pass


def test_genorm_rewards_and_unscorable_responses(boxer, tmp_path):
    from capo.rewards import sequence_group_advantages
    from capo.train.config import PAPER_RULE
    from capo.train.trainer import CapoGRPOTrainer, CreditSettings

    trainer = _trainer(boxer, tmp_path, "dapo", cls=CapoGRPOTrainer, algorithm="genorm", judge=_ScriptedJudge(),
                       credit=CreditSettings(num_critiques=3, **PAPER_RULE))
    trainer.model.eval()
    batch = [trainer.train_dataset[i] for i in (0, 0, 0, 0, 1, 1, 1, 1)]
    torch.manual_seed(5)
    out = trainer._generate_and_score_completions(batch)
    # (B, T) like every estimator's, one value per response on its tokens (capo.estimators.genorm)
    mask = out["completion_mask"].bool()
    assert out["advantages"].shape == mask.shape
    adv = torch.stack([row[keep][0] for row, keep in zip(out["advantages"], mask)])
    assert torch.equal(out["advantages"] * mask, adv.unsqueeze(1) * mask)
    ids = [row[m.bool()].tolist() for row, m in zip(out["completion_ids"], out["completion_mask"])]
    texts = trainer.processing_class.batch_decode(ids, skip_special_tokens=True)
    verdicts = [None if "\\boxed{3}" in t else (0.0 if "= 3" in t else 1.0) for t in texts]
    assert None in verdicts  # the unscorable path is exercised
    for g in (0, 1):
        idx = [i for i in range(4 * g, 4 * g + 4) if verdicts[i] is not None]
        want = sequence_group_advantages(torch.tensor([verdicts[i] for i in idx]), [0] * len(idx)) if idx else []
        for k, i in enumerate(idx):
            assert adv[i].item() == pytest.approx(float(want[k]), abs=1e-6)
    for i, v in enumerate(verdicts):
        if v is None:
            assert adv[i].item() == 0.0
    assert "judge/verdict_matches_rule" in trainer._metrics["eval"]
