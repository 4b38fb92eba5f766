"""`capo train` with the `openai` judge against a REAL vLLM CPU server (the tiny model served as
"tiny", a session fixture of tests/conftest.py): critiques travel over HTTP during training, the
judge telemetry is logged, the policy trains, and a resume continues at the right step."""

from __future__ import annotations

import json

import pytest
import torch
from test_train_e2e import make_boxer, metric_steps, state_dict, train_args, write_data

from capo.cli import main as capo_main

pytestmark = pytest.mark.integration


def test_capo_with_openai_judge_on_vllm(vllm_tiny_server, tiny_model_dir, tmp_path):
    boxer = make_boxer(tiny_model_dir, tmp_path / "boxer")
    data = write_data(tmp_path / "train.jsonl")
    run = tmp_path / "run"
    judge = ["judge.spec=openai:tiny", f"judge.base_url={vllm_tiny_server.base_url}", "judge.max_tokens=16",
             "judge.temperature=1.0", "judge.timeout=60", "--no-eval"]  # no judge.seed: see docs/training.md
    assert capo_main(train_args(boxer, data, run, *judge, steps=2)) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    n = 2  # capo.num_critiques in train_args
    for r in rows:
        assert r["judge/judged"] > 0
        assert r["judge/seconds"] > 0
        # a random tiny judge: critiques come back (no transport failures) but few parse
        assert r["judge/failures"] + r["judge/parse_failures"] <= r["judge/judged"] * n
        # an empty critique is an answer, not a transport failure: the random judge samples its
        # stop token first with p ~ 0.0016 (1/512 vocabulary), so 48 critiques hit one ~8 % of runs
        assert r["judge/failures"] - r.get("judge/failed/empty", 0.0) == 0, r
    assert any(not torch.equal(a, b) for a, b in zip(state_dict(boxer).values(), state_dict(run / "final").values()))

    # resume for one more step against the same server
    assert capo_main(["train", "-o", str(run), "--resume", "trl.max_steps=3"]) == 0
    assert metric_steps(run) == [1, 2, 3]
