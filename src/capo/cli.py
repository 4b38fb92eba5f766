"""`capo` command line: wires subcommands to their modules; no logic of its own.

Each subcommand lives in the module named below, which defines
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int
Modules are imported only when their command runs, so `capo --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from capo import __version__
from capo.errors import CapoError

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("capo.train.command", "train a policy with CAPO / GRPO / GenORM (no arguments: the CPU demo)"),
    "eval": ("capo.eval.command", "evaluate a model on math / multiple-choice benchmarks"),
    "critique": ("capo.judges.critique_command", "critique responses with a judge: JSONL in, steps + verdicts out"),
    "processbench": ("capo.judges.processbench_command", "score a judge on ProcessBench"),
    "lab": ("capo.lab.command", "credit-assignment lab: controlled experiments with step-level ground truth"),
    "view": ("capo.view.command", "one self-contained HTML page of judged rollouts (a run directory or critiques)"),
}


class IntermixedParser(argparse.ArgumentParser):
    """A subcommand's parser that lets positionals stand before, between and after options
    (`capo train CONFIG --model X trl.max_steps=5 --resume`): plain argparse rejects positionals
    after an option once it has consumed the first run of them."""

    def parse_known_args(self, args=None, namespace=None):
        if getattr(self, "_intermixed_active", False):  # parse_known_intermixed_args calls back here
            return super().parse_known_args(args, namespace)
        self._intermixed_active = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed_active = False


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capo",
        description="CAPO: token-level credit assignment from an LLM judge (GenPRM) for RL on LLM reasoning.",
    )
    parser.add_argument("--version", action="version", version=f"capo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=IntermixedParser)
    for name, (module, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == command:  # import only the module that will run
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except CapoError as err:
        print(f"capo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"capo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
