"""CycleGAN: Zhu, Park, Isola & Efros 2017, arXiv:1703.10593.

Two generators G: A -> B and F: B -> A (ResNet style: c7s1-w, d2w, d4w, residual
blocks, u2w, uw, c7s1-C; instance norm, reflection padding, tanh), two PatchGAN
discriminators (4x4 convs, LeakyReLU 0.2, instance norm except on the first layer,
a patch map out), trained without pairs:

- least-squares GAN loss: D minimises 0.5 [(D(y) - 1)^2 + D(G(x))^2], G minimises (D(G(x)) - 1)^2;
- cycle loss lambda ||F(G(x)) - x||_1 + lambda ||G(F(y)) - y||_1 with lambda = 10;
- identity loss 0.5 lambda (||G(y) - y||_1 + ||F(x) - x||_1) (the official code's
  lambda_identity = 0.5 is a multiplier of lambda: weight 5);
- D sees fakes from a history pool of 50 per domain: once full, each query returns,
  with probability 1/2, a stored image (swapped for the new one) instead of the new
  one. The pool is part of the step state, so it is saved in every checkpoint and a
  resumed run continues exactly;
- update order per step as in the official code: G (with D frozen) then D on the
  detached fakes of that same forward pass; Adam lr 2e-4, beta1 0.5; weights N(0, 0.02);
  the recipe's ``[schedule] kind = "linear_decay"`` with ``decay_steps`` = half the run
  gives the paper's constant-then-linear-decay learning rate.

Sized for small images: two stride-2 stages, so the side must be a multiple of 4
(28x28 MNIST-style domains: 7x7 at the bottleneck); the PatchGAN has two stride-2
layers and one stride-1 layer (a 5x5 patch map on 28x28, each patch seeing 22x22 pixels)
instead of the 70x70 PatchGAN's three. Batch 16 instead of 1 (minutes on a CPU).

`translate(x, target)` maps images into domain `target` (an index or a name of
`data_spec.domains`) with the generator that leads there; the cycle A -> B -> A is
`translate(translate(x, 1), 0)`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.model import DataSpec, GenerativeModel, Phase, option
from genlab.nn.domain_target import domain_indices
from genlab.nn.resnet_generator import ResnetGenerator, check_side
from genlab.nn.two_player import AdversarialOptim
from genlab.nn.weight_init import normal_init
from genlab.registry import register


# ----- networks ---------------------------------------------------------------------------------
class PatchDiscriminator(nn.Module):
    """C_w (no norm), C_2w ... with 4x4 stride-2 convs, one stride-1 C, then a 1-channel patch map."""

    def __init__(self, in_ch: int, width: int, down: int = 2):
        super().__init__()
        layers, ch = [nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2, True)], width
        for _ in range(down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.InstanceNorm2d(ch * 2, affine=True), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, ch * 2, 4, 1, 1), nn.InstanceNorm2d(ch * 2, affine=True), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ch * 2, 1, 4, 1, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


# ----- the history pool -------------------------------------------------------------------------
class ImagePool:
    """The last `size` generated images (Shrivastava et al. 2017, as CycleGAN's ImagePool).

    Until full, a query stores and returns the new images. Once full, each image is, with
    probability 1/2, swapped for a random stored one (which is returned), else returned as
    it is. Random numbers come from the global torch RNG (the trainer checkpoints it)."""

    def __init__(self, size: int = 50):
        self.size, self.images, self.count = size, None, 0

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None:
            self.images = torch.zeros(self.size, *images.shape[1:], device=images.device, dtype=images.dtype)
        out = []
        for img in images:
            if self.count < self.size:
                self.images[self.count] = img
                self.count += 1
                out.append(img)
            elif torch.rand(()).item() < 0.5:
                j = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[j].clone())
                self.images[j] = img
            else:
                out.append(img)
        return torch.stack(out)

    def state(self) -> dict:
        return {"count": self.count, "images": None if self.images is None else self.images.detach().cpu().clone()}

    def load(self, state: dict, device=None) -> None:
        self.count = int(state.get("count", 0))
        images = state.get("images")
        self.images = None if images is None else images.float().to(device or images.device).clone()


# ----- the family -------------------------------------------------------------------------------
@dataclass
class CycleGANConfig:
    width: int = option(32, low=4, help="channels of the generators' first layer and the discriminators'")
    blocks: int = option(6, low=1, help="residual blocks at the generators' bottleneck (6 for 128x128)")
    lambda_cycle: float = option(10.0, low=0.0)
    lambda_identity: float = option(0.5, low=0.0, help="a multiplier of lambda_cycle (0.5 -> weight 5)")
    pool_size: int = option(50, low=0)


@dataclass
class CycleGANOptim(AdversarialOptim):
    """The paper's Adam: lr 2e-4 for G and D, beta1 0.5 (the shared defaults, DCGAN's)."""


def lsgan(pred: torch.Tensor, target: float) -> torch.Tensor:
    return (pred - target).pow(2).mean()


@register
class CycleGAN(GenerativeModel):
    family = "cyclegan"
    Config = CycleGANConfig
    Optim = CycleGANOptim
    paper = "Zhu et al. 2017, arXiv:1703.10593"
    default_data = "mnist-styles2"
    ema_modules = ("g_ab", "g_ba")

    def __init__(self, config: CycleGANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        c = data_spec.channels
        self.g_ab = ResnetGenerator(c, c, config.width, config.blocks)  # G: A -> B
        self.g_ba = ResnetGenerator(c, c, config.width, config.blocks)  # F: B -> A
        self.d_a = PatchDiscriminator(c, config.width)
        self.d_b = PatchDiscriminator(c, config.width)
        normal_init(self)  # the official init_type='normal': N(0, 0.02)
        self.pool_a, self.pool_b = ImagePool(config.pool_size), ImagePool(config.pool_size)
        self._fakes = None  # (fake_a, fake_b) of the last generator step, for the D step

    @classmethod
    def supported_shapes(cls) -> str:
        return "two domains of images whose sides are multiples of 4 (at least 12), any channel count"

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        if spec.num_domains != 2:
            raise ValueError(f"cyclegan translates between exactly 2 domains; data {spec.name} ({spec.describe()}) has "
                             f"{spec.num_domains} ({', '.join(spec.domains) or 'no domain extra'}); "
                             "use mnist-styles2 or --data pair:DIR_A,DIR_B")
        check_side("cyclegan", spec)

    # ----- inference ----------------------------------------------------------------------------
    def translate(self, x: torch.Tensor, target=1) -> torch.Tensor:
        """Images (N, C, H, W) in [-1, 1] -> the same images in domain `target` (index or name):
        G for target 1 (from domain 0), F for target 0. The output is clamped to [-1, 1]."""
        x = self.check_images(torch.as_tensor(x), "images to translate").to(self.device)
        t = domain_indices(self.data_spec, target, len(x), self.family).to(x.device)
        out = torch.empty_like(x)
        with torch.no_grad():
            for d, g in ((1, self.g_ab), (0, self.g_ba)):
                m = t == d
                if m.any():
                    out[m] = g(x[m]).float()
        return out.clamp(-1, 1)

    @torch.no_grad()
    def preview(self, images: torch.Tensor, generator=None) -> torch.Tensor:
        """Rows of real images (domain 0), their translations into domain 1, and the cycle back."""
        fake = self.translate(images, 1)
        return torch.cat([images.float().clamp(-1, 1), fake, self.translate(fake, 0)])

    # ----- training -----------------------------------------------------------------------------
    def _split(self, batch):
        x, d = batch["image"], batch["domain"]
        return x[d == 0], x[d == 1]

    def generator_loss(self, batch: dict):
        a, b = self._split(batch)
        lam, lam_id = self.config.lambda_cycle, self.config.lambda_cycle * self.config.lambda_identity
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        adv = lsgan(self.d_b(fake_b), 1.0) + lsgan(self.d_a(fake_a), 1.0)
        cycle = (self.g_ba(fake_b) - a).abs().mean() + (self.g_ab(fake_a) - b).abs().mean()
        loss = adv + lam * cycle
        logs = {"adv": adv.detach(), "cycle": cycle.detach()}
        if lam_id > 0:
            idt = (self.g_ab(b) - b).abs().mean() + (self.g_ba(a) - a).abs().mean()
            loss = loss + lam_id * idt
            logs["identity"] = idt.detach()
        self._fakes = (fake_a.detach(), fake_b.detach())
        return loss, logs

    def discriminator_loss(self, batch: dict):
        a, b = self._split(batch)
        if self._fakes is not None and len(self._fakes[0]) == len(b) and len(self._fakes[1]) == len(a):
            fake_a, fake_b = self._fakes
        else:  # no generator step before this one (not the trainer's order): fresh fakes
            with torch.no_grad():
                fake_a, fake_b = self.g_ba(b), self.g_ab(a)
        self._fakes = None
        fake_a, fake_b = self.pool_a.query(fake_a), self.pool_b.query(fake_b)
        real_a, real_b = self.d_a(a), self.d_b(b)
        loss_a = 0.5 * (lsgan(real_a, 1.0) + lsgan(self.d_a(fake_a), 0.0))
        loss_b = 0.5 * (lsgan(real_b, 1.0) + lsgan(self.d_b(fake_b), 0.0))
        return loss_a + loss_b, {"D_A(real)": real_a.detach().mean(), "D_B(real)": real_b.detach().mean()}

    def phases(self) -> list[Phase]:
        o = self.optim  # G before D (the official order): D learns from the fakes of G's own step
        return [Phase("generator", [*self.g_ab.parameters(), *self.g_ba.parameters()], self.generator_loss,
                      o.adam(o.lr_g)),
                Phase("discriminator", [*self.d_a.parameters(), *self.d_b.parameters()], self.discriminator_loss,
                      o.adam(o.lr_d))]

    def step_state(self) -> dict:
        return {"pool_a": self.pool_a.state(), "pool_b": self.pool_b.state()}

    def load_step_state(self, state: dict) -> None:
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            if name in state:
                pool.load(state[name], self.device)

    # ----- evaluation ---------------------------------------------------------------------------
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """Translation against the true counterparts (procedural domains), both directions,
        beside the identity mapping; the cycle error; the share of digits that keep their class."""
        from genlab.data import domains
        from genlab.metrics import translation as T

        spec = self.data_spec
        if not domains.has_ground_truth(spec):
            return {"translation_skipped": f"{spec.name} has no ground-truth counterparts"}
        images, labels = domains.test_pairs(spec)
        bits = domains.domain_bits(spec)
        m = min(n, images.shape[1])
        idx = torch.randperm(images.shape[1], generator=torch.Generator().manual_seed(seed))[:m]
        out, parts = {"pairs": m}, []
        for src, dst, tag in ((0, 1, "a2b"), (1, 0, "b2a")):
            x, truth = images[src][idx], images[dst][idx]
            fake = torch.cat([self.translate(c, dst).cpu() for c in x.split(500)])
            back = torch.cat([self.translate(c, src).cpu() for c in fake.split(500)])
            s = T.score_with_classes(fake, truth, x, labels[idx], domains.grey_digit(fake, bits[dst]),
                                     domains.grey_digit(truth, bits[dst]))
            s["cycle_l1"] = T.l1_per_image(back, x).mean().item()
            parts.append(s)
            out.update({f"{tag}_{k}": v for k, v in s.items()})
        for k in ("l1", "psnr", "identity_l1", "identity_psnr", "class_kept", "class_kept_truth", "cycle_l1"):
            out[k] = sum(p[k] for p in parts) / len(parts)
        out["identity_ratio"] = out["identity_l1"] / max(out["l1"], 1e-12)
        return T.rounded(out)
