#!/usr/bin/env bash
# Same config and seed at two commits -> the same training metrics and held-out numbers?
#   bash benchmarks/same_numbers.sh REV_BEFORE REV_AFTER [key=value ...]
# e.g. bash benchmarks/same_numbers.sh d1bf534 HEAD seed=0 trl.max_steps=4 data.eval_size=30
# Each commit is checked out in a temporary git worktree and runs `capo train` with one thread (so
# float reductions are deterministic) and this checkout's .venv; the two runs go side by side.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 2 ]] || { echo "usage: $0 REV_BEFORE REV_AFTER [key=value ...]" >&2; exit 2; }
before=$1 after=$2; shift 2
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/before" 2>/dev/null; git -C "$root" worktree remove --force "$work/after" 2>/dev/null; rm -rf "$work"' EXIT
for side in before after; do
  git -C "$root" worktree add -q --detach "$work/$side" "${!side}"
  (cd "$work/$side" && OMP_NUM_THREADS=1 PYTHONPATH="$work/$side/src" "$root/.venv/bin/python" -m capo.cli train \
     run.progress=false run.output_dir="$work/run-$side" --overwrite "$@" > "$work/$side.log" 2>&1) &
done
wait
"$root/.venv/bin/python" - "$work/run-before" "$work/run-after" <<'PY'
import json, sys
from pathlib import Path
a, b = (Path(p) for p in sys.argv[1:3])
def rows(run):  # per-step metrics without wall times
    return [{k: v for k, v in json.loads(line).items() if "time" not in k and "seconds" not in k and k != "step_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]
ra, rb = rows(a), rows(b)
common = [{k: x[k] for k in x if k in y} == {k: y[k] for k in x if k in y} for x, y in zip(ra, rb)]
print(f"steps: {len(ra)} vs {len(rb)}; per-step metrics identical (keys in both): {all(common) and len(ra) == len(rb)}")
for name in ("eval_before.json", "eval_after.json"):
    ea, eb = (json.loads((r / name).read_text()) for r in (a, b))
    print(f"{name}: accuracy {ea['accuracy']:.3f} vs {eb['accuracy']:.3f}; same items correct: {ea['correct'] == eb['correct']}")
PY
