"""Responses per second of `capo eval`'s two back-ends, side by side: hf (transformers `generate`,
this venv) and vllm (vLLM's offline engine, .venv-vllm from scripts/setup-vllm.sh), same model,
same GSM8K items, greedy. Each back-end runs as its own `capo eval` process, one after the other
(one model in memory at a time); rounds alternate hf / vllm so load drift hits both alike.

    python benchmarks/bench_eval_backends.py                      # SmolLM2-135M, 16 items, 256 tokens
    python benchmarks/bench_eval_backends.py --limit 32 --max-new-tokens 512 --rounds 2

Generation time is `timing.generation_s` of results.json (engine start and model load apart:
`settings.load_s`). Also prints how many greedy responses are identical across back-ends.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's helpers (tests/support)

from support import ensure_vllm_python  # noqa: E402
from support.eval_backends import run_capo_eval  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder (default: the offline SmolLM2-135M-Instruct)")
    p.add_argument("--benchmark", default="gsm8k")
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--threads", type=int, default=1, help="torch threads of the hf back-end (default 1)")
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)

    if args.model is None:
        from capo.models.smollm2 import smollm2_path

        args.model = str(smollm2_path())
    vllm_python = ensure_vllm_python()
    settings = dict(benchmark=args.benchmark, limit=args.limit, max_new_tokens=args.max_new_tokens,
                    data=args.data, threads=args.threads)
    rates: dict[str, list[float]] = {"hf": [], "vllm": []}
    last: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for backend in ("hf", "vllm"):
                result = run_capo_eval(backend, args.model, Path(tmp) / f"{backend}-{r}.json",
                                       python=vllm_python if backend == "vllm" else None, **settings)
                timing, n = result["timing"], len(result["records"])
                rates[backend].append(n / timing["generation_s"])
                last[backend] = result
                print(f"round {r} {backend:4s}: {n} responses in {timing['generation_s']:7.1f} s = "
                      f"{n / timing['generation_s']:6.3f} responses/s, {timing['tokens_per_s']:6.1f} tokens/s "
                      f"(load {result['settings']['load_s']:.0f} s; {result['settings']['device']}; "
                      f"pass@1 {result['benchmarks'][args.benchmark]['accuracy']:.3f})", flush=True)
    hf, vllm = last["hf"]["records"], last["vllm"]["records"]
    same = sum(h["responses"] == v["responses"] for h, v in zip(hf, vllm))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"responses/s (median of {args.rounds}): hf {med['hf']:.3f} | vllm {med['vllm']:.3f} | "
          f"vllm/hf {med['vllm'] / med['hf']:.2f}x; identical greedy responses {same}/{len(hf)} "
          f"({args.benchmark}, {args.limit} items, {args.max_new_tokens} new tokens, hf {args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
