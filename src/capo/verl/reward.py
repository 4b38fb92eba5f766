"""CapoRewardManager: verl's reward-loop manager "capo" (one response per call, async).

Per response (RewardManagerBase.run_single, in verl's reward-loop worker processes):
    ids       the response's own token ids, as generated (never re-encoded text)
    r_v       capo.verify.MathVerifier(decoded response, reward_model.ground_truth)
    align     capo.credit.align_batch: steps with character spans, the step of every token
    critique  capo.credit.select_for_critique decides whether the judge sees the response; its steps
              go to the judge (any capo judge, capo.judge.spec) for N critiques, parsed. A failed or
              crashed judge call leaves the response without a verdict: outcome-only, counted.
    returns   reward_score = r_v: verl places it on the last token; baselines and verl's validation
              read it. reward_extra_info: acc (= r_v), per-response judge telemetry, and the CAPO
              record (capo.verl.records) from which the trainer hook builds the dense (B, T)
              rewards of the batch (capo.verl.trainer).

With algorithm.adv_estimator other than capo (the GRPO-Rule baseline) no judge is built or called.
"""

from __future__ import annotations

import asyncio
import logging
import time

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from capo.credit import align_batch, reported_checkable, select_for_critique
from capo.errors import CapoError
from capo.judges.base import CritiqueRequest
from capo.verify import MathVerifier
from capo.verl.records import encode_record
from capo.verl.settings import CapoSettings
from capo.voting import vote

logger = logging.getLogger(__name__)


def problem_text(non_tensor: dict) -> str:
    """The problem shown to the judge: extra_info.problem or .question (verl's GSM8K preprocessing
    keeps the question there), else the last user message of raw_prompt. Never the data source."""
    extra = non_tensor.get("extra_info") or {}
    for key in ("problem", "question"):
        if isinstance(extra.get(key), str) and extra[key].strip():
            return extra[key]
    prompt = non_tensor.get("raw_prompt")
    users = [m for m in (list(prompt) if prompt is not None else []) if isinstance(m, dict) and m.get("role") == "user"]
    if users:
        content = users[-1].get("content") or ""
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")
    raise CapoError("CAPO needs the problem text for the judge: put it in extra_info.problem (or extra_info.question) "
                    "or keep raw_prompt in the data (data.return_raw_chat)")


@register("capo")
class CapoRewardManager(RewardManagerBase):
    """verl reward manager: r_v from capo's verifier, critiques from a capo judge, a CAPO record."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                 reward_model_tokenizer=None, **_):
        super().__init__(config, tokenizer, compute_score)  # compute_score is unused: r_v is capo's verifier
        self.settings = CapoSettings.from_section(config.get("capo"))
        self.verifier = MathVerifier()
        credit = config.algorithm.adv_estimator == "capo"
        self.judge = self.settings.build_judge() if credit else None

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1]  # multi-output trajectories: the last sequence, as verl's managers do
        ids = item.batch["responses"]
        valid = int(item.batch["attention_mask"][-ids.shape[-1]:].sum())
        ids = ids[:valid].tolist()
        reference = item.non_tensor_batch["reward_model"]["ground_truth"]
        c = self.settings.capo
        aligned = (await asyncio.to_thread(align_batch, self.tokenizer, [ids], c.splitter, c.separators))[0]
        r_v = await asyncio.to_thread(self.verifier, aligned.text, reference)
        critiques, checkable = None, None
        failures = unparsable = 0
        seconds = 0.0
        if self.judge is not None:
            judged, sent = select_for_critique([aligned], [r_v], c.critique)
            critiques = [] if judged else None  # judged with zero steps: an empty list
            if sent:
                request = CritiqueRequest(problem_text(item.non_tensor_batch), tuple(s.text for s in aligned.steps),
                                          str(reference) if c.reference_in_prompt else None)
                t0 = time.perf_counter()
                try:
                    result = await self.judge.acritique([request], c.num_critiques)
                    crits = result.critiques[0]
                    critiques, checkable = [x.wrong_steps for x in crits], reported_checkable(crits)
                    failures, unparsable = result.num_failed, result.num_unparsable
                except Exception as err:  # noqa: BLE001  (judges report failures per critique; this is the last resort)
                    logger.warning("CAPO judge call failed (%s: %s); the response is outcome-only",
                                   type(err).__name__, err)
                    critiques, failures = [None] * c.num_critiques, c.num_critiques
                seconds = time.perf_counter() - t0
        v = vote(critiques or [], len(aligned.steps), c.vote, c.min_valid)
        flagged = sum(1 for w in v.weights if w > 0)
        info = {
            "acc": float(r_v),
            "capo_judged": float(critiques is not None),
            "capo_steps": float(len(aligned.steps)),
            "capo_flagged_steps": float(flagged),
            "capo_flag_rate": flagged / len(aligned.steps) if aligned.steps else 0.0,
            "capo_vote_agreement": v.agreement if v.has_verdict else 0.0,
            "capo_no_verdict": float(critiques is not None and not v.has_verdict),
            "capo_parse_failures": float(unparsable),
            "capo_judge_failures": float(failures),
            "capo_judge_seconds": seconds,
            "capo_record": encode_record(aligned, r_v, critiques, checkable),
        }
        return {"reward_score": float(r_v), "reward_extra_info": info}
