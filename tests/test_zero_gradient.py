"""The optimizer skips steps whose gradient is exactly zero (capo/train/zero_gradient.py)."""

import torch

from capo.train.zero_gradient import SkipZeroGradientSteps, gradient_is_zero


def _real_then_zero_step(callback):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.0)
    model(torch.randn(8, 4)).pow(2).mean().backward()  # one real update: Adam's momentum is now nonzero
    opt.step()
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():  # a step with no signal: every advantage 0, no KL
        p.grad = torch.zeros_like(p)
    if callback is not None:
        callback.on_pre_optimizer_step(None, None, None, model=model)
    opt.step()
    moved = max(float((p - b).abs().max()) for p, b in zip(model.parameters(), before))
    return moved, opt


def test_adam_moves_weights_on_a_zero_gradient_step_without_the_callback():
    moved, _ = _real_then_zero_step(None)
    assert moved > 1e-3  # the drift the callback exists to stop


def test_the_callback_makes_the_zero_gradient_step_a_no_op():
    callback = SkipZeroGradientSteps()
    moved, opt = _real_then_zero_step(callback)
    assert moved == 0.0
    assert callback.skipped == 1
    assert all(state["step"] == 1 for state in opt.state.values())  # the optimizer never saw the step
    logs = {"loss": 0.0}
    callback.on_log(None, None, None, logs=logs)
    assert logs["optimizer/skipped_steps"] == 1.0


def test_a_single_nonzero_gradient_entry_is_a_real_step():
    model = torch.nn.Linear(4, 3)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    assert gradient_is_zero(model.parameters())
    model.bias.grad[1] = 1e-12
    assert not gradient_is_zero(model.parameters())
    callback = SkipZeroGradientSteps()
    callback.on_pre_optimizer_step(None, None, None, model=model)
    assert callback.skipped == 0 and model.bias.grad is not None
