#!/usr/bin/env bash
# Smoke test of CAPO on verl with ONE NVIDIA GPU: 2 PPO steps of Qwen2.5-0.5B-Instruct on procedural
# arithmetic word problems, judged by the rule-based calculator (no judge server needed).
#
#   bash scripts/verl-smoke-1gpu.sh [extra verl overrides]
#
# Needs a Python with verl 0.9.x and its GPU stack (e.g. `pip install "verl[vllm]==0.9.1"`, or verl's
# docker image) and capo installed into it (`pip install -e . --no-deps` plus math-verify, openai,
# pyyaml). Not .venv-verl: that one is CPU-only. PYTHON selects the interpreter; MODEL another policy
# (hub id or local folder); OUT the run folder. Passes if both steps finish and print capo/ metrics.
#
# This script has not been run by the project yet: no GPU was available where the plugin was written
# (docs/verl.md, "What was and was not run").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python}"
model="${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}"
out="${OUT:-$root/runs/verl-smoke}"
mkdir -p "$out"

"$py" -m capo.verl.data "$out/data" --train procedural:arith --train-size 64 --eval-size 16
"$py" -m capo.verl.main_ppo --config-path "$root/configs/verl" --config-name small \
  actor_rollout_ref.model.path="$model" \
  data.train_files="$out/data/train.parquet" data.val_files="$out/data/test.parquet" \
  trainer.total_training_steps=2 trainer.val_before_train=false trainer.test_freq=-1 \
  trainer.default_local_dir="$out/checkpoints" \
  "$@" 2>&1 | tee "$out/log.txt"
grep -q "capo/judge/flagged_step_rate" "$out/log.txt" || { echo "smoke: no capo/ metrics in $out/log.txt" >&2; exit 1; }
echo "smoke: 2 CAPO steps on verl finished; log in $out/log.txt" >&2
