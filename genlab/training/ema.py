"""Exponential moving average of chosen sub-modules' weights.

The shadow copy is keyed like the model's state_dict, so a checkpoint's
``ema`` entry can simply be laid over ``model`` weights at load time.

Floating-point buffers (batch-norm running means and variances) are averaged
with the same decay as the weights, so the statistics used at sampling time
belong to (approximately) the averaged weights rather than to the live ones;
integer buffers (num_batches_tracked) are copied. For exact statistics of the
EMA weights, `recalibrate_batchnorm` re-estimates them from fresh forward passes.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, module_names: tuple[str, ...], decay: float):
        """`module_names`: the sub-modules to average; "" stands for the whole model."""
        self.decay = decay
        prefixes = tuple(f"{name}." if name else "" for name in module_names)
        self.param_names = [n for n, _ in model.named_parameters() if n.startswith(prefixes)]
        saved = set(model.state_dict())  # non-persistent buffers (derived tensors) are not averaged or saved
        self.buffer_names = [n for n, _ in model.named_buffers() if n.startswith(prefixes) and n in saved]
        if not self.param_names:
            raise ValueError(f"EMA: no parameters under {module_names}")
        params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
        self._params = [params[n] for n in self.param_names]
        self._buffers = [buffers[n] for n in self.buffer_names]
        self.shadow = {n: t.detach().clone() for n, t in zip(self.param_names, self._params)}
        self.shadow.update({n: t.detach().clone() for n, t in zip(self.buffer_names, self._buffers)})

    @torch.no_grad()
    def update(self, step: int) -> None:
        # Warm-up (as in TF's ExponentialMovingAverage with num_updates): early
        # averages do not drag in the random initial weights.
        decay = min(self.decay, (1 + step) / (10 + step))
        shadow_params = [self.shadow[n] for n in self.param_names]
        torch._foreach_lerp_(shadow_params, [p.detach() for p in self._params], 1.0 - decay)
        for n, b in zip(self.buffer_names, self._buffers):
            if b.is_floating_point():
                self.shadow[n].lerp_(b, 1.0 - decay)
            else:
                self.shadow[n].copy_(b)

    def state_dict(self) -> dict:
        return dict(self.shadow)

    def load_state_dict(self, state: dict) -> None:
        for n, t in state.items():
            self.shadow[n].copy_(t)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module):
        """Temporarily run `model` with the EMA weights (for sample grids)."""
        live = {n: t.detach().clone() for n, t in zip(self.param_names + self.buffer_names, self._params + self._buffers)}
        tensors = dict(zip(self.param_names + self.buffer_names, self._params + self._buffers))
        with torch.no_grad():
            for n, t in tensors.items():
                t.copy_(self.shadow[n])
        try:
            yield model
        finally:
            with torch.no_grad():
                for n, t in tensors.items():
                    t.copy_(live[n])


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, make_input, batches: int = 50) -> int:
    """Re-estimate every BatchNorm's running statistics of `module` for its current weights
    (the cumulative average over `batches` forward passes of `make_input()`), then leave it in
    eval mode. Returns the number of BatchNorm layers reset; 0 means nothing to do."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts equally
    module.train()
    try:
        for _ in range(batches):
            module(make_input())
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        module.eval()
    return len(norms)
