import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capo.parse import parse_wrong_steps


@pytest.mark.parametrize("text, expected", [
    ("Step 1 is off by one.\nWrong step list: [1, 3]", {1, 3}),
    ("Wrong step list: []", set()),
    ("Wrong step list: [ ]", set()),
    ("Wrong step list: none", set()),
    ("wrong steps: 2, 0", {0, 2}),
    ("Wrong steps: 1, 2 and 3", {1, 2, 3}),
    ("The incorrect steps are: 2", {2}),
    ("so the answer is \\boxed{[0, 2]}", {0, 2}),
    ("\\boxed{2}", {2}),
    ("\\boxed{-1}", set()),
    ("\\boxed{}", set()),
    ('{"wrong_steps": [1]}', {1}),
    ('```json\n{"incorrect_step_indices": [0, 3]}\n```', {0, 3}),
    ("After checking, I'd say [2, 3]", {2, 3}),
    ("All steps are correct.", set()),
    ("There are no incorrect steps.", set()),
    ("none", set()),
    ("Wrong step list: [-1]", set()),
    # the LAST verdict wins (a judge that quotes the instruction, then answers)
    ("Format: Wrong step list: [i, j, ...]\n...\nWrong step list: [2]", {2}),
    ("Wrong step list: [1]\nOn reflection:\nWrong step list: [0]", {0}),
])
def test_known_formats(text, expected):
    # issue 15: these are the lenient mode's; strict, the default, accepts only the template's line
    assert parse_wrong_steps(text, 4, mode="lenient") == frozenset(expected)
    strict = expected if text.rsplit("Wrong step list:", 1)[-1].lstrip().startswith("[") else None
    assert parse_wrong_steps(text, 4) == (None if strict is None else frozenset(strict))


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_out_of_range_or_contradictory_verdict_is_unparsable(mode):
    # issue 15: an index outside [0, num_steps) used to be dropped (reading as "no error")
    assert parse_wrong_steps("Wrong step list: [1, 9, -4]", 4, mode=mode) is None
    assert parse_wrong_steps("Wrong step list: [-1, 2]", 4, mode=mode) is None


@pytest.mark.parametrize("text", ["", "I am not sure.", "The interval [0, 1] matters. Step 2 is wrong.", "Wrong steps: step two looks odd", "\\boxed{x+1}",
                                  "{\"verdict\": \"bad\"}", "[a, b]", None, 42])
def test_unparsable_is_none_not_empty(text):
    assert parse_wrong_steps(text, 4) is None
    assert parse_wrong_steps(text, 4, mode="lenient") is None


FRAGMENTS = ["Wrong step list:", "wrong steps:", "[", "]", "\\boxed{", "}", "{", "\"wrong\":", "-1", "0", "3",
             "999999999999", ",", " and ", "none", "\n", "All steps are correct", "<step_1>", "(", ")", "\\", "ü"]


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.integers(min_value=0, max_value=20))
def test_never_raises_on_random_text(text, n):
    out = parse_wrong_steps(text, n)
    assert out is None or (isinstance(out, frozenset) and all(0 <= i < n for i in out))


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=60), st.integers(0, 20))
def test_never_raises_on_adversarial_fragments(parts, n):
    out = parse_wrong_steps("".join(parts), n)
    assert out is None or all(0 <= i < n for i in out)


def test_huge_and_pathological_inputs_are_fast():
    import time
    for text in ["[" * 100_000, "Wrong step list: " + "1, " * 50_000, "\\boxed{" * 20_000, "{" * 50_000 + "}" * 50_000,
                 "wrong steps:" + " " * 100_000 + "x"]:
        t = time.perf_counter()
        parse_wrong_steps(text, 5)
        assert time.perf_counter() - t < 2.0
