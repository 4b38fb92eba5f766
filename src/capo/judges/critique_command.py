"""`capo critique`: critique responses with a judge. JSONL in, JSONL out.

Input, one JSON object per line: `problem`, `response` (strings), optional `reference` (final
answer shown to the judge), `group` (rows sharing it form one GRPO group), `correct` (the outcome
r_v, bool or 0/1). Output: each input row plus
    steps            the response's steps (splitter --splitter)
    critiques        [{text, wrong_steps (null = unparsable/failed), error, latency_s,
                       prompt_tokens, completion_tokens, cached}, ...]  (--n of them)
    wrong_steps      the voted wrong steps (--vote), step_weights (per step, in [0, 1]),
    has_verdict      false when fewer than --min-valid critiques parsed (no process penalty)
and with --tokenizer PATH also `token_ids`, `tokens` (the text of each token), `outcome`,
`token_rewards` (C*r_v - P*w) and `token_advantages` (CAPO token-group normalisation, with the
exploit guards --separators, --process-groups, --penalty, --unjudgeable at `capo train`'s
defaults); the outcome is `correct`, else the math verifier on `reference`.
A summary line goes to stderr: responses, critiques, failures, parse failures, flag rate, time.
Every path (input, -o's folder, --tokenizer) is checked before any work; -o is written whole or
not at all (a temporary file renamed into place), and an empty input is an error, not an empty -o.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from capo.errors import CapoError
from capo.jsonl import iter_jsonl
from capo.judges.options import add_judge_arguments, critique_in_chunks, judge_from_args
from capo.outputs import atomic_output, check_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="JSONL file of responses ('-' for stdin)")
    parser.add_argument("-o", "--output", default="-", help="JSONL output file (default: stdout)")
    parser.add_argument("--splitter", default="paragraph",
                        help="step splitter: paragraph | line | marker:<regex> (default: paragraph)")
    parser.add_argument("--vote", default="intersection",
                        help="union | intersection | majority | average (default: intersection)")
    parser.add_argument("--min-valid", type=int, default=1,
                        help="fewer parsed critiques than this: no verdict (default: 1)")
    parser.add_argument("--C", type=float, default=2.0, help="W_whole, weight of the outcome reward (default: 2)")
    parser.add_argument("--P", type=float, default=1.0, help="W_process, penalty on wrong-step tokens (default: 1)")
    # the exploit guards of capo.credit, with `capo train`'s defaults (docs/training.md#exploit-guards)
    parser.add_argument("--separators", choices=("outside", "next", "next_and_last"), default="next_and_last",
                        help="tokens between steps: outside = no step (the paper) | next = the step they open "
                             "| next_and_last = also the tokens after the last step (EOS) take the last step (default: next_and_last)")
    parser.add_argument("--process-groups", choices=("all", "with_correct"), default="all",
                        help="groups that get the process penalty (default and the paper: all)")
    parser.add_argument("--penalty", choices=("token", "response"), default="token",
                        help="penalty shape: token (the paper) | response (step-count invariant) (default: token)")
    parser.add_argument("--unjudgeable", choices=("ignore", "flagged"), default="flagged",
                        help="a wrong response with zero steps or nothing the judge could check: ignore (the "
                             "paper) | flagged (default: flagged)")
    parser.add_argument("--tokenizer", default=None, metavar="PATH",
                        help="also output tokens, token_rewards and token_advantages (needs `correct` or `reference`)")
    parser.add_argument("--chunk", type=int, default=256, help="responses per judge call (default: 256)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_judge_arguments(parser)


def read_rows(path: str) -> tuple[list[dict], list[int], str]:
    """Validated rows, their line numbers and a display name; CapoError names file:line."""
    name = "<stdin>" if path == "-" else path
    if path == "-":
        lines = sys.stdin.read().splitlines()
    else:
        p = Path(path)
        if not p.is_file():
            raise CapoError(f"{name}: no such file")
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise CapoError(f"{name}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    rows, numbers = [], []
    for lineno, row in iter_jsonl("\n".join(lines), name):
        for field in ("problem", "response"):
            if field not in row:
                raise CapoError(f"{name}:{lineno}: missing field {field!r}")
            if not isinstance(row[field], str):
                raise CapoError(f"{name}:{lineno}: field {field!r} must be a string")
        if row.get("reference") is not None and not isinstance(row["reference"], (str, int, float)):
            raise CapoError(f"{name}:{lineno}: field 'reference' must be a string or a number")
        if "group" in row and not (row["group"] is None or isinstance(row["group"], (str, int))):
            raise CapoError(f"{name}:{lineno}: field 'group' must be a string or an integer")
        if "correct" in row and row["correct"] is not None:
            c = row["correct"]
            if isinstance(c, bool) or (isinstance(c, (int, float)) and c in (0, 1)):
                pass
            else:
                raise CapoError(f"{name}:{lineno}: field 'correct' must be true/false or 0/1")
        rows.append(row)
        numbers.append(lineno)
    return rows, numbers, name


def _outcomes(rows, numbers, name) -> list[float]:
    from capo.verify import MathVerifier

    for row, lineno in zip(rows, numbers):  # every row first: no verifying before a bad row stops us
        if row.get("correct") is None and row.get("reference") is None:
            raise CapoError(f"{name}:{lineno}: --tokenizer needs `correct` or `reference` to compute token rewards")
    verifier = None
    out = []
    for row in rows:
        if row.get("correct") is not None:
            out.append(float(row["correct"]))
        else:
            verifier = verifier or MathVerifier()
            out.append(verifier(row["response"], str(row["reference"])))
    return out


def _groups(rows) -> list[int]:
    ids: dict = {}
    out = []
    for i, row in enumerate(rows):
        g = row.get("group")
        key = ("g", json.dumps(g)) if g is not None else ("row", i)
        out.append(ids.setdefault(key, len(ids)))
    return out


def _critique_json(c) -> dict:
    return {"text": c.text, "wrong_steps": sorted(c.wrong_steps) if c.wrong_steps is not None else None,
            "error": c.error, "latency_s": round(c.latency_s, 4), "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "cached": c.cached}


def run(args: argparse.Namespace) -> int:

    from capo.judges.base import CritiqueRequest
    from capo.steps import compile_splitter
    from capo.voting import VOTERS, vote

    if args.vote not in VOTERS:
        raise CapoError(f"unknown --vote {args.vote!r}; use one of {', '.join(sorted(VOTERS))}")
    if args.min_valid < 1 or args.chunk < 1:
        raise CapoError("--min-valid and --chunk must be >= 1")
    try:
        split = compile_splitter(args.splitter)
    except ValueError as err:
        raise CapoError(str(err)) from None
    # every path is checked before any work: a typo must not cost the critiques already made
    if args.input != "-" and not Path(args.input).is_file():
        raise CapoError(f"{args.input}: no such file")
    check_output(args.output, "-o")
    tokenizer_source = _tokenizer_source(args.tokenizer) if args.tokenizer else None
    rows, numbers, name = read_rows(args.input)
    if not rows:
        raise CapoError(f"{name}: no rows to critique (empty input)")
    start = time.perf_counter()
    with judge_from_args(args) as judge:  # validates the judge options (template, cache) before the work
        outcomes = _outcomes(rows, numbers, name) if args.tokenizer else None
        tokenizer, aligned = None, None
        if args.tokenizer:
            from capo.credit import align_batch

            tokenizer = _load_tokenizer(args.tokenizer, tokenizer_source)
            ids = [tokenizer(r["response"], add_special_tokens=False)["input_ids"] for r in rows]
            aligned = align_batch(tokenizer, ids, args.splitter, args.separators)
            steps = [[s.text for s in a.steps] for a in aligned]
        else:
            steps = [[s.text for s in split(r["response"])] for r in rows]
        requests = [CritiqueRequest(r["problem"], tuple(st),
                                    None if r.get("reference") is None else str(r["reference"]))
                    for r, st in zip(rows, steps)]

        critiques, failures = critique_in_chunks(judge, requests, args.n, args.chunk, "critiques",
                                                 not args.no_progress)

    votes = [vote([c.wrong_steps for c in cs], len(req.steps), args.vote, args.min_valid)
             for req, cs in zip(requests, critiques)]
    extra = [{} for _ in rows]
    if tokenizer is not None:
        extra = _token_credit(tokenizer, rows, aligned, ids, outcomes, critiques, args)

    # the whole output or nothing: a temporary file in the same folder, renamed at the end
    with contextlib.nullcontext(sys.stdout) if args.output == "-" else atomic_output(args.output) as out:
        for row, st, cs, v, ex in zip(rows, steps, critiques, votes, extra):
            record = dict(row)
            record.update(steps=st, critiques=[_critique_json(c) for c in cs], wrong_steps=v.wrong_steps,
                          step_weights=[round(w, 6) for w in v.weights], has_verdict=v.has_verdict,
                          num_valid=v.num_valid)
            record.update(ex)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    seconds = time.perf_counter() - start
    total = sum(len(cs) for cs in critiques)
    failed = sum(failures.values())
    unparsable = sum(1 for cs in critiques for c in cs if c.error is None and c.wrong_steps is None)
    n_steps = sum(len(s) for s, v in zip(steps, votes) if v.has_verdict)
    flagged = sum(len(v.wrong_steps) for v in votes if v.has_verdict)
    why = f" ({', '.join(f'{k}={v}' for k, v in sorted(failures.items()))})" if failures else ""
    print(f"capo critique: {len(rows)} responses, {total} critiques, {failed} failed{why}, {unparsable} unparsable, "
          f"{sum(1 for v in votes if not v.has_verdict)} without verdict, flagged {flagged}/{n_steps} steps "
          f"({100.0 * flagged / n_steps if n_steps else 0.0:.1f}%), {seconds:.1f} s", file=sys.stderr)
    return 0


def _tokenizer_source(path: str) -> str:
    """What --tokenizer names, checked before any work: a folder, `smollm2`, or a hub id."""
    from capo.models.smollm2 import resolve_model

    local = Path(path).expanduser()
    if local.is_dir():
        return str(local)
    if local.exists():
        raise CapoError(f"--tokenizer {path}: not a folder")
    if path.startswith((".", "/", "~")) or path.count("/") > 1 or "\\" in path:  # a path, not a hub id
        raise CapoError(f"--tokenizer {path}: no such folder")
    try:
        return resolve_model(path)
    except CapoError as err:
        raise CapoError(f"--tokenizer {path}: {err}") from None


def _load_tokenizer(path: str, source: str):
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source)
    except Exception as err:
        raise CapoError(f"--tokenizer {path}: cannot load ({type(err).__name__}: {str(err).splitlines()[0][:200]})") \
            from None


def _token_credit(tokenizer, rows, aligned, ids, outcomes, critiques, args) -> list[dict]:
    import torch

    from capo.alignment import token_char_spans
    from capo.credit import CreditConfig, assign_credit, reported_checkable

    lengths = [len(x) for x in ids]
    width = max(lengths + [1])
    mask = torch.zeros(len(rows), width)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    parsed = [[c.wrong_steps for c in cs] for cs in critiques]
    config = CreditConfig(C=args.C, P=args.P, vote=args.vote, min_valid=args.min_valid,
                          process_groups=args.process_groups, penalty=args.penalty, unjudgeable=args.unjudgeable)
    credit = assign_credit(aligned, outcomes, _groups(rows), parsed, mask, config,
                           [reported_checkable(cs) for cs in critiques])
    out = []
    for i, token_ids in enumerate(ids):
        text, spans, _ = token_char_spans(tokenizer, token_ids)
        n = lengths[i]
        out.append({"token_ids": list(token_ids), "tokens": [text[a:b] for a, b in spans], "outcome": outcomes[i],
                    "token_rewards": [round(x, 6) for x in credit.rewards[i, :n].tolist()],
                    "token_advantages": [round(x, 6) for x in credit.advantages[i, :n].tolist()]})
    return out
