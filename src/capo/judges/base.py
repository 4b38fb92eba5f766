"""The judge interface every back-end implements.

A judge gets a batch of CritiqueRequest and returns, per request, N Critique objects (raw text,
parsed wrong-step set or None = unparsable, latency, token counts, error) -- in request order,
always of the requested length, never raising for a failed or garbage critique: a failure is a
Critique with `error` set and `wrong_steps` None. Voting is done by the caller (capo.voting), so
one set of critiques can be voted several ways.

Back-ends register a factory under a spec prefix: "calculator", "hf:<path>", "openai:<model>".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from capo.errors import CapoError
from capo.registry import Registry


@dataclass(frozen=True)
class CritiqueRequest:
    problem: str
    steps: tuple[str, ...]
    reference: str | None = None


@dataclass(frozen=True)
class Critique:
    text: str
    wrong_steps: frozenset[int] | None  # None: unparsable or failed
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # set when the judge failed (timeout, connection, server error)
    cached: bool = False
    # steps the judge could check at all (rule judges report it: the calculator checks only steps
    # with an arithmetic claim); None: every step was read (LLM judges). Used by the
    # `unjudgeable=flagged` guard (capo.credit).
    checked: frozenset[int] | None = None


@dataclass
class JudgeResult:
    critiques: list[list[Critique]]  # [request][sample]
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)  # reason -> count of failed critiques
    # counters of the call: requests sent, retries, cache hits, generated samples, n fallbacks, ...
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def num_failed(self) -> int:
        return sum(self.failures.values())

    @property
    def num_unparsable(self) -> int:
        return sum(1 for cs in self.critiques for c in cs if c.error is None and c.wrong_steps is None)

    @property
    def num_critiques(self) -> int:
        return sum(len(cs) for cs in self.critiques)

    def votes(self, requests: Sequence[CritiqueRequest], method: str = "intersection", min_valid: int = 1):
        """The voted result per request (capo.voting.Vote): per-step weights, has_verdict, ..."""
        from capo.voting import vote

        return [vote([c.wrong_steps for c in cs], len(r.steps), method, min_valid)
                for r, cs in zip(requests, self.critiques)]


class Judge:
    """Base class: subclasses implement `critique(requests, n)`."""

    name: str = "judge"

    def critique(self, requests: Sequence[CritiqueRequest], n: int) -> JudgeResult:
        raise NotImplementedError

    async def acritique(self, requests: Sequence[CritiqueRequest], n: int) -> JudgeResult:
        """Async form (back-ends with network I/O override it); default: `critique` in a thread."""
        import asyncio

        return await asyncio.to_thread(self.critique, requests, n)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


JUDGE_FACTORIES = Registry("judge")  # spec prefix -> factory(arg, **options) -> Judge
register_judge = JUDGE_FACTORIES.register


def load_judge_plugins() -> None:
    """Import the modules that packages register under the entry-point group `capo.judges`
    (name = module); importing one registers its factories. The lab's oracle and noisy judges
    arrive this way, so the judge interface does not depend on the lab (pyproject.toml)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="capo.judges"):
        if ep.name not in JUDGE_FACTORIES:
            ep.load()


def make_judge(spec: str, **options) -> Judge:
    """Build a judge from a spec: "calculator", "hf:<path>", "openai:<model>" (+ base_url=...);
    for lab problems also "oracle" and "noisy:ff=..,miss=.." (capo.lab.judges)."""
    import capo.judges.backends  # noqa: F401  (registers the built-in back-ends)

    prefix, _, arg = spec.partition(":")
    if prefix not in JUDGE_FACTORIES:
        load_judge_plugins()
    if prefix not in JUDGE_FACTORIES:
        raise CapoError(f"unknown judge {spec!r}; use one of: " + ", ".join(
            f"{p}" if p in ("calculator", "oracle") else f"{p}:<...>" for p in sorted(JUDGE_FACTORIES)))
    return JUDGE_FACTORIES[prefix](arg, **options)
