"""Small real HTTP servers for testing judge clients (standard library only, one thread each).

    FakeChatServer      an OpenAI-compatible /v1/chat/completions endpoint with a scripted
                        behaviour: "ok" (answers a verdict), "garbage" (200 with a non-JSON body),
                        "error" (HTTP 500), "slow" (sleeps), "one_choice" (ignores n), "bad_request"
    ChoiceLimitProxy    forwards to a real server (e.g. vLLM) but keeps at most `max_choices`
                        choices per answer -- a server that does not honour `n` -- and counts the
                        requests and samples asked for (so a test can prove the cache sends none)

Both are context managers exposing `.base_url` ("http://127.0.0.1:PORT/v1"), `.requests`, and
`.stop()`/`.start()` (same port) to simulate a server that dies and comes back.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server:
    def __init__(self, port: int = 0):
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0
        self.samples_asked = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests handled at the same time
        self.lock = threading.Lock()

    def _handler(self):
        raise NotImplementedError

    def start(self):
        handler = self._handler()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def count(self, body: dict):
        with self.lock:
            self.requests += 1
            self.samples_asked += int(body.get("n") or 1)

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def __enter__(self):
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc):
        self.stop()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type="application/json"):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def chat_response(texts: list[str], model: str = "fake", prompt_tokens: int = 10) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                    for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5 * len(texts),
                  "total_tokens": prompt_tokens + 5 * len(texts)},
    }


class FakeChatServer(_Server):
    """mode: ok | garbage | error | slow | one_choice | bad_request | no_structured (400 to a request
    carrying `structured_outputs`, as a server without structured-output support; changeable while
    running). `bodies` keeps every request body."""

    def __init__(self, mode: str = "ok", answer: str = "Step 0 looks fine.\nWrong step list: [1]",
                 delay: float = 0.0, port: int = 0):
        super().__init__(port)
        self.mode, self.answer, self.delay = mode, answer, delay
        self.headers_seen: list[dict] = []
        self.bodies: list[dict] = []

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                server.count(body)
                server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                server.bodies.append(body)
                server.enter()
                try:
                    self._answer(body)
                finally:
                    server.leave()

            def _answer(self, body):
                mode = server.mode
                if server.delay or mode == "slow":
                    time.sleep(server.delay or 30)
                if mode == "garbage":
                    _reply(self, 200, b"<html>\x00 not json", "application/json")
                elif mode == "error":
                    _reply(self, 500, b'{"error": {"message": "internal", "type": "server_error"}}')
                elif mode == "no_structured" and "structured_outputs" in body:
                    _reply(self, 400, b'{"error": {"message": "Unrecognized request argument supplied: '
                                      b'structured_outputs", "type": "invalid_request_error"}}')
                elif mode == "bad_request":
                    _reply(self, 400, b'{"error": {"message": "bad", "type": "invalid_request_error"}}')
                else:
                    n = 1 if mode == "one_choice" else int(body.get("n") or 1)
                    _reply(self, 200, json.dumps(chat_response([server.answer] * n)).encode())

        return Handler


class ChoiceLimitProxy(_Server):
    """Forward POSTs to `upstream` (a base URL ending in /v1), keep at most `max_choices` choices."""

    def __init__(self, upstream: str, max_choices: int | None = 1, port: int = 0):
        super().__init__(port)
        self.upstream = upstream.rstrip("/")
        self.max_choices = max_choices

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    proxy.count(json.loads(raw or b"{}"))
                except ValueError:
                    pass
                path = self.path[len("/v1"):] if self.path.startswith("/v1") else self.path
                req = urllib.request.Request(proxy.upstream + path, data=raw, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": self.headers.get("Authorization", "")})
                try:
                    with urllib.request.urlopen(req, timeout=300) as resp:
                        status, data = resp.status, resp.read()
                except urllib.error.HTTPError as err:
                    status, data = err.code, err.read()
                except OSError:
                    status, data = 502, b'{"error": {"message": "upstream unreachable"}}'
                if status == 200 and proxy.max_choices is not None:
                    try:
                        obj = json.loads(data)
                        obj["choices"] = obj["choices"][: proxy.max_choices]
                        data = json.dumps(obj).encode()
                    except (ValueError, KeyError, TypeError):
                        pass
                _reply(self, status, data)

        return Handler
