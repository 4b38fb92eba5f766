"""`hf:<path|name>`: an in-process transformers model as the judge (small judges, tests, offline).

The model is loaded once (fp32 on CPU by default; `device`/`dtype` options), prompts are rendered
with the tokenizer's chat template and sampled in left-padded batches of `batch_size` sequences
(each of the n samples of a prompt is one row; rows are sorted by length to waste little padding).
temperature 0 is greedy. A row stops once its verdict line is complete or once it loops (one chunk
of <= 32 tokens repeated 4 times; `stop_at_verdict`). With a seed, each batch draws from a forked
RNG seeded from it, so the global torch RNG of the caller is untouched. Generation runs on a worker
thread, one batch at a time; a batch that raises (out of memory, ...) fails its own critiques only
("model_error"), and prompts longer than the model's context fail as "prompt_too_long" without
running. The per-batch deadline is checked between generation batches.
`structured=True` (`--structured-verdicts`) ends every critique with a strict verdict line whose
indices are steps of the solution (a logits processor, capo.judges.backends.hf_verdict).

`hf:smollm2` (or the hub id) resolves through capo.models (offline SmolLM2-135M-Instruct).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path

from capo.errors import CapoError
from capo.judges.base import register_judge
from capo.judges.backends.hf_verdict import INDICES, StructuredVerdict, VerdictLine
from capo.judges.runtime import GeneratingJudge, GenJob, Sample, one_line
from capo.parse import parse_wrong_steps


def _fingerprint(path: Path) -> str:
    """Names and sizes of a model folder's files: changes when the weights are replaced."""
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                h.update(f"{f.name}:{f.stat().st_size};".encode())
        cfg = path / "config.json"
        if cfg.is_file():
            h.update(cfg.read_bytes())
    return h.hexdigest()[:16]


class HFJudge(GeneratingJudge):
    name = "hf"

    def __init__(self, model: str, *, batch_size: int = 4, device: str = "cpu", dtype: str = "float32",
                 max_input_tokens: int | None = None, stop_at_verdict: bool = True, structured: bool = False,
                 **common):
        super().__init__(**common)
        if not model:
            raise CapoError("the hf judge needs a model: hf:<folder> or hf:smollm2")
        if batch_size < 1:
            raise CapoError(f"batch_size must be >= 1, got {batch_size}")
        try:
            from capo.models.smollm2 import resolve_model

            resolved = resolve_model(model)
        except ImportError:  # pragma: no cover - capo.models is part of the package
            resolved = model
        self.model_path = Path(resolved)
        self.model_name = str(resolved)
        self.batch_size, self.device, self.dtype = batch_size, device, dtype
        self.max_input_tokens = max_input_tokens
        self.stop_at_verdict = stop_at_verdict
        self.structured = structured
        self._line: VerdictLine | None = None  # the verdict line's token ids (structured), built once
        self._model = None
        self._tokenizer = None
        self._special_tokens: tuple[str, ...] | None = None
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._ident = {"backend": "hf", "model": str(self.model_path.resolve()) if self.model_path.exists()
                       else self.model_name, "fingerprint": _fingerprint(self.model_path), "dtype": dtype,
                       "stop_at_verdict": stop_at_verdict}
        if structured:
            self._ident["structured"] = True  # constrained critiques are other samples: other cache entries

    def identity(self) -> dict:
        return self._ident

    def load(self):
        """Load tokenizer and model (once); raises CapoError when the folder cannot be loaded."""
        with self._load_lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                try:
                    tok = AutoTokenizer.from_pretrained(self.model_name)
                    model = AutoModelForCausalLM.from_pretrained(self.model_name, dtype=getattr(torch, self.dtype))
                except Exception as err:
                    raise CapoError(f"cannot load hf judge {self.model_name!r}: {one_line(err)}") from None
                tok.padding_side = "left"
                if tok.pad_token_id is None:
                    tok.pad_token = tok.eos_token
                model.to(self.device).eval()
                self._tokenizer, self._model = tok, model
        return self._tokenizer, self._model

    def special_tokens(self) -> tuple[str, ...]:
        """The tokenizer's special tokens (neutralized in prompts: a step cannot end a turn)."""
        if self._special_tokens is None:
            try:
                tok, _ = self.load()
            except CapoError:
                self._special_tokens = ()  # generation reports the load failure; do not retry per prompt
                return ()
            added = [t.content for t in getattr(tok, "added_tokens_decoder", {}).values()
                     if getattr(t, "special", False)]
            self._special_tokens = tuple(dict.fromkeys([*tok.all_special_tokens, *added]))
        return self._special_tokens

    def _context_limit(self) -> int | None:
        cfg = self._model.config
        limit = getattr(cfg, "max_position_embeddings", None)
        if self.max_input_tokens is not None:
            return self.max_input_tokens + self.sampling.max_tokens
        return limit

    def _encode(self, messages: list[dict]) -> list[int]:
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        return tok(messages[-1]["content"])["input_ids"]

    async def _generate(self, jobs, emit, deadline, stats) -> None:
        loop = asyncio.get_running_loop()

        def emit_threadsafe(job, samples):  # emit runs on the judge loop, never concurrently
            done = threading.Event()

            def call():
                try:
                    emit(job, samples)
                finally:
                    done.set()

            loop.call_soon_threadsafe(call)
            done.wait(timeout=60)

        await asyncio.to_thread(self._generate_sync, jobs, emit_threadsafe, deadline, stats)

    def _generate_sync(self, jobs: list[GenJob], emit, deadline, stats) -> None:
        import torch

        tok, model = self.load()
        with self._gen_lock:
            limit = self._context_limit()
            rows: list[tuple[GenJob, list[int], int]] = []  # (job, prompt ids, sample number)
            for job in jobs:
                try:
                    ids = self._encode(job.messages)
                except Exception as err:
                    emit(job, [Sample(error="bad_prompt", detail=one_line(err))] * job.n)
                    continue
                if limit is not None and len(ids) + self.sampling.max_tokens > limit:
                    emit(job, [Sample(error="prompt_too_long", prompt_tokens=len(ids),
                                      detail=f"{len(ids)} prompt + {self.sampling.max_tokens} new tokens "
                                             f"> context {limit}")] * job.n)
                    continue
                rows.extend((job, ids, i) for i in range(job.n))
            rows.sort(key=lambda r: len(r[1]))
            greedy = self.sampling.temperature == 0
            pad = tok.pad_token_id
            gen_eos = getattr(model.generation_config, "eos_token_id", None)
            eos = set(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) | {tok.eos_token_id}
            eos.discard(None)
            for b, start in enumerate(range(0, len(rows), self.batch_size)):
                batch = rows[start:start + self.batch_size]
                if deadline is not None and time.monotonic() >= deadline:
                    for job, _ids, _i in batch:
                        emit(job, [Sample(error="deadline", detail="batch deadline reached")])
                    continue
                t0 = time.perf_counter()
                stats["requests"] += 1
                try:
                    with torch.random.fork_rng(devices=[]), torch.inference_mode():
                        if self.sampling.seed is not None:
                            first = batch[0][0].seed if batch[0][0].seed is not None else self.sampling.seed
                            torch.manual_seed(first * 1000003 + b)
                        new = self._generate_rows(tok, model, batch, pad, eos, greedy)
                except Exception as err:
                    for job, _ids, _i in batch:
                        emit(job, [Sample(error="model_error", detail=one_line(err))])
                    continue
                latency = time.perf_counter() - t0
                for (job, ids, _i), gen in zip(batch, new):
                    text = tok.decode(gen, skip_special_tokens=True)
                    if not text.strip():
                        emit(job, [Sample(error="empty", detail="empty completion", latency_s=latency)])
                    else:
                        emit(job, [Sample(text, len(ids), len(gen), latency)])

    def _generate_rows(self, tok, model, batch, pad: int, eos: set[int], greedy: bool) -> list[list[int]]:
        """The generated ids of each row (up to and including its EOS). With structured verdicts,
        rows that ended without a valid verdict line get it in a second, constrained call."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        prompts = [job.messages[-1]["content"] for job, _, _ in batch]
        kwargs = dict(max_new_tokens=self.sampling.max_tokens, pad_token_id=pad, do_sample=not greedy)
        if greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=self.sampling.temperature, top_p=self.sampling.top_p, top_k=0)
        inputs = [ids for _, ids, _ in batch]
        width = max(len(ids) for ids in inputs)
        if self.stop_at_verdict:  # structured: a looping row is led to its verdict, not stopped
            stop = _VerdictWritten(tok, width, prompts=prompts, stop_loops=not self.structured)
            kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
        steps = [job.num_steps if job.num_steps is not None else 1000 for job, _, _ in batch]
        if self.structured:
            line = self._verdict_line()
            kwargs["logits_processor"] = LogitsProcessorList([StructuredVerdict(
                line, steps, [self.sampling.max_tokens] * len(batch), width, looping=_looping)])
        rows = [_until_eos(gen, pad, eos) for gen in _left_padded_generate(model, inputs, pad, **kwargs)]
        if not self.structured:
            return rows
        # rows that ended (EOS) before writing a verdict: continue after the forced line
        line = self._verdict_line()
        todo = [r for r, gen in enumerate(rows)
                if parse_wrong_steps(tok.decode(gen, skip_special_tokens=True), steps[r], "strict",
                                     prompts[r]) is None]
        if not todo:
            return rows
        heads = [[t for t in rows[r] if t not in eos] + line.prefix_ids for r in todo]
        budget = [self.sampling.max_tokens - len(h) for h in heads]
        inputs = [batch[r][1] + h for r, h in zip(todo, heads)]
        width = max(len(ids) for ids in inputs)
        kwargs["max_new_tokens"] = max(1, max(budget))
        kwargs["logits_processor"] = LogitsProcessorList([StructuredVerdict(
            line, [steps[r] for r in todo], budget, width, start=INDICES)])
        kwargs.pop("stopping_criteria", None)  # the processor ends each row with EOS after "]"
        for r, head, tail in zip(todo, heads, _left_padded_generate(model, inputs, pad, **kwargs)):
            rows[r] = head + _until_eos(tail, pad, eos)
        return rows

    def _verdict_line(self) -> VerdictLine:
        if self._line is None:
            try:
                self._line = VerdictLine(self._tokenizer)
            except ValueError as err:
                raise CapoError(f"hf judge {self.model_name}: no structured verdicts: {err}") from None
        return self._line

    async def _aclose(self) -> None:
        pass


def _verdict_written(tail: str, prompt: str | None = None) -> bool:
    """The template's verdict line is complete: capo.parse's strict grammar, any index counts;
    an echo of the prompt's example line is not a verdict."""
    return parse_wrong_steps(tail, 1 << 30, prompt=prompt) is not None


def _looping(tokens: list[int], max_period: int = 32, repeats: int = 4) -> bool:
    """The tail is one chunk of <= max_period tokens repeated `repeats` times (greedy loops)."""
    for period in range(1, max_period + 1):
        span = period * repeats
        if len(tokens) < span:
            break
        tail = tokens[-span:]
        if tail == tail[:period] * repeats:
            return True
    return False


def _left_padded_generate(model, inputs: list[list[int]], pad: int, **kwargs) -> list[list[int]]:
    """model.generate on left-padded rows; the new ids of each row (padded after it stopped)."""
    import torch

    width = max(len(ids) for ids in inputs)
    input_ids = torch.full((len(inputs), width), pad, dtype=torch.long)
    attention = torch.zeros((len(inputs), width), dtype=torch.long)
    for r, ids in enumerate(inputs):  # left padding: decoder-only models continue from the right
        input_ids[r, width - len(ids):] = torch.tensor(ids)
        attention[r, width - len(ids):] = 1
    out = model.generate(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device), **kwargs)
    return out[:, width:].tolist()


def _until_eos(gen: list[int], pad: int, eos: set[int]) -> list[int]:
    """A row's ids up to and including its first EOS; a row stopped early is padded after it."""
    kept = []
    for t in gen:
        if t == pad and t not in eos:
            break
        kept.append(t)
        if t in eos:
            break
    return kept


class _VerdictWritten:
    """Stopping criterion: a row is done once its verdict line ("Wrong step list: [...]") is
    complete -- what follows is never used -- or once it loops (a small judge repeating itself
    until max_tokens would never reach a verdict)."""

    def __init__(self, tokenizer, prompt_width: int, window: int = 32, prompts: list[str] | None = None,
                 stop_loops: bool = True):
        self.tokenizer, self.prompt_width, self.window = tokenizer, prompt_width, window
        self.prompts = prompts  # per row: an echo of the prompt's example line does not stop it
        self.stop_loops = stop_loops

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        start = max(self.prompt_width, input_ids.shape[1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        generated = input_ids[:, self.prompt_width:].tolist()
        prompts = self.prompts or [None] * len(tails)
        return torch.tensor([_verdict_written(t, p) or (self.stop_loops and _looping(g))
                             for t, g, p in zip(tails, generated, prompts)],
                            device=input_ids.device)


@register_judge("hf")
def make_hf_judge(model: str, **options) -> HFJudge:
    return HFJudge(model, **options)
