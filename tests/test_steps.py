import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.data import processbench_items

from capo.judges.processbench import SPLITS
from capo.steps import join_steps, split_steps
from capo.textview import is_invisible


def test_paragraph_split_keeps_exact_spans():
    text = "  First step.\n\nSecond\nstill second.\n \n\n\tThird \\boxed{3}\n"
    steps = split_steps(text)
    assert [s.text for s in steps] == ["First step.", "Second\nstill second.", "Third \\boxed{3}"]
    assert all(text[s.start:s.end] == s.text for s in steps)
    assert [s.index for s in steps] == [0, 1, 2]


@pytest.mark.parametrize("text", ["", " ", "\n\n\n", "\t \n \r\n"])
def test_empty_and_whitespace_give_no_steps(text):
    for spec in ("paragraph", "line", r"marker:Step \d+:"):
        assert split_steps(text, spec) == []


def test_line_and_marker_splitters():
    assert [s.text for s in split_steps("a = 1\n\n b = 2 \nc", "line")] == ["a = 1", "b = 2", "c"]
    text = "Let's go. Step 1: add 2. Step 2: double it.\nStep 3: done"
    steps = split_steps(text, r"marker:Step \d+:")
    assert [s.text for s in steps] == ["Let's go.", "Step 1: add 2.", "Step 2: double it.", "Step 3: done"]
    assert all(text[s.start:s.end] == s.text for s in steps)


def test_bad_splitter_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown step splitter"):
        split_steps("x", "sentences")
    with pytest.raises(ValueError, match="invalid regex"):
        split_steps("x", "marker:(")


# issue 15: a valid step is one the splitter keeps whole; blank lines are Unicode's (U+2028, NBSP
# lines, invisible-only lines), which str.split("\n") and str.strip() do not see
step_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: [x.text for x in split_steps(s)] == [s])


@settings(max_examples=300, deadline=None)
@given(st.lists(step_text, max_size=8))
def test_join_then_split_round_trips(steps):
    assert [s.text for s in split_steps(join_steps(steps))] == steps


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["paragraph", "line", r"marker:Step \d+:"]))
def test_spans_are_exact_ordered_and_cover_all_non_space(text, spec):
    steps = split_steps(text, spec)
    covered = set()
    for prev, step in zip([None] + steps, steps):
        assert text[step.start:step.end] == step.text and step.text == step.text.strip() and step.text
        assert prev is None or prev.end <= step.start
        covered.update(range(step.start, step.end))
    # issue 15: invisible characters (zero-width spaces, ...) are trimmed like whitespace
    assert all(text[i].isspace() or is_invisible(text[i]) for i in range(len(text)) if i not in covered)


def processbench_round_trip():
    """(items, failures): failures are (split, id, reason) for items whose steps don't survive."""
    items, failures = 0, []
    for split in SPLITS:
        for item in processbench_items(split):
            items += 1
            got = [s.text for s in split_steps(join_steps(item["steps"]))]
            if got != item["steps"]:
                if any(s != s.strip() for s in item["steps"]):
                    reason = "a step has leading/trailing whitespace"
                elif any("\n\n" in s or any(not line.strip() for line in s.split("\n")[1:-1]) for s in item["steps"]):
                    reason = "a step contains a blank line"
                elif any(not s.strip() for s in item["steps"]):
                    reason = "an empty step"
                else:
                    reason = "unexplained"
                failures.append((split, item["id"], reason))
    return items, failures


def test_processbench_steps_round_trip():
    items, failures = processbench_round_trip()
    reasons = {}
    for _, _, reason in failures:
        reasons[reason] = reasons.get(reason, 0) + 1
    print(f"\nProcessBench round trip: {items - len(failures)}/{items} exact; failures by reason: {reasons}")
    assert items == 3400
    assert "unexplained" not in reasons, [f for f in failures if f[2] == "unexplained"][:5]
