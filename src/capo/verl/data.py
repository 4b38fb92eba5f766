"""`python -m capo.verl.data OUT_DIR [--train SPEC] [--train-size N] [--eval SPEC] [--eval-size M]`

Writes OUT_DIR/train.parquet and OUT_DIR/test.parquet in verl's RL schema from any source
`capo train` reads (capo.train.data: procedural:arith, hf:<dataset>[:<config>], local files):

    data_source    the source spec
    prompt         chat messages: [system,] user = the problem + capo eval's \\boxed{} instruction
    ability        "math"
    reward_model   {"style": "rule", "ground_truth": answer}   (read by capo's verifier)
    extra_info     {"split", "index", "problem"}: the bare problem, which the judge is shown

verl's own preprocessing scripts work too (the judge then sees the last user message, its
instruction included, or extra_info.question where they keep it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from capo.errors import CapoError
from capo.eval.prompting import user_message
from capo.train.config import DataSection
from capo.train.data import load_train_eval


def verl_rows(problems, source: str, split: str, system: str | None = None) -> list[dict]:
    rows = []
    for i, p in enumerate(problems):
        messages = list(p.prompt) if p.prompt is not None else [{"role": "user", "content": user_message(p.problem)}]
        if system and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": system}, *messages]
        rows.append({"data_source": source, "prompt": messages, "ability": "math",
                     "reward_model": {"style": "rule", "ground_truth": p.answer},
                     "extra_info": {"split": split, "index": i, "problem": p.problem}})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capo.verl.data", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for train.parquet and test.parquet")
    parser.add_argument("--train", default="procedural:arith", help="training source (default: procedural:arith)")
    parser.add_argument("--train-size", type=int, default=2000, help="at most this many training problems")
    parser.add_argument("--split", default="train", help="split of an hf: training source (default: train)")
    parser.add_argument("--eval", default=None, help="held-out source (default: held out from --train)")
    parser.add_argument("--eval-size", type=int, default=100, help="held-out problems (default: 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--system-prompt", default=None, help="a system message for every prompt")
    args = parser.parse_args(argv)
    try:
        import pandas as pd

        data = DataSection(train=args.train, split=args.split, eval=args.eval, eval_size=args.eval_size,
                           train_size=args.train_size)
        train, held = load_train_eval(data, args.seed)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, problems, split, source in (("train", train, "train", args.train),
                                              ("test", held, "test", args.eval or args.train)):
            path = args.out / f"{name}.parquet"
            pd.DataFrame(verl_rows(problems, source, split, args.system_prompt)).to_parquet(path)
            print(f"{path}: {len(problems)} problems", file=sys.stderr)
    except CapoError as err:
        print(f"capo: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
