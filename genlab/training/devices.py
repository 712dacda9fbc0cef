"""Which device a run uses and which autocast precision it trains under."""
from __future__ import annotations

import os
import shutil

import torch

from genlab.errors import GenlabError


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise GenlabError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None means full fp32 (no autocast)."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 products natively here (avx512_bf16 or AMX). Without them bf16
    autocast on a CPU is emulated and slower than fp32; with them it is 1.1-1.7x faster for the
    conv and matmul nets (docs/engine.md, "Devices and precision")."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private probe; assume the slow case if it is gone
        return False


def precision_warning(dtype: torch.dtype | None, device: torch.device) -> str | None:
    """A one-line warning when the asked-for precision will run slower than fp32 on this device."""
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16():
        return ("precision bf16 on a CPU without avx512_bf16 or AMX is emulated and usually slower "
                "than fp32; set precision = \"fp32\" (or \"auto\") unless you are measuring it")
    return None


def compile_for(model: torch.nn.Module, device: torch.device):
    """torch.compile `model` for training on `device`. On a CPU, compiled random ops (dropout) draw
    from torch's own generator, as eager ones do: Inductor's CPU random numbers took about twice
    as long (docs/engine.md), and this way a compiled step draws the eager step's masks."""
    if device.type == "cpu":
        # Inductor builds C++ kernels on a CPU; without a compiler torch fails at the first step
        if not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "clang++", "c++") if c):
            raise GenlabError("compile = true on a CPU needs a C++ compiler (g++ or clang++, or $CXX), and "
                              "none was found; install one or set compile = false")
        import torch._inductor.config as inductor_config
        inductor_config.fallback_random = True
    return torch.compile(model)
