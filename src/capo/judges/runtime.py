"""What every generating judge (hf, openai) shares: sampling settings, the private event loop that
makes the async client usable from synchronous code, and the batch engine (prompt building,
de-duplication, cache, failure accounting, parsing).

A back-end subclasses `GeneratingJudge` and implements

    async def _generate(self, jobs, emit, deadline, stats) -> None

producing `job.n` samples per job and calling `emit(job, samples)` as soon as samples exist
(partial results survive a later failure, a deadline or a crash: they are cached at once). A
back-end never raises for a failed sample: it emits a `Sample` with `error` set to a short reason
("timeout", "connection", "server_error", "bad_response", ...). Anything it does raise is caught
here and turns the rest of the batch into failures of reason "judge_error".
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from capo.judges.base import Critique, CritiqueRequest, Judge, JudgeResult
from capo.judges.cache import CachedSample, CritiqueCache, cache_key
from capo.parse import MODES, parse_wrong_steps
from capo.prompt import build_critique_messages


@dataclass(frozen=True)
class SamplingSettings:
    """Judge sampling. The paper does not publish its GenPRM temperature; 0.7 / top-p 0.95 is ours
    (ProcessBench votes samples at 1.0 / 0.9). temperature 0 means greedy."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None

    def __post_init__(self):
        if self.temperature < 0 or not (0 < self.top_p <= 1) or self.max_tokens < 1:
            raise ValueError(f"bad sampling settings {self}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sample:
    """One generated critique, or one failure (error set, text None)."""

    text: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None  # short reason: "timeout", "connection", "server_error", ...
    detail: str = ""  # one line of detail for the failure (never contains credentials)


@dataclass
class GenJob:
    """Generate `n` samples for one unique prompt."""

    index: int
    messages: list[dict]
    n: int
    seed: int | None = None  # seed for the first of these samples (later ones: seed + i)
    received: int = 0  # samples emitted so far (successes and failures)
    num_steps: int | None = None  # steps of the judged solution (a constrained verdict indexes them)


class LoopThread:
    """A private asyncio event loop on a daemon thread: `run(coro)` from any other thread."""

    def __init__(self, name: str = "capo-judge-loop"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro):
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("synchronous judge call from inside the judge's own event loop; use acritique")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self, cleanup=None):
        if self.loop.is_closed():
            return
        if cleanup is not None and self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(timeout=10)
            except Exception:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class GeneratingJudge(Judge):
    """Base of the judges that sample critiques from an LLM (see module docstring)."""

    cacheable = True

    def __init__(self, *, sampling: SamplingSettings | None = None, cache: CritiqueCache | str | None = None,
                 template: str | None = None, deadline: float | None = None,
                 on_progress: Callable[[int], None] | None = None, parse_mode: str = "strict"):
        if parse_mode not in MODES:
            raise ValueError(f"unknown parse mode {parse_mode!r}; use one of {', '.join(MODES)}")
        self.sampling = sampling or SamplingSettings()
        self.cache = CritiqueCache(cache) if isinstance(cache, (str, bytes)) or hasattr(cache, "__fspath__") else cache
        self.template = template
        # strict: the template's "Wrong step list: [..]" only; lenient for a template that asks
        # for \boxed{} or JSON (capo.parse). Not part of the cache key: the cache keeps raw text.
        self.parse_mode = parse_mode
        self.deadline = deadline  # seconds per batch; None: no deadline
        self.on_progress = on_progress  # called with the number of critiques just finished
        self._loop: LoopThread | None = None
        self._loop_lock = threading.Lock()
        self.totals: dict[str, float] = {}  # counters summed over all calls of this judge

    # -- identity (the cache key uses it: anything that changes answers belongs here) --
    def identity(self) -> dict:
        raise NotImplementedError

    async def _generate(self, jobs: list[GenJob], emit: Callable[[GenJob, list[Sample]], None],
                        deadline: float | None, stats: dict[str, float]) -> None:
        raise NotImplementedError

    async def _aclose(self) -> None:
        pass

    # -- public API --
    def _private_loop(self) -> LoopThread:
        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread(f"capo-judge-{self.name}")
            return self._loop

    def critique(self, requests: Sequence[CritiqueRequest], n: int) -> JudgeResult:
        """Synchronous: runs the batch on the judge's private event loop; safe to call repeatedly
        and from any thread (including one that runs its own event loop)."""
        return self._private_loop().run(self._critique(list(requests), n))

    async def acritique(self, requests: Sequence[CritiqueRequest], n: int) -> JudgeResult:
        """Async: awaitable from any event loop; the I/O itself runs on the judge's own loop."""
        loop = self._private_loop()
        if loop.in_loop_thread():
            return await self._critique(list(requests), n)
        return await asyncio.wrap_future(loop.submit(self._critique(list(requests), n)))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close(self._aclose)
            self._loop = None
        if self.cache is not None:
            self.cache.close()

    def special_tokens(self) -> tuple[str, ...]:
        """The judge tokenizer's special tokens, neutralized in prompts (none known by default)."""
        return ()

    # -- the engine --
    def _messages(self, request: CritiqueRequest) -> list[dict]:
        return build_critique_messages(request.problem, list(request.steps), request.reference, self.template,
                                       self.special_tokens())

    async def _critique(self, requests: list[CritiqueRequest], n: int) -> JudgeResult:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        start = time.perf_counter()
        deadline = None if self.deadline is None else time.monotonic() + self.deadline
        stats: dict[str, float] = {"requests": 0, "retries": 0, "cache_hits": 0, "generated": 0,
                                   "n_fallbacks": 0, "deduplicated": 0}
        identity, sampling = self.identity(), self.sampling.as_dict()

        # unique prompts (identical responses in a group are judged once)
        keys: list[str | None] = []
        unique: dict[str, tuple[int, list[dict]]] = {}
        num_steps: dict[str, int] = {}
        for req in requests:
            if not req.steps:
                keys.append(None)
                continue
            messages = self._messages(req)
            key = cache_key(identity, sampling, messages)
            keys.append(key)
            if key in unique:
                stats["deduplicated"] += 1
            else:
                unique[key] = (len(unique), messages)
                num_steps[key] = len(req.steps)

        samples: dict[str, list[Sample]] = {k: [] for k in unique}
        if self.cache is not None and self.cacheable and unique:
            try:
                hits = self.cache.get_many(unique.keys(), n)
            except Exception:  # an unreadable cache costs speed, never the batch
                hits = {}
            for key, cached in hits.items():
                samples[key] = [Sample(c.text, c.prompt_tokens, c.completion_tokens, c.latency_s) for c in cached]
                stats["cache_hits"] += len(cached)
        cached_count = {k: len(v) for k, v in samples.items()}
        if self.on_progress:
            done = sum(min(n, cached_count[k]) for k in keys if k is not None) + n * keys.count(None)
            if done:
                self.on_progress(done)

        key_of = {idx: key for key, (idx, _) in unique.items()}
        multiplicity = Counter(k for k in keys if k is not None)
        jobs = []
        for key, (idx, messages) in unique.items():
            need = n - len(samples[key])
            if need > 0:
                seed = None if self.sampling.seed is None else self.sampling.seed + len(samples[key])
                jobs.append(GenJob(idx, messages, need, seed, num_steps=num_steps[key]))

        def emit(job: GenJob, new: list[Sample]) -> None:
            key = key_of[job.index]
            room = job.n - job.received
            new = list(new)[:max(room, 0)]
            if not new:
                return
            job.received += len(new)
            samples[key].extend(new)
            good = [s for s in new if s.error is None and s.text is not None]
            stats["generated"] += len(good)
            if good and self.cache is not None and self.cacheable:  # committed by a writer thread
                self.cache.put_later([(key, CachedSample(s.text, s.prompt_tokens, s.completion_tokens, s.latency_s))
                                      for s in good])
            if self.on_progress:
                try:
                    self.on_progress(len(new) * multiplicity[key])
                except Exception:
                    pass

        generate_error = None
        if jobs:
            try:
                await self._generate(jobs, emit, deadline, stats)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a back-end bug must not take the caller down
                generate_error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
        if self.cache is not None and self.cacheable and jobs:
            errors_before = self.cache.write_errors
            flushed = await asyncio.to_thread(self.cache.flush)  # the batch's answers are on disk now
            if not flushed or self.cache.write_errors > errors_before:
                stats["cache_write_errors"] = self.cache.write_errors - errors_before + (not flushed)
        deadline_hit = deadline is not None and time.monotonic() >= deadline
        for job in jobs:  # pad what is missing
            missing = job.n - job.received
            if missing > 0:
                reason = "judge_error" if generate_error else ("deadline" if deadline_hit else "missing")
                detail = generate_error or f"no answer before the batch {reason}"
                emit(job, [Sample(error=reason, detail=detail)] * missing)

        failures: dict[str, int] = {}
        out: list[list[Critique]] = []
        for req, key in zip(requests, keys):
            if key is None:
                out.append([Critique("(no steps to judge)", frozenset())] * n)
                continue
            crits = []
            for i, s in enumerate(samples[key][:n]):
                if s.error is not None or s.text is None:
                    failures[s.error or "empty"] = failures.get(s.error or "empty", 0) + 1
                    crits.append(Critique("", None, s.latency_s, s.prompt_tokens, s.completion_tokens,
                                          error=f"{s.error}: {s.detail}" if s.detail else (s.error or "empty")))
                else:
                    prompt = unique[key][1][-1]["content"]  # to tell echoed examples from the verdict
                    wrong = parse_wrong_steps(s.text, len(req.steps), self.parse_mode, prompt)
                    crits.append(Critique(s.text, wrong, s.latency_s, s.prompt_tokens, s.completion_tokens,
                                          cached=i < cached_count[key]))
            out.append(crits)
        stats["deadline_hit"] = float(deadline_hit)
        for k, v in stats.items():
            self.totals[k] = self.totals.get(k, 0) + v
        for k, v in failures.items():
            self.totals[f"failed_{k}"] = self.totals.get(f"failed_{k}", 0) + v
        return JudgeResult(out, time.perf_counter() - start, failures, dict(stats))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity()!r})"


def one_line(err: BaseException, secret: str | None = None) -> str:
    """A short one-line description of an exception with any secret scrubbed."""
    text = f"{type(err).__name__}: {err}".replace("\n", " ")
    if secret:
        text = text.replace(secret, "***")
    return text[:300]
