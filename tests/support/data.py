"""Benchmark data for the tests that need it, through the project's own loaders.

Where it comes from, in order: `../shared/data` beside the repository (or $CAPO_TEST_DATA), else
the Hugging Face hub when it can be reached, else the test is skipped with the reason shown in
pytest's summary. CI sets CAPO_REQUIRE_DATA=1 (.ci/run): there a missing data set fails the test
instead, so a skip can only ever happen on a user's machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import ROOT

SHARED_DATA = Path(os.environ.get("CAPO_TEST_DATA") or ROOT.parent / "shared" / "data")


def missing(reason: str):
    if os.environ.get("CAPO_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (CAPO_REQUIRE_DATA=1: CI always has ../shared/data)", pytrace=False)
    pytest.skip(reason)


def _hub_available() -> bool:
    from capo.models.hub import hub_offline, hub_reachable

    return not hub_offline() and hub_reachable()


def data_root() -> Path | None:
    """The local data folder for a CLI's --data, or None: load from the hub (it is reachable)."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if _hub_available():
        return None
    missing(f"needs {SHARED_DATA} or the Hugging Face hub (offline or unreachable)")


def benchmark_rows(name: str) -> list[dict]:
    """The raw rows of a math benchmark (e.g. GSM8K solutions with their calculator annotations)."""
    from capo.errors import CapoError
    from capo.eval.benchmarks import BENCHMARKS, canonical_name, find_local_file, load_hub_rows, read_rows

    spec = BENCHMARKS[canonical_name(name)]
    try:
        root = data_root()
        return read_rows(find_local_file(spec, root)) if root is not None else load_hub_rows(spec)
    except CapoError as err:
        missing(f"{name}: {err}")


def math_items(name: str, limit: int | None = None) -> list:
    """capo.eval.benchmarks.load_benchmark(name) from ../shared/data, else the hub."""
    from capo.errors import CapoError
    from capo.eval.benchmarks import load_benchmark

    try:
        return load_benchmark(name, data_root(), limit=limit)
    except CapoError as err:
        missing(f"{name}: {err}")


def processbench_items(split: str) -> list[dict]:
    """capo.judges.processbench.load_processbench(split) from ../shared/data, else the hub."""
    from capo.errors import CapoError
    from capo.judges.processbench import load_processbench

    root = data_root()
    try:
        return load_processbench(split, str(root / "processbench") if root is not None else None)
    except CapoError as err:
        missing(f"ProcessBench {split}: {err}")
