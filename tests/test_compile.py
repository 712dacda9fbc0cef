"""`compile = true` (torch.compile) with the GAN penalties that differentiate a gradient.

torch.compile's autograd cannot take a double backward; R1 and WGAN-GP run eagerly inside a
compiled step (genlab/nn/gan_losses.py), so a compiled step must give the eager step's gradients.
"""
import pytest
import torch
from torch import nn

from genlab.nn import gan_losses


def tiny_discriminator() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 8 * 8, 1))


def d_loss(d: nn.Module, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    real_logits, r1 = gan_losses.r1_penalty(d, real * 0.9)  # work before and after the penalty, as in a step
    loss = gan_losses.discriminator_loss(real_logits, d(fake))
    return loss + 0.5 * r1 + 10 * gan_losses.gradient_penalty(d, real, fake, alpha, target=0.9)


def weight_grads(step, d: nn.Module, *batch) -> list[torch.Tensor]:
    d.zero_grad()
    step(d, *batch).backward()
    return [p.grad.clone() for p in d.parameters()]


def test_a_compiled_step_with_r1_and_gradient_penalty_gives_the_eager_gradients():
    g = torch.Generator().manual_seed(1)
    batch = (torch.rand(6, 1, 8, 8, generator=g) * 2 - 1, torch.rand(6, 1, 8, 8, generator=g) * 2 - 1,
             torch.rand(6, generator=g))
    d = tiny_discriminator()
    eager = weight_grads(d_loss, d, *batch)
    compiled = weight_grads(torch.compile(d_loss), d, *batch)  # raised "does not support double backward"
    assert all(e.abs().sum() > 0 for e in eager)
    for e, c in zip(eager, compiled):
        torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-6)


def test_r1_is_the_squared_input_gradient_and_keeps_the_logits():
    real = torch.randn(3, 1, 2, 2)
    w = torch.randn(1, 1, 2, 2, requires_grad=True)
    logits, r1 = gan_losses.r1_penalty(lambda x: (x * w).sum(dim=(1, 2, 3)), real)
    torch.testing.assert_close(logits, (real * w).sum(dim=(1, 2, 3)))
    torch.testing.assert_close(r1, w.square().sum())  # grad_x of <x, w> is w for every sample
    r1.backward()
    torch.testing.assert_close(w.grad, 2 * w.detach())  # the penalty reaches D's weights


def test_a_compiled_cpu_step_draws_the_eager_dropout_masks():
    from genlab.training.devices import compile_for
    net = nn.Sequential(nn.Linear(64, 64), nn.Dropout(0.5), nn.Tanh())
    x = torch.randn(8, 64)
    torch.manual_seed(3)
    eager = net(x)
    compiled = compile_for(net, torch.device("cpu"))
    torch.manual_seed(3)
    torch.testing.assert_close(compiled(x), eager)  # the same torch generator, the same masks
    assert (eager == 0).float().mean() > 0.3  # dropout was on


def test_compile_on_a_cpu_without_a_cxx_compiler_says_so(monkeypatch):
    from genlab.errors import GenlabError
    from genlab.training import devices
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    with pytest.raises(GenlabError, match=r"needs a C\+\+ compiler .* set compile = false"):
        devices.compile_for(nn.Linear(2, 2), torch.device("cpu"))
