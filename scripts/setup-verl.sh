#!/usr/bin/env bash
# Create/update a SEPARATE virtual environment (.venv-verl) holding verl, for the CAPO plugin for
# verl (src/capo/verl, docs/verl.md) and its tests. Idempotent: a stamp file records what was
# installed; re-running is instant when nothing changed. First run: a few minutes, about 2 GB.
#
# Why a separate venv: verl pins transformers (<5.11) and tensordict (<=0.10.0), which must not
# constrain the project venv. torch is pinned to the local CPU wheel: an unpinned torch pulls
# gigabytes of CUDA wheels. GPU users install verl their own way (docs/verl.md); this environment
# is for CPU tests.
#
# Environment: CAPO_VERL_VENV (default <repo>/.venv-verl), CAPO_VERL_SPEC (default verl==0.9.1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CAPO_VERL_VENV:-$root/.venv-verl}"
spec="${CAPO_VERL_SPEC:-verl==0.9.1}"
stamp="$venv/.capo-verl-stamp"
want="$( (echo "$spec"; cat "$root/scripts/setup-verl.sh" "$root/pyproject.toml") | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then exit 0; fi

start=$SECONDS
echo "[setup-verl] creating/updating $venv with $spec (first time: a few minutes, about 2 GB)" >&2
[[ -x "$venv/bin/python" ]] || python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
py="$venv/bin/python"
# pip, with the noise of this machine's partial local index ("Location ... is ignored") filtered out;
# pip's exit status survives the filter (pipefail).
pip_() {
  "$py" -m pip "$@" 2>&1 | { grep -v "is neither a file nor a directory" || true; } >&2
}
pip_ install -q --upgrade pip
# verl itself; what its v1 trainer and reward loop import that its base requirements leave out
# (from its verl-core extra: TransferQueue, cachetools, pyzmq, msgspec, fastapi, uvicorn; not the
# extra itself, which pulls torchcodec and CUDA-only packages); capo's light dependencies within
# verl's pins. No trl: the plugin does not import capo.train.trainer.
echo "[setup-verl] installing $spec, TransferQueue, capo's light dependencies" >&2
pip_ install -q "torch==2.13.0" "$spec" "TransferQueue==0.1.11" "tensordict==0.10.0" \
  cachetools pyzmq msgspec fastapi uvicorn \
  "math-verify>=0.8,<1.0" "openai>=1.40" "pyyaml>=6" "tqdm>=4.66" \
  "pytest>=8" "pytest-asyncio" "hypothesis>=6.100" "pytest-timeout>=2.3"
echo "[setup-verl] installing capo (editable, --no-deps)" >&2
pip_ install -q --no-deps -e "$root"
echo "[setup-verl] checking that verl and the plugin import" >&2
"$py" -c "import verl, capo.verl.plugin; print('[setup-verl] verl', verl.__version__)" >&2
echo "$want" > "$stamp"
echo "[setup-verl] done in $((SECONDS - start)) s" >&2
