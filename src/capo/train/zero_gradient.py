"""Skip the optimizer step when the gradient is exactly zero.

A step whose every advantage is 0 (all-wrong groups under GRPO, or under CAPO's
`process_groups: with_correct`) and which has no KL term has an exactly zero gradient. Adam still
moves the weights on such a step: its update is m / (sqrt(v) + eps), and the first moment m of the
last real update decays by only 0.9 per step, so a run whose groups are mostly all-wrong keeps
drifting along its last few real updates (docs/results/real-model-guards). Setting every gradient
to None makes torch's optimizers leave those parameters, and their state, untouched: the step did
not happen, as far as the optimizer knows. The learning-rate schedule still advances.

Works wherever the gradients live in `param.grad` at `on_pre_optimizer_step` (one process, DDP,
FSDP); the decision is all-reduced so every process skips together. Under DeepSpeed the gradients
are kept in DeepSpeed's own buffers, `param.grad` is None, and nothing is skipped.
"""

from __future__ import annotations

import torch
from transformers import TrainerCallback


def gradient_is_zero(parameters) -> bool:
    """True when no parameter has a nonzero gradient (None counts as zero); stops at the first nonzero."""
    nonzero = False
    for p in parameters:
        if p.grad is not None and bool(p.grad.detach().ne(0).any()):
            nonzero = True
            break
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        flag = torch.tensor([float(nonzero)], device=_device(parameters))
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        nonzero = bool(flag.item())
    return not nonzero


def _device(parameters) -> torch.device:
    backend = torch.distributed.get_backend()
    return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")


class SkipZeroGradientSteps(TrainerCallback):
    """Before each optimizer step: if the whole gradient is zero, drop it so the optimizer skips.

    Logs `optimizer/skipped_steps` (cumulative) with the trainer's other metrics.
    """

    def __init__(self):
        self.skipped = 0

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        params = [p for p in model.parameters() if p.requires_grad]
        if params and gradient_is_zero(params):
            for p in params:
                p.grad = None
            self.skipped += 1

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "train_runtime" not in logs:  # a step's metrics, not the end-of-training summary
            logs["optimizer/skipped_steps"] = float(self.skipped)
