"""Token -> step alignment on real byte-level BPE tokenizers (SmolLM2's and a tiny local one)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from capo.alignment import OUTSIDE, align_response, token_char_spans
from capo.steps import compile_splitter


@pytest.fixture(scope="module", params=["smollm2", "tiny"])
def tokenizer(request):
    path = request.getfixturevalue("smollm2_dir" if request.param == "smollm2" else "tiny_model_dir")
    return AutoTokenizer.from_pretrained(str(path))


def check_alignment(tokenizer, ids, spec="paragraph"):
    text, steps, owners = align_response(tokenizer, ids, compile_splitter(spec))
    assert text == tokenizer.decode(ids, skip_special_tokens=True)
    assert len(owners) == len(ids)  # every token gets exactly one owner
    assert all(o == OUTSIDE or 0 <= o < len(steps) for o in owners)
    inside = [o for o in owners if o != OUTSIDE]
    assert inside == sorted(inside)  # steps are visited in order
    _, spans, _ = token_char_spans(tokenizer, ids)
    for (a, b), owner in zip(spans, owners):
        if a == b:
            continue
        overlapped = [s.index for s in steps if s.start < b and a < s.end]
        assert owner == (overlapped[0] if overlapped else OUTSIDE)  # first overlapped step, else outside
    for step in steps:  # every step character is covered by some token's span
        assert any(a < step.end and step.start < b for a, b in spans)
    return text, steps, owners


PARAGRAPH = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
SEPARATOR = st.sampled_from(["\n\n", "\n\n\n", " \n\n ", "\n \n", ".\n\n", "\n\n  "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(PARAGRAPH, SEPARATOR), min_size=0, max_size=6), st.booleans())
def test_random_text_every_token_assigned_once(tokenizer, parts, add_eos):
    text = "".join(p + s for p, s in parts)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if add_eos:
        ids = ids + [tokenizer.eos_token_id]
    check_alignment(tokenizer, ids)
    check_alignment(tokenizer, ids, "line")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_arbitrary_token_ids_including_split_utf8(tokenizer, data):
    ids = data.draw(st.lists(st.integers(0, len(tokenizer) - 1), max_size=40))
    check_alignment(tokenizer, ids)


def test_boundary_token_belongs_to_first_step_and_eos_is_outside(smollm2_dir):
    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    ids = tok("Add 17 and 25: 42 😀.\n\nSo \\boxed{42}", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    text, steps, owners = check_alignment(tok, ids)
    assert [s.text for s in steps] == ["Add 17 and 25: 42 😀.", "So \\boxed{42}"]
    assert owners[-1] == OUTSIDE  # EOS
    pieces = [tok.decode([i]) for i in ids]
    emoji_tokens = [k for k, p in enumerate(pieces) if "\ufffd" in p]
    assert emoji_tokens and all(owners[k] == 0 for k in emoji_tokens)  # both halves of the emoji: step 0
    assert {owners[k] for k, p in enumerate(pieces) if p.strip("\n") == "" and "\n" in p} <= {OUTSIDE}


def test_separators_join_the_step_they_open(smollm2_dir):
    from capo.alignment import separators_join_next_step
    from capo.credit import align_batch

    assert separators_join_next_step([-1, 0, 0, -1, -1, 1, -1, -1]) == [0, 0, 0, 1, 1, 1, -1, -1]
    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    ids = tok("A = 1.\n\nB = 2.\n\n", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    outside, nxt = (align_batch(tok, [ids], separators=m)[0].token_steps for m in ("outside", "next"))
    assert OUTSIDE in outside[:-2] and OUTSIDE not in nxt[: nxt.index(1)]  # the blank line now opens step 1
    assert nxt[-1] == OUTSIDE  # EOS after the last step stays outside
    last = align_batch(tok, [ids], separators="next_and_last")[0].token_steps
    # the trailing blank line and EOS close step 1; nothing else moves
    assert OUTSIDE not in last and all(a == b or (a == 1 and b == OUTSIDE) for a, b in zip(last, nxt))
    with pytest.raises(ValueError, match="separators mode"):
        align_batch(tok, [ids], separators="previous")


def test_trailing_tokens_join_the_last_step():
    from capo.alignment import trailing_tokens_join_last_step

    assert trailing_tokens_join_last_step([0, 0, 1, -1, -1]) == [0, 0, 1, 1, 1]
    assert trailing_tokens_join_last_step([-1, 0, -1, 1]) == [-1, 0, -1, 1]  # only after the last step
    assert trailing_tokens_join_last_step([-1, -1]) == [-1, -1]  # no step: nothing to join
