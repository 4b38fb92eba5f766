"""The lab's starting policy: a tiny transformer warmed up by SFT on flawed solutions, cached.

    path = build_policy(TaskConfig(), PolicyConfig())     # first call ~1-2 min on 2 cores, then instant

The tokenizer (byte-level BPE, ChatML template) and the random model come from
capo.models.tiny.build_tiny_model, trained on lab text; SFT teaches the solution format on
reference solutions whose computation steps are each wrong with probability `error_rate`
(capo.lab.task.sample_solution), so the sampled policy makes realistic step mistakes -- some of
them harmless for the final answer in the last-digit variant.

The result is cached under $CAPO_CACHE/lab/ (default ~/.cache/capo/lab/), keyed by a hash of the
task and policy settings; a folder is written to a temporary sibling and renamed into place.
Also here: batched sampling and ground-truth evaluation of a policy (accuracy, wrong-step rate).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from capo.lab.task import (
    ErrorModel,
    Problem,
    TaskConfig,
    generate_problems,
    label_response,
    sample_solution,
)
from capo.models.hub import cache_root
from capo.steps import split_steps

POLICY_FORMAT = 2  # bump when the build procedure changes (invalidates caches)
_MARKER = ".capo-lab-policy.json"


@dataclass(frozen=True)
class PolicyConfig:
    hidden_size: int = 96
    num_layers: int = 2
    vocab_size: int = 384
    error_rate: float = 0.15  # per computation step, in the SFT solutions
    sft_problems: int = 6000  # distinct training problems (one flawed solution each per epoch)
    sft_steps: int = 1500
    sft_batch_size: int = 32
    sft_lr: float = 3e-3
    seed: int = 0


def policy_key(task: TaskConfig, policy: PolicyConfig) -> str:
    blob = json.dumps({"task": asdict(task), "policy": asdict(policy), "format": POLICY_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def chat_prompt(tokenizer, problem_text: str) -> str:
    """The production rollout/eval prompt (capo.eval.prompting.format_prompt), so the SFT policy,
    the trainer's rollouts and the evaluation all see exactly the same prompt."""
    from capo.eval.prompting import format_prompt

    return format_prompt(tokenizer, problem_text, kind="math")


def tokenizer_corpus(task: TaskConfig, seed: int = 0, n: int = 600) -> list[str]:
    from capo.eval.prompting import user_message
    from capo.models.tiny import IM_END, IM_START

    rng = random.Random(seed + 7)
    out = []
    for p in generate_problems(n, seed + 1, task):
        sol = sample_solution(p, rng, ErrorModel(rate=0.3))
        out.append(f"{IM_START}user\n{user_message(p.text)}{IM_END}\n{IM_START}assistant\n{sol.text}{IM_END}\n")
    out.extend(f"Wrong step list: [{i % 4}, {i % 3 + 1}]" for i in range(40))
    out.append(" ".join(str(i) for i in range(-20, 200)))
    return out


def build_policy(task: TaskConfig | None = None, policy: PolicyConfig | None = None, *,
                 cache_dir: str | os.PathLike | None = None, log=print) -> Path:
    """Return the folder of the SFT-warmed tiny policy, building it on first use."""
    task = task if task is not None else TaskConfig()
    policy = policy if policy is not None else PolicyConfig()
    root = Path(cache_dir).expanduser() if cache_dir else cache_root() / "lab"
    out = (root / f"policy-{policy_key(task, policy)}").resolve()
    if (out / _MARKER).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        from capo.models.tiny import build_tiny_model

        t0 = time.time()
        base = build_tiny_model(tmp / "base", hidden_size=policy.hidden_size, num_layers=policy.num_layers,
                                vocab_size=policy.vocab_size, corpus=tokenizer_corpus(task, policy.seed),
                                seed=policy.seed)
        stats = sft(base, tmp / "model", task, policy, log=log)
        stats["build_seconds"] = round(time.time() - t0, 1)
        (tmp / "model" / _MARKER).write_text(json.dumps({"task": asdict(task), "policy": asdict(policy),
                                                         "format": POLICY_FORMAT, "sft": stats}, indent=1))
        try:
            os.rename(tmp / "model", out)
        except OSError:
            if not (out / _MARKER).is_file():
                raise
        log(f"lab policy built in {stats['build_seconds']} s -> {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _encode_example(tokenizer, problem: Problem, solution: str) -> tuple[list[int], int]:
    prompt_ids = tokenizer(chat_prompt(tokenizer, problem.text), add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(solution, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids + completion_ids, len(prompt_ids)


def sft(base_dir: Path, out_dir: Path, task: TaskConfig, policy: PolicyConfig, log=print) -> dict:
    """Supervised warm-up on flawed solutions (loss on the completion only); saves to out_dir."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(policy.seed)
    rng = random.Random(policy.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model.train()
    problems = generate_problems(policy.sft_problems, 10_000 + policy.seed, task)
    errors = ErrorModel(rate=policy.error_rate)
    opt = torch.optim.AdamW(model.parameters(), lr=policy.sft_lr, weight_decay=0.0, betas=(0.9, 0.98))
    warmup = max(1, policy.sft_steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, policy.sft_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    pad = tokenizer.pad_token_id
    t0, losses = time.time(), []
    for step in range(policy.sft_steps):
        batch = [rng.choice(problems) for _ in range(policy.sft_batch_size)]
        encoded = [_encode_example(tokenizer, p, sample_solution(p, rng, errors).text) for p in batch]
        width = max(len(ids) for ids, _ in encoded)
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        labels = torch.full((len(encoded), width), -100, dtype=torch.long)
        attn = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, (ids, n_prompt) in enumerate(encoded):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, n_prompt: len(ids)] = torch.tensor(ids[n_prompt:])
            attn[i, : len(ids)] = 1
        loss = model(input_ids=input_ids, attention_mask=attn, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % max(1, policy.sft_steps // 10) == 0:
            log(f"  sft step {step + 1}/{policy.sft_steps} loss {sum(losses[-50:]) / len(losses[-50:]):.3f} "
                f"({time.time() - t0:.0f} s)")
    model.eval()
    tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    return {"final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4), "sft_seconds": round(time.time() - t0, 1)}


# ---------------------------------------------------------------------------------------------
# Sampling and ground-truth evaluation


def load_policy(path, device: str = "cpu"):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    model.eval()
    return model, tokenizer


def sample_responses(model, tokenizer, problems: list[Problem], n: int = 1, temperature: float = 1.0,
                     max_new_tokens: int = 64, seed: int = 0, batch_size: int = 256) -> list[list[str]]:
    """n sampled responses per problem (temperature 0: greedy, n must be 1)."""
    import torch

    prompts = [chat_prompt(tokenizer, p.text) for p in problems for _ in range(n)]
    was_training = model.training
    model.eval()
    texts: list[str] = []
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, len(prompts), batch_size):
                enc = tokenizer(prompts[start: start + batch_size], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(model.device)
                kwargs = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} \
                    if temperature > 0 else {"do_sample": False}
                out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=tokenizer.eos_token_id, **kwargs)
                texts.extend(tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    return [texts[i * n: (i + 1) * n] for i in range(len(problems))]


def evaluate_policy(model, tokenizer, problems: list[Problem], n: int = 4, temperature: float = 1.0,
                    max_new_tokens: int = 64, seed: int = 0, examples: int = 0) -> dict:
    """Ground-truth metrics over n sampled responses per problem.

    accuracy              share of responses whose boxed answer is right (sampled pass@1)
    wrong_step_rate       share of steps that are wrong (over all steps of all responses; a response
                          with no step at all, e.g. only blank lines, counts as one wrong step)
    process_correct       share of responses with no wrong step
    right_answer_wrong_process   share of responses with a right answer and >= 1 wrong step
    mean_steps            paragraph steps per response
    examples              (if examples > 0) the first few responses, to see what the policy does
    """
    responses = sample_responses(model, tokenizer, problems, n, temperature, max_new_tokens, seed)
    total = steps = wrong = correct = proc = rawp = 0
    for problem, outs in zip(problems, responses):
        for text in outs:
            lab = label_response(problem, text)
            total += 1
            steps += max(1, lab.num_steps)  # a response with no step at all counts as one wrong step
            wrong += lab.num_wrong if lab.num_steps else 1
            correct += lab.final_correct
            proc += lab.process_correct and lab.final_correct
            rawp += lab.final_correct and lab.num_wrong > 0
    return {
        "accuracy": correct / total,
        "wrong_step_rate": wrong / max(1, steps),
        "process_correct": proc / total,
        "right_answer_wrong_process": rawp / total,
        "mean_steps": sum(len(split_steps(t)) for outs in responses for t in outs) / total,
        **({"examples": [outs[0] for outs in responses[:examples]]} if examples else {}),
    }
