"""`openai:<model>`: a judge behind any OpenAI-compatible chat-completions server (vLLM, SGLang,
Ollama, llama.cpp, hosted APIs), through the official `openai` async client.

* Bounded concurrency: at most `concurrency` HTTP requests in flight (an asyncio semaphore, held
  only while a request is on the wire, not during back-off).
* `n` samples per request; when a server returns fewer choices than asked (llama.cpp,
  `transformers serve` ignore `n`), the missing samples are requested separately (n=1 each, seeds
  offset) and the server is remembered as not honouring `n` (per base URL and model, for the
  life of the process): later batches send n=1 requests directly. A 400 answer to n>1 is
  treated the same way.
* Per-request timeout; retries with exponential back-off and jitter on connection errors,
  timeouts, 429 and 5xx (not on other 4xx); a per-batch deadline (`deadline` seconds) after
  which pending requests are cancelled and their critiques fail with reason "deadline".
* `structured=True` constrains every critique to end with a parsable `Wrong step list: [..]`
  line through the server's structured-output support (vLLM: `extra_body={"structured_outputs":
  {"regex": ...}}`, capo.verdict.structured_verdict_regex). A server that refuses the field
  (HTTP 400) is remembered as not supporting it, one line is logged, and the request is sent again
  without it. Servers that silently ignore the field cannot be told apart (parse failures show it).
* The API key comes only from the environment (OPENAI_API_KEY, or the variable named by
  `api_key_env`); it is never logged, stored, part of the cache key or of any error text.
  Without a key, "EMPTY" is sent (local servers do not check it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from urllib.parse import urlparse

from capo.errors import CapoError
from capo.judges.base import register_judge
from capo.judges.runtime import GeneratingJudge, GenJob, Sample, one_line

# (base_url, model) -> does the server honour n > 1?  Learnt at run time, shared by instances.
N_HONOURED: dict[tuple[str, str], bool] = {}
# (base_url, model) -> False once the server refused structured outputs (same lifetime)
STRUCTURED_SUPPORTED: dict[tuple[str, str], bool] = {}
log = logging.getLogger(__name__)


def normalize_base_url(url: str) -> str:
    """Strip a trailing slash; add /v1 to a bare host URL ("http://127.0.0.1:8000")."""
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if not parsed.scheme or not parsed.netloc:
        raise CapoError(f"invalid --base-url {url!r}: expected e.g. http://127.0.0.1:8000/v1")
    if parsed.path in ("", "/"):
        url += "/v1"
    return url


class OpenAIJudge(GeneratingJudge):
    name = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 32, timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5,
                 backoff_max: float = 8.0, extra_body: dict | None = None, cache_id: str | None = None,
                 structured: bool = False, **common):
        super().__init__(**common)
        if not model:
            raise CapoError("the openai judge needs a model name: openai:<model> (with --base-url for a local server)")
        if concurrency < 1 or timeout <= 0 or max_retries < 0:
            raise CapoError(f"bad openai judge settings: concurrency={concurrency}, timeout={timeout}, "
                            f"max_retries={max_retries}")
        self.model = model
        self.base_url = normalize_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        env = api_key_env or "OPENAI_API_KEY"
        if api_key_env and not os.environ.get(api_key_env):
            raise CapoError(f"environment variable {api_key_env} (--api-key-env) is not set")
        self._api_key_env = env  # the NAME of the variable; the key itself is read when the client is built
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff, self.backoff_max = backoff, backoff_max
        self.extra_body = dict(extra_body or {})
        self.structured = structured
        self.cache_id = cache_id
        self._client = None
        self._semaphore: asyncio.Semaphore | None = None

    def identity(self) -> dict:
        # The served model name alone is ambiguous for local servers ("judge" on two ports), so the
        # base URL is part of the identity unless the user names the judge with cache_id.
        ident = {"backend": "openai", "model": self.model,
                 "server": self.cache_id if self.cache_id else self.base_url}
        if self.extra_body:
            ident["extra_body"] = self.extra_body
        if self.structured:
            ident["structured"] = True  # constrained critiques are other samples: other cache entries
        return ident

    @property
    def n_honoured(self) -> bool | None:
        return N_HONOURED.get((self.base_url, self.model))

    def _secret(self) -> str | None:
        return os.environ.get(self._api_key_env) or None

    def _ensure_client(self):
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(base_url=self.base_url, api_key=self._secret() or "EMPTY", max_retries=0,
                                       timeout=self.timeout)
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._client

    async def _aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
            finally:
                self._client = None

    # -- one HTTP request, with retries --
    async def _request(self, messages: list[dict], n: int, seed: int | None, deadline: float | None,
                       stats: dict) -> list[Sample]:
        """Up to n samples, or [one failure Sample]. Never raises (except cancellation)."""
        import openai

        client = self._ensure_client()
        kwargs = dict(model=self.model, messages=messages, temperature=self.sampling.temperature,
                      top_p=self.sampling.top_p, max_tokens=self.sampling.max_tokens)
        if n > 1:
            kwargs["n"] = n
        if seed is not None:
            kwargs["seed"] = seed
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        key = (self.base_url, self.model)
        if self.structured and STRUCTURED_SUPPORTED.get(key, True):
            from capo.verdict import structured_verdict_regex

            regex = structured_verdict_regex(self.sampling.max_tokens)
            kwargs["extra_body"] = {**self.extra_body, "structured_outputs": {"regex": regex}}
        started = time.perf_counter()
        reason, detail = "unknown", ""
        for attempt in range(self.max_retries + 1):
            timeout = self.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    return [Sample(error="deadline", detail=f"batch deadline reached (last error: {reason})",
                                   latency_s=time.perf_counter() - started)]
            retry_after = None
            refused = False
            async with self._semaphore:
                stats["requests"] += 1
                try:
                    response = await client.chat.completions.create(**kwargs, timeout=timeout)
                except openai.APITimeoutError as err:
                    reason, detail = "timeout", one_line(err, self._secret())
                except openai.APIConnectionError as err:
                    reason, detail = "connection", one_line(err, self._secret())
                except openai.RateLimitError as err:
                    reason, detail = "rate_limit", one_line(err, self._secret())
                    retry_after = _retry_after(err)
                except openai.APIStatusError as err:
                    detail = one_line(err, self._secret())
                    if err.status_code >= 500:
                        reason = "server_error"
                    elif (err.status_code == 400 and "structured_outputs" in kwargs.get("extra_body", {})
                          and "structured" in detail.lower()):
                        refused = True  # the server refused the constraint (handled below)
                    else:  # 4xx other than 429: retrying will not help
                        return [Sample(error=f"http_{err.status_code}", detail=detail,
                                       latency_s=time.perf_counter() - started)]
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # garbage body, invalid JSON, protocol errors
                    reason, detail = "bad_response", one_line(err, self._secret())
                else:
                    return self._samples(response, n, time.perf_counter() - started)
            if refused:
                # remember for this server, say so once, and resend at once without the constraint
                if STRUCTURED_SUPPORTED.get(key, True):
                    STRUCTURED_SUPPORTED[key] = False
                    log.warning("judge %s at %s: no structured-output support (%s); critiques are unconstrained",
                                self.model, self.base_url, detail[:160])
                return await self._request(messages, n, seed, deadline, stats)
            if attempt < self.max_retries:
                stats["retries"] += 1
                delay = min(self.backoff_max, self.backoff * 2**attempt) * random.uniform(0.75, 1.25)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, 60.0))
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                await asyncio.sleep(delay)
        return [Sample(error=reason, detail=detail, latency_s=time.perf_counter() - started)]

    def _samples(self, response, n: int, latency: float) -> list[Sample]:
        try:
            choices = sorted(response.choices or [], key=lambda c: c.index or 0)[:n]
            usage = getattr(response, "usage", None)
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_total = int(getattr(usage, "completion_tokens", 0) or 0)
        except Exception as err:
            return [Sample(error="bad_response", detail=one_line(err), latency_s=latency)]
        if not choices:
            return [Sample(error="bad_response", detail="response without choices", latency_s=latency)]
        # the API reports completion tokens for all choices together: split them evenly
        per_choice = round(completion_total / len(choices)) if choices else 0
        out = []
        for choice in choices:
            text = getattr(getattr(choice, "message", None), "content", None)
            if not isinstance(text, str) or not text.strip():
                out.append(Sample(error="empty", detail=f"empty completion (finish_reason={choice.finish_reason})",
                                  latency_s=latency))
            else:
                out.append(Sample(text, prompt_tokens, per_choice, latency))
        return out

    # -- a job: n samples of one prompt, with the fewer-choices fallback --
    async def _job(self, job: GenJob, emit, deadline, stats) -> None:
        server = (self.base_url, self.model)
        got = 0
        if job.n > 1 and N_HONOURED.get(server) is not False:
            result = await self._request(job.messages, job.n, job.seed, deadline, stats)
            if len(result) == 1 and result[0].error is not None:
                if result[0].error == "http_400":  # some servers reject n > 1: fall back to singles
                    N_HONOURED[server] = False
                    stats["n_fallbacks"] += 1
                else:
                    emit(job, result * job.n)
                    return
            else:
                emit(job, result)
                got = len(result)
                if got < job.n:
                    N_HONOURED[server] = False
                    stats["n_fallbacks"] += 1
                else:
                    N_HONOURED[server] = True
        missing = job.n - got
        if missing <= 0:
            return

        async def single(i: int):
            seed = None if job.seed is None else job.seed + got + i
            emit(job, (await self._request(job.messages, 1, seed, deadline, stats))[:1])

        await asyncio.gather(*(single(i) for i in range(missing)))

    async def _generate(self, jobs, emit, deadline, stats) -> None:
        self._ensure_client()
        work = asyncio.gather(*(self._job(job, emit, deadline, stats) for job in jobs))
        if deadline is None:
            await work
            return
        try:
            await asyncio.wait_for(work, timeout=max(0.0, deadline - time.monotonic()))
        except (asyncio.TimeoutError, TimeoutError):
            pass  # the engine marks what is missing as "deadline"


def _retry_after(err) -> float | None:
    try:
        value = err.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except Exception:
        return None


@register_judge("openai")
def make_openai_judge(model: str, **options) -> OpenAIJudge:
    return OpenAIJudge(model, **options)
