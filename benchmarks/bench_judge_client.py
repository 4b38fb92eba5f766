"""Critiques per second: capo's openai judge client vs a plain AsyncOpenAI + asyncio.gather loop.

Both send the same CAPO critique prompts (ProcessBench gsm8k items when the shared data is there,
else synthetic ones) to the same server, at the same concurrency, with the same n / max_tokens /
temperature, and `ignore_eos` (vLLM) so every completion has exactly max_tokens tokens (equal work
whatever is sampled). Rounds alternate plain / capo (cache on, a fresh file: every write is paid) /
capo (no cache), so server warm-up and load drift hit all three alike; the medians are compared.

    python benchmarks/bench_judge_client.py --start tiny            # starts a vLLM CPU server
    python benchmarks/bench_judge_client.py --start tiny --concurrency 8 32 128 --requests 256
    python benchmarks/bench_judge_client.py --base-url http://127.0.0.1:8000/v1 --model NAME

Several --concurrency values are measured in one run, against the same server, and the ratios
printed side by side. Ratio goal: capo / plain >= 0.95 at each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from capo.judges import CritiqueRequest, make_judge
from capo.judges.runtime import SamplingSettings
from capo.prompt import build_critique_messages

ROOT = Path(__file__).resolve().parents[1]
PROCESSBENCH = ROOT.parent / "shared" / "data" / "processbench" / "gsm8k.json"


def requests_for(count: int, tag: str) -> list[CritiqueRequest]:
    if PROCESSBENCH.is_file():
        items = json.loads(PROCESSBENCH.read_text())
        # short items only: the tiny test model's byte-level vocabulary makes long prompts > 2048 tokens
        base = [CritiqueRequest(it["problem"], tuple(it["steps"])) for it in items
                if len(it["problem"]) + sum(len(s) for s in it["steps"]) < 1200]
    else:
        base = [CritiqueRequest(f"What is {i} + {i}?", (f"{i} + {i} = {2 * i}", f"\\boxed{{{2 * i}}}"))
                for i in range(count)]
    # a tag per round keeps prompts distinct across rounds (no server prefix-cache advantage); the
    # items are cycled when more prompts are asked for than there are short items
    return [CritiqueRequest(f"[{tag}-{i}] {base[i % len(base)].problem}", base[i % len(base)].steps)
            for i in range(count)]


async def plain_loop(base_url, model, reqs, n, concurrency, max_tokens, temperature, top_p, extra_body):
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY")
    sem = asyncio.Semaphore(concurrency)

    async def one(req):
        messages = build_critique_messages(req.problem, list(req.steps), req.reference)
        async with sem:
            resp = await client.chat.completions.create(model=model, messages=messages, n=n, max_tokens=max_tokens,
                                                        temperature=temperature, top_p=top_p, extra_body=extra_body)
        return [c.message.content for c in resp.choices]

    try:
        results = await asyncio.gather(*(one(r) for r in reqs))
    finally:
        await client.close()
    return sum(len(r) for r in results)


def run_plain(args, base_url, reqs, concurrency):
    t0 = time.perf_counter()
    count = asyncio.run(plain_loop(base_url, args.model, reqs, args.n, concurrency, args.max_tokens,
                                   args.temperature, args.top_p, {"ignore_eos": True}))
    return count, time.perf_counter() - t0


def run_capo(args, base_url, reqs, cache_dir: str | None, concurrency):
    t0 = time.perf_counter()
    judge = make_judge(f"openai:{args.model}", base_url=base_url, concurrency=concurrency,
                       sampling=SamplingSettings(args.temperature, args.top_p, args.max_tokens),
                       extra_body={"ignore_eos": True},
                       cache=None if cache_dir is None else str(Path(cache_dir) / f"{time.time_ns()}.sqlite"))
    result = judge.critique(reqs, args.n)
    judge.close()
    elapsed = time.perf_counter() - t0
    if result.num_failed:
        print(f"  warning: {result.num_failed} failed critiques {result.failures}", file=sys.stderr)
    return result.num_critiques - result.num_failed, elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=None)
    p.add_argument("--model", default=None, help="served model name")
    p.add_argument("--start", choices=["tiny", "smollm2"], default=None, help="start a vLLM CPU server for this model")
    p.add_argument("--requests", type=int, default=48, help="prompts per round")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--concurrency", type=int, nargs="+", default=[8],
                   help="requests on the wire, both clients; several values: each measured in this run")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    server = None
    if args.start:
        sys.path.insert(0, str(ROOT / "tests"))  # the test suite's vLLM server manager (tests/support)
        from support import start_named_vllm_server

        t0 = time.perf_counter()
        server = start_named_vllm_server(args.start)
        print(f"started vLLM ({args.start}) in {time.perf_counter() - t0:.0f} s at {server.base_url}")
        base_url, args.model = server.base_url, args.start
    elif not (args.base_url and args.model):
        p.error("give --start tiny|smollm2, or --base-url and --model")
    else:
        base_url = args.base_url

    kinds = ("plain", "capo_cache", "capo_nocache")
    rates = {c: {k: [] for k in kinds} for c in args.concurrency}
    try:
        run_plain(args, base_url, requests_for(min(8, args.requests), "warmup"), 8)  # server warm-up
        with tempfile.TemporaryDirectory() as tmp:
            for c in args.concurrency:
                for r in range(args.rounds):
                    for kind in kinds:
                        reqs = requests_for(args.requests, f"c{c}-{r}-{kind}")
                        if kind == "plain":
                            count, secs = run_plain(args, base_url, reqs, c)
                        else:
                            count, secs = run_capo(args, base_url, reqs, tmp if kind == "capo_cache" else None, c)
                        rates[c][kind].append(count / secs)
                        print(f"concurrency {c:3d} round {r} {kind:13s} {count} critiques in {secs:6.2f} s = "
                              f"{count / secs:7.1f} critiques/s", flush=True)
    finally:
        if server is not None:
            server.stop()
    print(f"\nmedian critiques/s over {args.rounds} rounds (n {args.n}, {args.requests} prompts x {args.max_tokens} "
          f"tokens per round; goal capo/plain >= 0.95)")
    print("concurrency   plain  capo(cache)  capo(no cache)  ratio cache  ratio no cache")
    for c in args.concurrency:
        med = {k: statistics.median(v) for k, v in rates[c].items()}
        print(f"{c:11d} {med['plain']:7.1f} {med['capo_cache']:12.1f} {med['capo_nocache']:15.1f} "
              f"{med['capo_cache'] / med['plain']:12.3f} {med['capo_nocache'] / med['plain']:15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
