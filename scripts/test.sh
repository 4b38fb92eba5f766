#!/usr/bin/env bash
# The test suite: set up .venv (and, from the integration tests' fixtures, .venv-vllm), then pytest.
# Extra arguments are passed to pytest (e.g. -k parse, -x).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-env.sh"
# the headless chromium the `capo view` browser test drives (apt-get, once; a no-op when installed)
bash "$root/scripts/setup-browser.sh"
cd "$root"
# offline unless the caller says otherwise (HF_HUB_OFFLINE=0: data tests may download from the hub)
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
# the layer contracts of pyproject.toml ([tool.importlinter]): fail fast, before the long tests
"${CAPO_VENV:-$root/.venv}/bin/lint-imports" --no-cache > /dev/null || "${CAPO_VENV:-$root/.venv}/bin/lint-imports" --no-cache
exec "${CAPO_VENV:-$root/.venv}/bin/python" -m pytest -q --durations=15 "$@"
