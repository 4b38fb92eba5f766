#!/usr/bin/env bash
# verl's own CPU unit tests for its advantage estimators and reward managers, run in .venv-verl with
# the CAPO plugin imported first (pytest -p capo.verl.plugin): registering "capo" must not change
# what verl's estimators and reward managers do.
#
#   bash scripts/verl-upstream-tests.sh VERL_SOURCE_DIR [extra pytest args]
#
# VERL_SOURCE_DIR: a checkout of verl's repository (its tests/ are not in the PyPI wheel), ideally
# at the installed version's tag. Not part of scripts/test.sh: it needs that checkout (GitHub).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${1:?usage: verl-upstream-tests.sh VERL_SOURCE_DIR [pytest args]}"; shift
bash "$root/scripts/setup-verl.sh"
py="${CAPO_VERL_PYTHON:-$root/.venv-verl/bin/python}"
tests=(
  tests/trainer/ppo/test_core_algos_on_cpu.py                      # estimators, the registry, policy losses
  tests/trainer/test_multi_trajectories_advantage_on_cpu.py        # the v1 trainer's advantage dispatch
  tests/workers/reward_manager/test_registry_on_cpu.py             # reward-manager registry
  tests/workers/reward_manager/test_naive_on_cpu.py
  tests/workers/reward_manager/test_dapo_on_cpu.py
  tests/experimental/reward_loop/test_rate_limited_reward_manager_on_cpu.py
  tests/experimental/reward_loop/test_async_token_bucket_on_cpu.py
  tests/trainer/ppo/v1/test_compute_reward_colocate_on_cpu.py      # rm_scores assembly contract
)
cd "$src"
# verl's CPU workflow runs its tests this way (.github/workflows/cpu_unit_tests.yml)
exec "$py" -m pytest -q -p capo.verl.plugin --asyncio-mode=auto -p no:cacheprovider "${tests[@]}" "$@"
