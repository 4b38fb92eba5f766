import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capo.judges import CritiqueRequest, make_judge
from capo.judges.arith import ANNOTATION, check_step, false_claims
from capo.steps import split_steps
from support.data import benchmark_rows



@pytest.mark.parametrize("text", [
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.",
    "She makes 9 * 2 = $<<9*2=18>>18 every day",
    "by 80,000*1.5=<<80000*1.5=120000>>120,000",
    r"Since there were 18 flamingos, \(1/3 \times 18 = 6\) flamingos, so \(18 - 6 = 12\) are left.",
    r"\frac{1}{2} \cdot 10 = 5", "2^3 = 8", "5 - 8 = -3", "3 times 4 = 12", "3 x 4 = 12",
    "10/3 = 3.33", "10/3 = 3.3", "15 / 60 * 100 = 25%", "2 * 3 = 6 + 1 = 7", "Total = 3 + 4 = 7",
    "34 Pokemon + 32 Pokemon + 30 Pokemon = 96 Pokemon", "180 grams/meal x 2 meals/day = 360 grams",
    "Theo buys 6 suits * $100/suit = $600.", "13 / 6 = 2 full cycles", "Yellow:19(2)-6=32 crayons",
    "1 1/2 * 60 = 90 minutes", "20 minutes / 240 minutes = 8.333...%",
])
def test_true_claims_are_checked_and_pass(text):
    claims = check_step(text)
    assert claims, "expected at least one checkable claim"
    assert all(c.ok for c in claims), [c for c in claims if not c.ok]


@pytest.mark.parametrize("text", [
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>10 duck eggs a day.",  # display disagrees with annotation
    "Janet sells 16 - 3 - 5 = 9 duck eggs a day.",
    "<<9*2=19>>19", "2+2=4.1", "3 x 4 = 13", "Total = 3 + 4 = 8", "So he drinks 180/30=7 bottles",
    r"\(1/3 \times 18 = 7\)", "so 5 + 3 = 8. 8 * 2 = 17", "34 Pokemon + 32 Pokemon = 67 Pokemon",
    "10/3 = 3.4", "x = 80/4 = 29 years",
])
def test_false_claims_are_flagged(text):
    assert false_claims(text)


@pytest.mark.parametrize("text", [
    "x - 3 = 5", "3x + 2 = 11", "26=5+3x", "7x=700", "Week 1 + Week 2 = 35 + 35 = 70",
    "2 hours + 30 minutes = 150 minutes", "$2.50 - $2.24 = 26 cents", "6:00+48=6:48 PM",
    "i.e. 48 = 100% + 20% = 120%", "8 batches = 5.5 * 8 = 44 cups", "4 W^2 = 100", "8/3 = 24/Y",
    "The year 2023 - 2024 was good", "1,2,3 = 6", "Mark leaves at 11 a.m. - 2 hours = 9 a.m.",
    "", "no numbers here", "=" * 50, "(" * 300 + "1" + ")" * 300 + " = 1",
])
def test_unreadable_or_algebraic_text_is_not_flagged(text):
    assert not false_claims(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789+-*/=()x%$., <>^ab\\{}\n")), max_size=80))
def test_checker_never_raises(text):
    for c in check_step(text):
        assert isinstance(c.ok, bool)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 10**4), st.sampled_from("+-*/"))
def test_exact_arithmetic(a, b, op):
    from fractions import Fraction

    value = {"+": a + b, "-": a - b, "*": a * b, "/": Fraction(a, b)}[op]
    if isinstance(value, Fraction) and value.denominator != 1:
        return  # non-integer results are written rounded; covered above
    assert not false_claims(f"so {a} {op} {b} = {int(value)} items")
    assert false_claims(f"so {a} {op} {b} = {int(value) + 7} items")


def test_calculator_judge_interface():
    judge = make_judge("calculator")
    reqs = [CritiqueRequest("p", ("1 + 1 = 2", "2 + 2 = 5", "so the answer is 5")), CritiqueRequest("q", ())]
    result = judge.critique(reqs, 3)
    assert len(result.critiques) == 2 and all(len(cs) == 3 for cs in result.critiques)
    assert result.critiques[0][0].wrong_steps == frozenset({1})
    assert result.critiques[0][0].text.strip().endswith("Wrong step list: [1]")
    assert result.critiques[1][0].wrong_steps == frozenset()
    assert result.num_failed == 0 and result.num_unparsable == 0
    votes = result.votes(reqs, "majority")
    assert votes[0].weights == (0.0, 1.0, 0.0) and votes[0].has_verdict


def test_calculator_spec_takes_no_argument():
    from capo.errors import CapoError

    with pytest.raises(CapoError):
        make_judge("calculator:x")


def test_gsm8k_reference_solutions_false_flags_and_detection():
    rows = benchmark_rows("gsm8k")[:400]
    judge = make_judge("calculator")
    reqs = [CritiqueRequest(r["question"], tuple(s.text for s in split_steps(r["answer"], "line"))) for r in rows]
    result = judge.critique(reqs, 1)
    steps = sum(len(r.steps) for r in reqs)
    flagged = sum(len(cs[0].wrong_steps) for cs in result.critiques)
    assert flagged / steps < 0.005  # the few flags left are genuine slips in GSM8K's references

    rng = random.Random(0)
    detected = total = 0
    for req in reqs:
        # corrupt the number shown after an annotation: the step always has a checkable claim
        for j, step in enumerate(req.steps):
            m = ANNOTATION.search(step)
            tail = step[m.end():] if m else ""
            num = tail.lstrip("$ ").split(" ")[0].rstrip(".,")
            if m and num.replace(",", "").isdigit():
                new = str(int(num.replace(",", "")) + rng.randint(1, 9))
                at = m.end() + tail.index(num)
                corrupted = step[:at] + new + step[at + len(num):]
                total += 1
                detected += bool(false_claims(corrupted))
                break
    assert total > 300 and detected == total
