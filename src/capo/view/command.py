"""`capo view`: one self-contained HTML page of judged rollouts.

    capo view runs/x                        <run>/rollouts.jsonl + metrics.jsonl -> runs/x/view.html
    capo view critiques.jsonl -o c.html     the output of `capo critique`
    capo view runs/x --serve                also serve it on http://127.0.0.1:PORT/ until Ctrl-C

The page needs no server and no network (CSS, JS and data inline): open it in any browser. It
shows the rollouts grouped by prompt, each response's steps coloured by c_j / V (how many of the
parsed critiques flag the step), the outcome r_v, the voted wrong steps, the N raw critiques
(parsed set, "unparsable" or the judge failure, latency), a token-level advantage heat map on
demand, filters (flagged only, correct answers with flagged steps, unparsable critiques, judge
failures, training step, text) and per-step telemetry (flag rate, agreement, parse failures,
judge failures, accuracy). Pages of 20 prompt groups keep 10 000 rollouts fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from capo.errors import CapoError
from capo.outputs import atomic_output, check_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n\n", 1)[1]
    parser.add_argument("input", help="a run directory (reads rollouts.jsonl, metrics.jsonl, config.yaml) or a "
                                      "`capo critique` output file")
    parser.add_argument("-o", "--output", default=None,
                        help="HTML file to write (default: RUN/view.html, or INPUT with .html)")
    parser.add_argument("--max-rollouts", type=int, default=None, metavar="K",
                        help="keep only the last K rollouts (the newest steps) to make a smaller page")
    parser.add_argument("--serve", action="store_true", help="after writing, serve the page on 127.0.0.1 until Ctrl-C")
    parser.add_argument("--port", type=int, default=8765, help="port of --serve (default: 8765; 0: any free port)")


def default_output(source: Path) -> Path:
    return source / "view.html" if source.is_dir() else source.with_suffix(".html")


def run(args: argparse.Namespace) -> int:
    from capo.view.page import render
    from capo.view.records import load

    source = Path(args.input)
    if not source.exists():
        raise CapoError(f"{source}: no such run directory or file")
    if args.max_rollouts is not None and args.max_rollouts < 1:
        raise CapoError(f"--max-rollouts must be >= 1 (got {args.max_rollouts})")
    if args.port < 0 or args.port > 65535:
        raise CapoError(f"--port must be in 0..65535 (got {args.port})")
    output = Path(args.output) if args.output else default_output(source)
    check_output(str(output), "-o")
    data = load(source)
    if args.max_rollouts is not None:
        data["rollouts"] = data["rollouts"][-args.max_rollouts:]
    page = render(data)
    with atomic_output(str(output)) as f:
        f.write(page)
    print(f"capo view: {len(data['rollouts'])} rollouts, {len(page) / 1e6:.1f} MB -> {output}", file=sys.stderr)
    if args.serve:
        serve(output, args.port)
    return 0


def serve(page: Path, port: int) -> None:
    """Serve the one file on localhost (for machines where a browser cannot open local files)."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page.parent.resolve()))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as err:
        raise CapoError(f"--port {port}: cannot listen ({err.strerror})") from None
    print(f"capo view: serving http://127.0.0.1:{server.server_address[1]}/{page.name} (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
