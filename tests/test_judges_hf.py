"""The in-process transformers judge (hf:<path>) on the tiny test model and on SmolLM2-135M."""

import pytest

from capo.judges import CritiqueRequest, make_judge
from capo.judges.runtime import SamplingSettings

REQS = [CritiqueRequest("What is 2 + 3?", ("2 + 3 = 5", "So the answer is \\boxed{5}.")),
        CritiqueRequest("What is 4 * 6?", ("4 * 6 = 26",)),
        CritiqueRequest("What is 2 + 3?", ("2 + 3 = 5", "So the answer is \\boxed{5}."))]  # a duplicate


@pytest.fixture(scope="module")
def tiny_judge(tiny_model_dir):
    judge = make_judge(f"hf:{tiny_model_dir}", sampling=SamplingSettings(temperature=1.0, max_tokens=12, seed=3),
                       batch_size=4)
    judge.load()
    yield judge
    judge.close()


def test_n_samples_per_request_with_token_counts(tiny_judge):
    result = tiny_judge.critique(REQS, 3)
    assert [len(cs) for cs in result.critiques] == [3, 3, 3]
    assert result.stats["deduplicated"] == 1 and result.stats["generated"] + result.num_failed == 6
    assert set(result.failures) <= {"empty"}  # a random model may stop at once: counted, not raised
    ok = [c for cs in result.critiques for c in cs if c.error is None]
    assert ok and all(0 < c.completion_tokens <= 12 and c.prompt_tokens > 50 for c in ok)
    assert result.critiques[0] == result.critiques[2]  # duplicates are judged once


def test_seed_makes_sampling_reproducible_and_greedy_is_deterministic(tiny_model_dir, tiny_judge):
    a = tiny_judge.critique(REQS[:2], 2)
    b = tiny_judge.critique(REQS[:2], 2)
    assert [[c.text for c in cs] for cs in a.critiques] == [[c.text for c in cs] for cs in b.critiques]
    greedy = make_judge(f"hf:{tiny_model_dir}", sampling=SamplingSettings(temperature=0, max_tokens=8))
    g = greedy.critique(REQS[:1], 2)
    assert g.critiques[0][0].text == g.critiques[0][1].text
    greedy.close()


def test_cache_deadline_and_long_prompts(tiny_model_dir, tmp_path):
    spec = f"hf:{tiny_model_dir}"
    settings = SamplingSettings(temperature=1.0, max_tokens=6, seed=0)
    with make_judge(spec, sampling=settings, cache=str(tmp_path / "c.sqlite")) as judge:
        first = judge.critique(REQS[:2], 2)
    with make_judge(spec, sampling=settings, cache=str(tmp_path / "c.sqlite")) as judge:
        again = judge.critique(REQS[:2], 2)
        answered = sum(1 for cs in first.critiques for c in cs if c.error is None)
        assert again.stats["cache_hits"] == answered
        if answered == 4:
            assert again.stats["requests"] == 0
    with make_judge(spec, sampling=settings, deadline=0.0) as judge:
        assert judge.critique(REQS[:2], 1).failures == {"deadline": 2}
    with make_judge(spec, sampling=settings, max_input_tokens=20) as judge:
        result = judge.critique(REQS[:1], 2)
        assert result.failures == {"prompt_too_long": 2} and "context" in result.critiques[0][0].error


def test_unloadable_model_is_a_clean_error(tmp_path):
    from capo.errors import CapoError

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CapoError, match="cannot load hf judge"):
        make_judge(f"hf:{tmp_path}").load()
    with pytest.raises(CapoError):
        make_judge("hf:/no/such/model/folder")


def test_smollm2_judge_writes_critiques(smollm2_dir):
    judge = make_judge(f"hf:{smollm2_dir}", sampling=SamplingSettings(temperature=0, max_tokens=48), batch_size=2)
    result = judge.critique(REQS[:2], 1)
    judge.close()
    assert result.num_failed == 0
    assert all(len(cs[0].text) > 10 for cs in result.critiques)  # real (if weak) English critiques


def test_generation_stops_once_the_verdict_line_is_written(tiny_model_dir):
    import torch
    from transformers import AutoTokenizer

    from capo.judges.backends.hf import _VerdictWritten

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = ["prompt prompt Step 1 is wrong.\nWrong step list: [1]",
            "prompt prompt Step 1 is wrong.\nWrong step list: [1"]
    ids = [tok(r)["input_ids"] for r in rows]
    width = max(len(i) for i in ids)
    batch = torch.tensor([[tok.pad_token_id] * (width - len(i)) + i for i in ids])
    prompt_width = len(tok("prompt prompt")["input_ids"]) + (width - len(ids[0]))
    assert _VerdictWritten(tok, prompt_width)(batch, None).tolist() == [True, False]


def test_loop_detection():
    from capo.judges.backends.hf import _looping

    assert _looping([5, 1, 2, 3] + [7, 8] * 4) and _looping([9] * 4)
    assert not _looping([1, 2, 3, 4, 5, 6, 7, 8]) and not _looping([7, 8] * 3)


# -- structured verdicts (structured=True, --structured-verdicts) -------------------------------------

STEPPED = [CritiqueRequest("Tom has 17 apples and buys 25 more. How many?",
                           ("Tom starts with 17 apples.", "17 + 25 = 32", "So he has \\boxed{32} apples.")),
           CritiqueRequest("What is 4 * 6?", ("4 * 6 = 26",)),
           CritiqueRequest("What is 9 * 8?", ("9 * 8 = 72", "72 / 1 = 72", "72 - 0 = 72", "72 + 0 = 72",
                                              "72 * 1 = 72", "That is 72.", "So 9 * 8 is 72.", "Again: 72.",
                                              "Still 72.", "Checked: 72.", "Done: 72.", "\\boxed{72}"))]
VERDICT_END = r"\nWrong step list: \[([0-9]+(, [0-9]+)*)?\]$"


def _structured(tiny_model_dir, max_tokens, **extra):
    return make_judge(f"hf:{tiny_model_dir}", sampling=SamplingSettings(temperature=1.0, max_tokens=max_tokens,
                                                                          seed=5), batch_size=4, cache=None, **extra)


@pytest.mark.parametrize("max_tokens", [40, 25])  # 25: the budget runs out, the line is forced early
def test_structured_verdicts_every_critique_parses(tiny_model_dir, max_tokens):
    """A random tiny model never writes a verdict by itself; constrained, every critique ends with
    the strict line, its indices are steps of the solution, and the budget holds."""
    import re

    with _structured(tiny_model_dir, max_tokens) as plain:
        free = plain.critique(STEPPED, 4)
    with _structured(tiny_model_dir, max_tokens, structured=True) as judge:
        result = judge.critique(STEPPED, 4)
    assert sum(c.wrong_steps is None for cs in free.critiques for c in cs) >= 10  # unconstrained: noise
    assert result.num_failed == 0
    for req, cs in zip(STEPPED, result.critiques):
        for c in cs:
            assert c.wrong_steps is not None and all(0 <= i < len(req.steps) for i in c.wrong_steps), c.text
            assert re.search(VERDICT_END, c.text) and c.completion_tokens <= max_tokens
    assert judge.identity()["structured"] is True and "structured" not in plain.identity()


def test_structured_verdict_after_an_early_end(tiny_model_dir):
    """A row that ends (EOS) before any verdict is continued after the forced line: here half the
    vocabulary (none of the verdict line's tokens) ends a row, as an EOS would."""
    import re

    from capo.judges.backends.hf_verdict import VerdictLine

    with _structured(tiny_model_dir, 40, structured=True) as judge:
        tok, model = judge.load()
        line = VerdictLine(tok)
        spelled = set(line.prefix_ids) | set(line.open_ids) | set(line.char_id.values())
        model.generation_config.eos_token_id = [tok.eos_token_id] + [i for i in range(0, len(tok), 2)
                                                                     if i not in spelled]
        result = judge.critique(STEPPED, 4)
    texts = [c.text for cs in result.critiques for c in cs]
    assert result.num_failed == 0 and all(c.wrong_steps is not None for cs in result.critiques for c in cs)
    assert all(re.search(VERDICT_END, t) for t in texts)
    # rows ended long before the budget would have forced the line: they were continued
    early_rows = [c for cs in result.critiques for c in cs if c.completion_tokens < 40 - line.reserve]
    assert len(early_rows) >= 6, [c.completion_tokens for cs in result.critiques for c in cs]


def test_structured_verdict_processor_grammar(tiny_model_dir):
    """Index by index: only in-range indices, ', ' between them, ']' at the last token, then EOS."""
    import torch
    from transformers import AutoTokenizer

    from capo.judges.backends.hf_verdict import INDICES, StructuredVerdict, VerdictLine

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    line = VerdictLine(tok)
    vocab = len(tok)

    def allowed(written: str, num_steps: int, budget: int = 50) -> set[str]:
        proc = StructuredVerdict(line, [num_steps], [budget], prompt_width=1, start=INDICES)
        ids = [0]  # the prompt (one token); then the characters written, one call per token
        out = proc(torch.tensor([ids]), torch.zeros(1, vocab))
        for ch in written:
            ids.append(line.char_id[ch])
            out = proc(torch.tensor([ids]), torch.zeros(1, vocab))
        return {tok.decode([i]) if i != line.eos_id else "EOS" for i in torch.nonzero(out[0] == 0).flatten().tolist()}

    assert allowed("", 3) == {"0", "1", "2", "]"}
    assert allowed("", 12) == set("0123456789]")
    assert allowed("1", 12) == {"0", "1", ",", "]"}  # 10, 11 exist; 12 does not
    assert allowed("0", 12) == {",", "]"}  # no leading zero
    assert allowed("1,", 12) == {" "} and allowed("1, ", 3) == {"0", "1", "2"}
    assert allowed("2]", 3) == {"EOS"}
    assert allowed("", 0) == {"]"}  # no step: only the empty list
    assert allowed("1", 3, budget=2) == {"]"}  # the last token closes the list
