"""Issue-2 acceptance: real reference answers are judged equal to themselves and their variants."""

import importlib.util
from pathlib import Path

import pytest
from support.data import math_items

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("verifier_selfcheck", ROOT / "benchmarks" / "verifier_selfcheck.py")
selfcheck_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(selfcheck_module)


@pytest.mark.parametrize("name", list(selfcheck_module.SETS))
def test_reference_answers_verify_against_themselves_and_variants(name):
    answers = [item.answer for item in math_items(name)]
    assert len(answers) >= 30
    result = selfcheck_module.selfcheck(answers)
    for kind, (ok, n, bad) in result.items():
        assert ok == n, f"{name} {kind}: {ok}/{n}, e.g. {bad}"
