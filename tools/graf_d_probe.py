"""Can a discriminator tell this GRAF generator's patches from real ones at all? (issue 27)

    python tools/graf_d_probe.py [CHECKPOINT] [--fake 1024] [--steps 600] [--pixel-patches]
        [--variants 1,2] [--data shapes3d-64 --patch 32] [--local-layers 2] [--threads 1]

Every GRAF run here ends with D near chance (D(x) ~ 0.52 by step 10,000), and a fresh D
started against the shipped generator stayed at 0.50 for 2,000 steps, while the FID still
sees the samples far from the real renders. Either the patches really are that close, or the
D of the recipe (spectral norm on every conv, R1, RMSprop at 1e-4) is too slow to see what
differs. This probe freezes the generator, draws a bank of its patches once (scales in
[min_scale, 1] as in training, density noise off) and as many real patches, and trains fresh
discriminators of the recipe's shape on the bank, with and without what holds them back. It
prints each D's accuracy on held-out patches (real test renders, fresh fake patches) after
every quarter of its steps. A D that reaches high accuracy here shows the signal is in the
patches and the recipe's D does not pick it up; one that stays near 50% shows the patches
carry too little of the difference. --pixel-patches draws both banks with pixel-aligned
patches (option pixel_patches: the real patch is the image's own pixels, not a bilinear read).
--data renders the frozen generator at another data set's size (a field has no resolution of its
own: shapes3d-64 casts 64 x 64 rays), and --patch sets D's patch side K there: with pixel-aligned
patches at 64 px, K = 32 is a half-image crop at full resolution or the whole image at every
other pixel, at the cost of K = 32 on 32 px renders. --local-layers n trains the texture D of
option d_local_layers instead (a map of logits, each seeing a 5 x 2^n - 2 px window).
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.nn.utils import parametrize

from genlab.checkpoint import load_checkpoint
from genlab.data import load_dataset
from genlab.models.graf import PatchDiscriminator
from genlab.nn import gan_losses
from genlab.registry import model_from_state, resolve_checkpoint


@torch.no_grad()
def fake_bank(model, n: int, seed: int, chunk: int = 64) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.cat([model.fake_patches(min(chunk, n - i)) for i in range(0, n, chunk)])


@torch.no_grad()
def real_bank(model, images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    idx = torch.randint(len(images), (n,))
    return model.real_patches(images[idx])


def without_spectral_norm(d: PatchDiscriminator) -> PatchDiscriminator:
    for m in d.modules():
        if isinstance(m, torch.nn.Conv2d) and parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)  # the raw weight
    return d


def without_instance_norm(d: PatchDiscriminator) -> PatchDiscriminator:
    for i, m in enumerate(d.body):
        if isinstance(m, torch.nn.InstanceNorm2d):
            d.body[i] = torch.nn.Identity()
    return d


def accuracy(d, real, fake) -> float:
    with torch.no_grad():
        return 0.5 * ((d(real) > 0).float().mean() + (d(fake) < 0).float().mean()).item()


def train_d(d, opt, r1: float, real, fake, real_test, fake_test, steps: int, batch: int = 32):
    g = torch.Generator().manual_seed(0)
    marks = []
    for step in range(1, steps + 1):
        xr = real[torch.randint(len(real), (batch,), generator=g)].requires_grad_(r1 > 0)
        xf = fake[torch.randint(len(fake), (batch,), generator=g)]
        lr_, lf = d(xr), d(xf)
        loss = gan_losses.discriminator_loss(lr_, lf)  # the recipe's non-saturating loss
        if r1 > 0:
            grad, = torch.autograd.grad(lr_.sum(), xr, create_graph=True)
            loss = loss + r1 / 2 * grad.pow(2).flatten(1).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % (steps // 4) == 0:
            d.eval()  # held-out accuracy, and on as many training patches (can D fit what it saw?)
            seen = torch.arange(min(len(real), len(real_test)))
            marks.append((accuracy(d, real_test, fake_test), accuracy(d, real[seen], fake[seen])))
            d.train()
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", nargs="?", default="graf-shapes")
    ap.add_argument("--fake", type=int, default=1024, help="generator patches to train on (as many real)")
    ap.add_argument("--test", type=int, default=512, help="held-out patches of each kind")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--pixel-patches", action="store_true", help="pixel-aligned patches in both banks")
    ap.add_argument("--variants", default="", help="the Ds to train, by number in the list (e.g. 1,2); default all")
    ap.add_argument("--min-scale", type=float, default=None, help="default: the checkpoint's")
    ap.add_argument("--data", default=None, help="render at this data set's size (default: the checkpoint's)")
    ap.add_argument("--patch", type=int, default=None, help="D's patch side K (default: the checkpoint's)")
    ap.add_argument("--local-layers", type=int, default=None, help="D's d_local_layers (default: the checkpoint's)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    state = load_checkpoint(resolve_checkpoint(a.checkpoint))
    if a.data:
        state["data_spec"] = load_dataset(a.data, "test").spec.to_dict()
    if a.patch:
        state["config"] = {**state["config"], "patch": a.patch}
    model = model_from_state(state).eval()
    model.noise = 0.0
    model.config.pixel_patches = a.pixel_patches
    if a.min_scale is not None:
        model.min_scale = a.min_scale
    c = model.config
    lr_d = float(state["optim"]["lr_d"])
    t = time.perf_counter()
    train = load_dataset(model.data_spec.name, "train", image_size=model.data_spec.height).images
    test = load_dataset(model.data_spec.name, "test", image_size=model.data_spec.height).images
    fake, fake_test = fake_bank(model, a.fake, 1), fake_bank(model, a.test, 2)
    real, real_test = real_bank(model, train, a.fake, 1), real_bank(model, test, a.test, 2)
    aligned = ", pixel-aligned" if a.pixel_patches else ""
    local = c.d_local_layers if a.local_layers is None else a.local_layers
    print(f"{a.checkpoint}: {a.fake} + {a.test} patches of {c.patch} px a kind, scales in "
          f"[{model.min_scale:.2f}, 1]{aligned}, drawn in {time.perf_counter() - t:.0f} s; "
          f"D width {c.d_width}, local layers {local}, {a.steps} steps of 32 + 32\n")
    variants = [  # (label, spectral norm, instance norm, optimiser, lr, R1 gamma)
        (f"the recipe's: spectral norm, RMSprop {lr_d:g}, R1 {c.r1:g}", True, True, "rmsprop", lr_d, c.r1),
        (f"no instance norm, spectral norm, RMSprop {lr_d:g}, R1 {c.r1:g}", True, False, "rmsprop", lr_d, c.r1),
        (f"spectral norm, RMSprop 1e-3, R1 {c.r1:g}", True, True, "rmsprop", 1e-3, c.r1),
        (f"no spectral norm, RMSprop {lr_d:g}, R1 {c.r1:g}", False, True, "rmsprop", lr_d, c.r1),
        ("no spectral norm, Adam 2e-4 (0.5, 0.999), no R1", False, True, "adam", 2e-4, 0.0),
    ]
    print("| D | held-out accuracy after 1/4, 1/2, 3/4, all steps | on training patches | seconds |\n|---|---|---|---|")
    chosen = [v for i, v in enumerate(variants, 1) if not a.variants or str(i) in a.variants.split(",")]
    for label, sn, inorm, kind, lr, r1 in chosen:
        torch.manual_seed(0)
        d = PatchDiscriminator(c.patch, c.d_width, model.data_spec.channels, local)
        if not sn:
            d = without_spectral_norm(d)
        if not inorm:
            d = without_instance_norm(d)
        opt = (torch.optim.RMSprop(d.parameters(), lr=lr) if kind == "rmsprop"
               else torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999)))
        t = time.perf_counter()
        marks = train_d(d, opt, r1, real, fake, real_test, fake_test, a.steps)
        print(f"| {label} | {' / '.join(f'{m:.3f}' for m, _ in marks)} | {' / '.join(f'{m:.3f}' for _, m in marks)} "
              f"| {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
