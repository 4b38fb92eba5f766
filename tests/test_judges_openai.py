"""The openai judge against small real HTTP servers (tests/support/fake_servers.py): n, the fewer-choices
fallback, failure isolation, retries across a restart, deadline, cache, API-key hygiene.
(The same client against a real vLLM server: test_judges_vllm.py.)"""

import asyncio
import threading
import time

import pytest

from capo.judges import CritiqueRequest, make_judge
from capo.judges.runtime import SamplingSettings
from support.fake_servers import FakeChatServer

REQS = [CritiqueRequest(f"problem {i}", ("1 + 1 = 2", f"step {i}", "done")) for i in range(6)]
FAST = dict(max_retries=2, backoff=0.02, timeout=5.0)


def judge_for(server, **kw):
    opts = {**FAST, **kw}
    return make_judge("openai:fake", base_url=server.base_url, sampling=SamplingSettings(max_tokens=32), **opts)


def test_n_samples_in_one_request_and_parsed():
    with FakeChatServer() as srv, judge_for(srv) as judge:
        result = judge.critique(REQS, 4)
        assert srv.requests == len(REQS) and srv.samples_asked == 4 * len(REQS)
        assert all(len(cs) == 4 for cs in result.critiques)
        c = result.critiques[0][0]
        assert c.wrong_steps == frozenset({1}) and c.error is None and c.prompt_tokens == 10
        assert c.completion_tokens == 5 and c.latency_s > 0
        assert result.num_failed == 0 and judge.n_honoured is True
        assert all(v.wrong_steps == [1] for v in result.votes(REQS, "majority"))


def test_fewer_choices_than_n_falls_back_to_single_requests_and_is_remembered():
    with FakeChatServer(mode="one_choice") as srv, judge_for(srv) as judge:
        first = judge.critique(REQS[:1], 4)
        assert first.num_failed == 0 and all(c.wrong_steps == frozenset({1}) for c in first.critiques[0])
        assert first.stats["n_fallbacks"] == 1 and judge.n_honoured is False
        assert srv.requests == 1 + 3  # one n=4 request answered with 1 choice, then 3 singles
        before, asked = srv.requests, srv.samples_asked
        second = judge.critique(REQS[1:], 4)
        assert second.num_failed == 0 and second.stats["n_fallbacks"] == 0
        assert srv.requests - before == 4 * 5 == srv.samples_asked - asked  # n=1 only from now on


def test_400_on_n_falls_back_to_singles():
    with FakeChatServer(mode="bad_request") as srv, judge_for(srv) as judge:
        result = judge.critique(REQS[:1], 2)
        assert result.failures == {"http_400": 2}  # the singles are rejected too: failures, no raise
        assert srv.requests == 3 and judge.n_honoured is False


@pytest.mark.parametrize("mode, reason", [("garbage", "bad_response"), ("error", "server_error"),
                                          ("bad_request", "http_400")])
def test_broken_server_gives_counted_failures_not_exceptions(mode, reason):
    with FakeChatServer(mode=mode) as srv, judge_for(srv) as judge:
        result = judge.critique(REQS, 1)
        assert result.failures == {reason: len(REQS)}
        for cs in result.critiques:
            assert cs[0].wrong_steps is None and cs[0].error.startswith(reason)
        assert not any(v.has_verdict for v in result.votes(REQS))
        retried = reason != "http_400"
        assert srv.requests == len(REQS) * (3 if retried else 1)


def test_dead_server_gives_connection_failures():
    with FakeChatServer() as srv:
        url = srv.base_url
    judge = make_judge("openai:fake", base_url=url, **FAST)
    t0 = time.monotonic()
    result = judge.critique(REQS, 2)
    assert result.failures == {"connection": 2 * len(REQS)} and time.monotonic() - t0 < 10
    judge.close()


def test_timeout_and_deadline():
    with FakeChatServer(mode="slow", delay=2.0) as srv:
        with judge_for(srv, timeout=0.3, max_retries=0) as judge:
            result = judge.critique(REQS[:2], 2)
            assert result.failures == {"timeout": 4}
        with judge_for(srv, timeout=30, max_retries=5, deadline=0.5) as judge:
            t0 = time.monotonic()
            result = judge.critique(REQS[:2], 2)
            assert result.failures == {"deadline": 4} and result.stats["deadline_hit"] == 1
            assert time.monotonic() - t0 < 1.5


def test_retries_ride_out_a_server_restart():
    srv = FakeChatServer().start()
    port = srv.port
    srv.stop()
    restarted = FakeChatServer(port=port)
    timer = threading.Timer(0.6, restarted.start)
    timer.start()
    try:
        judge = make_judge("openai:fake", base_url=f"http://127.0.0.1:{port}/v1", max_retries=8, backoff=0.1)
        result = judge.critique(REQS, 2)
        assert result.num_failed == 0 and result.stats["retries"] > 0
        judge.close()
    finally:
        timer.join()
        restarted.stop()


def test_cache_second_run_sends_nothing_and_extends_partial(tmp_path):
    cache = tmp_path / "c.sqlite"
    with FakeChatServer() as srv:
        with judge_for(srv, cache=str(cache)) as judge:
            first = judge.critique(REQS, 2)
            assert srv.requests == len(REQS) and first.stats["cache_hits"] == 0
        with judge_for(srv, cache=str(cache)) as judge:  # a new process would do the same
            again = judge.critique(REQS, 2)
            assert srv.requests == len(REQS) and again.stats["cache_hits"] == 2 * len(REQS)
            assert all(c.cached for cs in again.critiques for c in cs)
            assert [c.text for c in again.critiques[3]] == [c.text for c in first.critiques[3]]
            more = judge.critique(REQS, 3)  # only the third sample is asked for
            assert srv.samples_asked == 3 * len(REQS) and more.stats["cache_hits"] == 2 * len(REQS)
        with judge_for(srv, cache=str(cache), cache_id="other-server") as judge:  # other identity: miss
            judge.critique(REQS[:1], 1)
            assert srv.requests == 2 * len(REQS) + 1


def test_failures_are_not_cached(tmp_path):
    cache = str(tmp_path / "c.sqlite")
    with FakeChatServer(mode="error") as srv:
        with judge_for(srv, cache=cache, max_retries=0) as judge:
            assert judge.critique(REQS[:2], 2).num_failed == 4
        srv.mode = "ok"
        with judge_for(srv, cache=cache) as judge:
            result = judge.critique(REQS[:2], 2)
            assert result.num_failed == 0 and result.stats["cache_hits"] == 0


def test_identical_requests_are_sent_once():
    with FakeChatServer() as srv, judge_for(srv) as judge:
        result = judge.critique([REQS[0]] * 5 + [REQS[1]], 2)
        assert srv.requests == 2 and result.stats["deduplicated"] == 4
        assert all(len(cs) == 2 and cs[0].error is None for cs in result.critiques)


def test_empty_steps_are_not_sent():
    with FakeChatServer() as srv, judge_for(srv) as judge:
        result = judge.critique([CritiqueRequest("p", ())], 3)
        assert srv.requests == 0 and result.critiques[0][0].wrong_steps == frozenset()


def test_api_key_from_env_is_used_but_never_shown(tmp_path, monkeypatch):
    secret = "sk-test-SECRET-123456"
    monkeypatch.setenv("MY_JUDGE_KEY", secret)
    cache = tmp_path / "c.sqlite"
    with FakeChatServer() as srv:
        judge = judge_for(srv, api_key_env="MY_JUDGE_KEY", cache=str(cache))
        judge.critique(REQS[:1], 1)
        assert srv.headers_seen[-1]["authorization"] == f"Bearer {secret}"
        srv.mode = "error"
        failed = judge.critique(REQS[1:2], 1)
        shown = repr(judge) + repr(judge.identity()) + repr(failed) + repr(vars(judge))
        assert secret not in shown
        judge.close()
    assert secret.encode() not in cache.read_bytes()


def test_api_key_env_must_exist(monkeypatch):
    from capo.errors import CapoError

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(CapoError, match="NO_SUCH_KEY_VAR"):
        make_judge("openai:m", base_url="http://127.0.0.1:1/v1", api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(CapoError, match="model name"):
        make_judge("openai:", base_url="http://127.0.0.1:1/v1")


def test_sync_calls_repeat_and_work_inside_a_running_event_loop():
    with FakeChatServer() as srv, judge_for(srv) as judge:
        for _ in range(3):
            assert judge.critique(REQS[:2], 1).num_failed == 0

        async def inside_loop():
            sync_result = judge.critique(REQS[2:3], 1)  # sync call from async code: no deadlock
            async_result = await judge.acritique(REQS[3:5], 2)
            return sync_result, async_result

        sync_result, async_result = asyncio.run(inside_loop())
        assert sync_result.num_failed == 0 and async_result.num_failed == 0
        assert len(async_result.critiques) == 2
        judge.close()  # idempotent with the context exit
        assert judge.critique(REQS[:1], 1).num_failed == 0  # a closed judge restarts its loop


def test_base_url_is_normalized():
    from capo.judges.backends.openai_api import normalize_base_url

    assert normalize_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://h:1/v1/") == "http://h:1/v1"
    with pytest.raises(Exception):
        normalize_base_url("not a url")


def test_structured_verdicts_send_the_regex_and_fall_back_once(caplog):
    import re

    from capo.judges.backends.openai_api import STRUCTURED_SUPPORTED
    from capo.parse import parse_wrong_steps
    from capo.verdict import structured_verdict_regex

    wide = structured_verdict_regex(96)  # 96 - 48 characters of free text
    # what the regex admits is what strict parsing reads; the free part is bounded
    assert re.fullmatch(wide, "Step 1 adds wrongly.\nWrong step list: [1, 2]")
    assert re.fullmatch(wide, "All fine.\nWrong step list: []")
    assert parse_wrong_steps("Step 1 adds wrongly.\nWrong step list: [1, 2]", 3) == frozenset({1, 2})
    assert not re.fullmatch(wide, "x" * 49 + "\nWrong step list: [1]")
    regex = structured_verdict_regex(32)  # judge_for's max_tokens
    with FakeChatServer() as srv, judge_for(srv, structured=True) as judge:
        result = judge.critique(REQS[:2], 2)
        assert result.num_failed == 0 and judge.identity()["structured"] is True
        assert all(b["structured_outputs"] == {"regex": regex} for b in srv.bodies)
    with FakeChatServer(mode="no_structured") as srv, judge_for(srv, structured=True) as judge:
        with caplog.at_level("WARNING"):
            result = judge.critique(REQS, 2)
        assert result.num_failed == 0 and all(c.wrong_steps == frozenset({1}) for cs in result.critiques for c in cs)
        refused = [b for b in srv.bodies if "structured_outputs" in b]
        assert 1 <= len(refused) <= len(REQS) and "structured_outputs" not in srv.bodies[-1]
        assert STRUCTURED_SUPPORTED[(judge.base_url, "fake")] is False
        assert len([r for r in caplog.records if "no structured-output support" in r.message]) == 1
