"""How long the `capo view` page of a large run takes to open in a real browser, and how many bytes
the rollout record costs per step.

    python benchmarks/bench_view_load.py                 # 10 000 rollouts (625 steps x 2 groups x G = 8)
    python benchmarks/bench_view_load.py --rollouts 2000 --critique-chars 1000

It writes a synthetic run directory in the format `capo train` writes (rollouts.jsonl: 4-step
responses of ~64 tokens, N = 4 calculator-style critiques, run-length coded advantages;
metrics.jsonl), builds the page with `capo view`, opens it from disk in headless chromium
(tests/support/browser.py) three times and prints the time from navigation start until the first
page of groups is rendered (the page sets body[data-ready]), the page size, and the bytes per step.
Needs scripts/setup-browser.sh. A figure, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser helper of the test suite (tests/support)

STEP_TEXTS = ["Tom has {a} apples and buys {b} more.", "So he has {a} + {b} = {c} apples.",
              "He gives away {d}, leaving {c} - {d} = {e}.", "The answer is \\boxed{{{e}}}."]


def synthetic_rollout(rng: random.Random, step: int, group: int, critique_chars: int) -> dict:
    a, b, d = rng.randint(1, 50), rng.randint(1, 50), rng.randint(1, 20)
    wrong = rng.random() < 0.4
    c = a + b + (rng.randint(1, 3) if wrong else 0)
    e = c - d
    steps = [t.format(a=a, b=b, c=c, d=d, e=e) for t in STEP_TEXTS]
    text = "\n\n".join(steps)
    spans, pos = [], 0
    for s in steps:
        spans.append([pos, pos + len(s)])
        pos += len(s) + 2
    flagged = [1] if wrong else []
    verdict = f"Wrong step list: {flagged}"
    critiques = [{"text": ("x" * max(0, critique_chars - 40)) + f"Step 1 checks.\n{verdict}",
                  "wrong_steps": flagged if rng.random() > 0.05 else None, "error": None,
                  "latency_s": round(rng.random(), 3), "cached": False} for _ in range(4)]
    counts = [sum(1 for k in critiques if k["wrong_steps"] is not None and j in k["wrong_steps"]) for j in range(4)]
    valid = sum(k["wrong_steps"] is not None for k in critiques)
    chars = []
    left = len(text)
    while left > 0:
        n = min(left, rng.randint(1, 5))
        chars.append(n)
        left -= n
    chars.append(0)  # EOS
    adv = rng.uniform(-1.5, 1.5)
    if wrong:  # the flagged step's tokens sit P below the rest (CAPO's advantages are constant per step)
        runs = [[round(adv, 3), len(chars) // 4], [round(adv - 1.2, 3), len(chars) // 4],
                [round(adv, 3), len(chars) - 2 * (len(chars) // 4)]]
    else:
        runs = [[round(adv, 3), len(chars)]]
    return {"step": step, "group": group, "problem": f"Problem {step}-{group}: Tom has {a} apples ...",
            "answer": str(a + b - d), "text": text, "steps": spans, "r_v": 0.0 if wrong else 1.0, "judged": True,
            "counts": counts, "V": valid, "N": 4, "critiques": critiques,
            "weights": [1.0 if valid and counts[j] == valid else 0.0 for j in range(4)],
            "token_chars": chars, "advantages": runs}


def write_run(run: Path, rollouts: int, groups: int, g: int, critique_chars: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    run.mkdir(parents=True, exist_ok=True)
    per_step = groups * g
    steps = (rollouts + per_step - 1) // per_step
    written = 0
    with (run / "rollouts.jsonl").open("w") as f, (run / "metrics.jsonl").open("w") as m:
        for step in range(1, steps + 1):
            for k in range(per_step):
                if written == rollouts:
                    break
                f.write(json.dumps(synthetic_rollout(rng, step, k // g, critique_chars), ensure_ascii=False,
                                   separators=(",", ":")) + "\n")
                written += 1
            m.write(json.dumps({"step": step, "accuracy": rng.random(), "judge/flagged_step_rate": rng.random() / 3,
                                "judge/vote_agreement": 0.8 + rng.random() / 5, "judge/parse_failures": rng.randint(0, 3),
                                "judge/failures": 0}) + "\n")
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=2, help="groups recorded per step (run.rollout_groups)")
    parser.add_argument("--generations", type=int, default=8, help="G, responses per group")
    parser.add_argument("--critique-chars", type=int, default=60,
                        help="characters per critique (60: calculator; an LLM judge writes ~1000)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from support.browser import console_errors, headless_chromium, open_page

    from capo.cli import main as capo_main

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        steps = write_run(run, args.rollouts, args.groups, args.generations, args.critique_chars)
        record = (run / "rollouts.jsonl").stat().st_size
        t0 = time.perf_counter()
        assert capo_main(["view", str(run)]) == 0
        build_s = time.perf_counter() - t0
        page = run / "view.html"
        page_mb = page.stat().st_size / 1e6
        driver = headless_chromium()
        try:
            times = []
            for _ in range(args.repeats):
                open_page(driver, page, timeout=300)
                times.append(driver.execute_script("return window.capoView"))
            errors = console_errors(driver)
        finally:
            driver.quit()
    # navigation start -> the viewer's first page is on screen, as the page itself measured it
    loads = [t["readyAtMs"] / 1000 for t in times]
    print(f"rollouts {args.rollouts} over {steps} steps ({args.groups} groups x G = {args.generations} per step, "
          f"N = 4 critiques of ~{args.critique_chars} chars)")
    print(f"rollouts.jsonl: {record / 1e6:.1f} MB = {record / steps / 1e3:.1f} kB per step "
          f"({record / args.rollouts:.0f} bytes per response)")
    print(f"capo view: {build_s:.2f} s to build, page {page_mb:.1f} MB")
    print(f"page load in headless chromium (navigation start -> first page rendered): median "
          f"{statistics.median(loads):.2f} s over {len(loads)} loads ({', '.join(f'{x:.2f}' for x in loads)}); "
          f"viewer script {statistics.median(t['renderMs'] for t in times) / 1000:.2f} s of it; console errors: {len(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
