"""Two processes (torchrun, gloo on CPU), each prompt's group of G=4 completions split over both
ranks: the token-group advantages each rank trains on must equal those computed over the whole
group in one process (gather, normalize, slice back)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_train_e2e import make_boxer

from capo.credit import CreditConfig, align_batch, assign_credit
from support import reference_critiques

SCRIPT = r'''
import json, sys
import datasets
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig
from capo.eval.prompting import format_prompt
from capo.judges import make_judge
from capo.train.config import PAPER_RULE
from capo.train.trainer import CapoGRPOTrainer, CreditSettings

model_dir, out = sys.argv[1], sys.argv[2]
problems = [f"Question {k}: What is 1 + 1?" for k in range(8)]
tok = AutoTokenizer.from_pretrained(model_dir)
ds = datasets.Dataset.from_dict({"prompt": [format_prompt(tok, p) for p in problems], "problem": problems,
                                 "answer": ["2"] * len(problems)})
args = GRPOConfig(output_dir=out, use_cpu=True, bf16=False, report_to="none", per_device_train_batch_size=2,
                  num_generations=4, max_completion_length=24, max_steps=2, gradient_checkpointing=False,
                  logging_steps=1, save_strategy="no", seed=0, learning_rate=1e-3, temperature=1.0)

class Recorder(CapoGRPOTrainer):
    def _generate_and_score_completions(self, inputs):
        res = super()._generate_and_score_completions(inputs)
        rows = [{"ids": i[m.bool()].tolist(), "adv": a[m.bool()].tolist(), "problem": x["problem"]}
                for i, m, a, x in zip(res["completion_ids"], res["completion_mask"], res["advantages"], inputs)]
        rank, step = self.accelerator.process_index, self.state.global_step
        with open(f"{out}/rank{rank}-step{step}.json", "w") as f:
            json.dump(rows, f)
        return res

trainer = Recorder(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, train_dataset=ds,
                   processing_class=tok, algorithm="capo", judge=make_judge("calculator"),
                   credit=CreditSettings(num_critiques=2, **PAPER_RULE))
trainer.train()
'''


def test_two_ranks_share_group_statistics(tiny_model_dir, tmp_path):
    boxer = make_boxer(tiny_model_dir, tmp_path / "boxer")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    from support.vllm_server import free_port

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(free_port())]
    proc = subprocess.run([*torchrun, str(script), str(boxer), str(out)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    from transformers import AutoTokenizer

    from capo.judges import make_judge
    from capo.verify import MathVerifier

    tok = AutoTokenizer.from_pretrained(boxer)
    judge, verifier = make_judge("calculator"), MathVerifier()
    steps = sorted({p.name.split("-step")[1] for p in out.glob("rank0-step*.json")})
    assert steps
    for step in steps:
        rows = [r for rank in (0, 1) for r in json.loads((out / f"rank{rank}-step{step}").read_text())]
        assert len(rows) == 4 and len({r["problem"] for r in rows}) == 1  # one group over two ranks
        aligned = align_batch(tok, [r["ids"] for r in rows])
        outcomes = [verifier(tok.decode(r["ids"], skip_special_tokens=True), "2") for r in rows]
        crits = reference_critiques(judge, aligned, [r["problem"] for r in rows], "2", 2)
        width = max(len(r["ids"]) for r in rows)
        mask = torch.zeros(4, width)
        for i, r in enumerate(rows):
            mask[i, : len(r["ids"])] = 1
        want = assign_credit(aligned, outcomes, [0, 0, 0, 0], crits, mask, CreditConfig(2.0, 1.0, "intersection"))
        for i, r in enumerate(rows):
            got = torch.tensor(r["adv"])
            assert torch.allclose(got, want.advantages[i, : len(r["ids"])], atol=1e-5), (step, i)
    # a group with both right and wrong answers gives non-zero advantages on both ranks
    assert any(any(abs(a) > 0 for a in r["adv"]) for p in out.glob("rank1-step*.json") for r in json.loads(p.read_text()))


pytestmark = pytest.mark.skipif(not hasattr(torch.distributed, "is_available") or not torch.distributed.is_available(),
                                reason="torch.distributed unavailable")
