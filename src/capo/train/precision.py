"""Where the run computes and in which precision: decided from `model.dtype` and the hardware.

    device_settings(config)   GRPOConfig's use_cpu / bf16 (TRL's mixed precision)
    weights_dtype(config)     the dtype the policy's weights are loaded in

On a GPU that supports bf16, `auto` means bf16 weights and bf16 mixed precision. On a CPU the
weights stay fp32, so that the optimizer updates full-precision master weights, and bf16 runs only
inside autocast, and only on CPUs with native bf16 instructions: there oneDNN's bf16 matmuls made
training steps about 2x faster (measured on 2 cores); elsewhere bf16 is emulated and slower.
"""

from __future__ import annotations


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 instructions (AVX512-BF16 / AMX)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def device_settings(config) -> dict:
    """GRPOConfig keys for the hardware (an explicit trl.bf16 / trl.use_cpu wins over them)."""
    import torch

    wants_bf16 = config.model.dtype in ("auto", "bfloat16")
    if not torch.cuda.is_available():
        return {"use_cpu": True, "bf16": wants_bf16 and cpu_has_fast_bf16()}
    return {"bf16": True} if wants_bf16 and torch.cuda.is_bf16_supported() else {}


def weights_dtype(config):
    """bf16 on a bf16 GPU for `auto`, else float32; an explicit model.dtype as given."""
    import torch

    if config.model.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, config.model.dtype)
