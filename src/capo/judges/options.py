"""Command-line options shared by every command that uses a judge (critique, processbench, ...).

    add_judge_arguments(parser, **defaults)   --judge, --base-url, --api-key-env, --n, sampling,
                                              --concurrency, --timeout, --retries, --deadline,
                                              --batch-size, --cache / --no-cache, --prompt-template,
                                              --parse-mode
    judge_from_args(args, on_progress=None)   -> a Judge (CapoError for a bad spec or setting)
    judge_from_options(spec, n=..., ...)      the same from explicit keyword arguments (`capo train`'s
                                              judge section, the verl plugin); DEFAULTS are the defaults
                                              of both
"""

from __future__ import annotations

import argparse
from pathlib import Path

from capo.errors import CapoError

DEFAULTS = dict(judge="calculator", n=4, temperature=0.7, top_p=0.95, max_tokens=1024, seed=None,
                concurrency=32, timeout=120.0, retries=4, deadline=None, batch_size=4, parse_mode="strict")


def add_judge_arguments(parser: argparse.ArgumentParser, **defaults) -> None:
    d = {**DEFAULTS, **defaults}
    g = parser.add_argument_group("judge")
    g.add_argument("--judge", default=d["judge"], metavar="SPEC",
                   help="calculator | hf:<model folder or smollm2> | openai:<model> (with --base-url) "
                        f"(default: {d['judge']})")
    g.add_argument("--base-url", default=None, metavar="URL",
                   help="OpenAI-compatible server for openai:<model>, e.g. http://127.0.0.1:8000/v1 "
                        "(default: $OPENAI_BASE_URL, else api.openai.com)")
    g.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="environment variable holding the API key (default: OPENAI_API_KEY; unset -> 'EMPTY')")
    g.add_argument("--n", type=int, default=d["n"], help=f"critiques per response (default: {d['n']})")
    g.add_argument("--temperature", type=float, default=d["temperature"],
                   help=f"judge sampling temperature, 0 = greedy (default: {d['temperature']})")
    g.add_argument("--top-p", type=float, default=d["top_p"], help=f"(default: {d['top_p']})")
    g.add_argument("--max-tokens", type=int, default=d["max_tokens"],
                   help=f"max tokens per critique (default: {d['max_tokens']})")
    g.add_argument("--seed", type=int, default=d["seed"], help="sampling seed (default: none)")
    g.add_argument("--concurrency", type=int, default=d["concurrency"],
                   help=f"openai: max requests in flight (default: {d['concurrency']})")
    g.add_argument("--timeout", type=float, default=d["timeout"],
                   help=f"openai: seconds per request (default: {d['timeout']})")
    g.add_argument("--retries", type=int, default=d["retries"],
                   help=f"openai: retries on connection errors, timeouts, 429, 5xx (default: {d['retries']})")
    g.add_argument("--deadline", type=float, default=d["deadline"],
                   help="seconds per judge batch; unanswered critiques then fail as 'deadline' (default: none)")
    g.add_argument("--batch-size", type=int, default=d["batch_size"],
                   help=f"hf: sequences per generate call (default: {d['batch_size']})")
    g.add_argument("--threads", type=int, default=None,
                   help="hf: torch CPU threads (default: torch's choice; on a shared, loaded machine 1 can be "
                        "several times faster than 2)")
    g.add_argument("--cache", default=None, metavar="PATH",
                   help="critique cache file (default: $CAPO_CACHE/critiques.sqlite or "
                        "~/.cache/capo/critiques.sqlite)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the critique cache")
    g.add_argument("--prompt-template", default=None, metavar="FILE",
                   help="critique prompt template with {problem}, {reference_block}, {steps_block}")
    g.add_argument("--parse-mode", choices=("strict", "lenient"), default=d["parse_mode"],
                   help="strict: only the template's line 'Wrong step list: [..]' counts; lenient: also "
                        "\\boxed{}, JSON, a final bare list, 'All steps are correct.' (forms a student can "
                        f"write; for templates that ask for them) (default: {d['parse_mode']})")
    g.add_argument("--structured-verdicts", action="store_true",
                   help="constrain every critique to end with a parsable 'Wrong step list: [..]' line. openai: "
                        "through the server's structured outputs (vLLM); the reasoning before it is limited to "
                        "max_tokens - 48 characters; servers that refuse it are detected and logged once. hf: "
                        "a logits processor; indices are steps of the solution")


def judge_from_args(args: argparse.Namespace, on_progress=None):
    """The judge the command line describes (add_judge_arguments)."""
    return judge_from_options(
        args.judge, n=args.n, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
        seed=args.seed, base_url=args.base_url, api_key_env=args.api_key_env, concurrency=args.concurrency,
        timeout=args.timeout, retries=args.retries, deadline=args.deadline, batch_size=args.batch_size,
        threads=args.threads, cache=args.cache, use_cache=not args.no_cache, prompt_template=args.prompt_template,
        parse_mode=args.parse_mode, structured_verdicts=args.structured_verdicts, on_progress=on_progress)


def judge_from_options(spec: str, *, n: int = DEFAULTS["n"], temperature: float = DEFAULTS["temperature"],
                       top_p: float = DEFAULTS["top_p"], max_tokens: int = DEFAULTS["max_tokens"],
                       seed: int | None = DEFAULTS["seed"], base_url: str | None = None,
                       api_key_env: str | None = None, concurrency: int = DEFAULTS["concurrency"],
                       timeout: float = DEFAULTS["timeout"], retries: int = DEFAULTS["retries"],
                       deadline: float | None = DEFAULTS["deadline"], batch_size: int = DEFAULTS["batch_size"],
                       threads: int | None = None, cache: str | Path | None = None, use_cache: bool = True,
                       prompt_template: str | Path | None = None, parse_mode: str = DEFAULTS["parse_mode"],
                       structured_verdicts: bool = False, on_progress=None):
    """A Judge from explicit settings (CapoError for a bad spec or setting). `spec` as --judge;
    cache: the cache file (None: the default file, when use_cache); the options of one back-end
    (openai: base_url ... ; hf: batch_size, threads; both: structured_verdicts) are ignored by the others."""
    from capo.judges.base import make_judge
    from capo.judges.cache import CritiqueCache, default_cache_path
    from capo.judges.runtime import SamplingSettings

    if n < 1:
        raise CapoError(f"--n must be >= 1, got {n}")
    prefix = spec.partition(":")[0]
    if prefix not in ("hf", "openai"):  # calculator and other registered judges take no I/O options
        return make_judge(spec)
    try:
        sampling = SamplingSettings(temperature, top_p, max_tokens, seed)
    except ValueError:
        raise CapoError(f"bad sampling settings: temperature={temperature} (>= 0), top_p={top_p} "
                        f"(in (0, 1]), max_tokens={max_tokens} (>= 1)") from None
    template = None
    if prompt_template:
        path = Path(prompt_template)
        if not path.is_file():
            raise CapoError(f"--prompt-template {path}: no such file")
        template = path.read_text(encoding="utf-8")
        for field in ("{problem}", "{steps_block}"):
            if field not in template:
                raise CapoError(f"--prompt-template {path}: the template needs {field}")
    critique_cache = None
    if use_cache:
        cache_path = Path(cache) if cache else default_cache_path()
        try:
            critique_cache = CritiqueCache(cache_path)
        except Exception as err:
            raise CapoError(f"cannot open the critique cache {cache_path}: {err}") from None
    common = dict(sampling=sampling, cache=critique_cache, template=template, deadline=deadline,
                  on_progress=on_progress, parse_mode=parse_mode)
    if prefix == "openai":
        common.update(base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                      max_retries=retries, structured=structured_verdicts)
    else:
        common.update(batch_size=batch_size, structured=structured_verdicts)
        if threads:
            import torch

            torch.set_num_threads(max(1, threads))
    try:
        return make_judge(spec, **common)
    except TypeError as err:
        raise CapoError(f"judge {spec!r}: {err}") from None


def critique_in_chunks(judge, requests: list, n: int, chunk: int, desc: str, show_progress: bool = True
                       ) -> tuple[list[list], dict[str, int]]:
    """The CLI commands' judge loop: load the judge first (a model that cannot load is a one-line
    error, not N failed critiques), then `chunk` requests per call with a progress bar.
    Returns the critiques per request and the failure counts by reason."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=len(requests) * n, desc=desc, unit="crit", file=sys.stderr,
               disable=not show_progress or not requests, dynamic_ncols=True)
    if hasattr(judge, "on_progress"):
        judge.on_progress = bar.update
    critiques, failures = [], {}
    try:
        if hasattr(judge, "load"):
            judge.load()
        for at in range(0, len(requests), chunk):
            part = requests[at:at + chunk]
            result = judge.critique(part, n)
            if not getattr(judge, "on_progress", None):
                bar.update(len(part) * n)
            critiques.extend(result.critiques)
            for reason, count in result.failures.items():
                failures[reason] = failures.get(reason, 0) + count
    finally:
        bar.close()
    return critiques, failures
