"""StarGAN: Choi et al. 2018, arXiv:1711.09020.

One generator G(x, c) for every target domain: the target label vector c is replicated
over the image and concatenated to it as extra channels; G is the CycleGAN-style ResNet
(two stride-2 downsamplings, residual blocks, two stride-2 transposed convs, instance
norm, tanh). One discriminator with a shared trunk of stride-2 4x4 convs (no
normalisation, LeakyReLU 0.01) and two heads: D_src, a real/fake patch map, and D_cls,
one logit per attribute.

- adversarial loss: WGAN-GP, lambda_gp 10, the penalty on per-sample random
  interpolates between real and fake (double backward through `create_graph=True`);
- D: -E[D_src(x)] + E[D_src(G(x, c))] + lambda_cls L_cls(real, original labels) + lambda_gp GP
  (D's classification loss is on real images only, as in the official code);
- G (every `d_steps` = 5 steps, the paper's n_critic): -E[D_src(G(x, c))] + lambda_cls L_cls(G(x, c), c)
  + lambda_rec ||x - G(G(x, c), c')||_1, with lambda_cls 1 and lambda_rec 10;
- attributes are multi-label: binary cross-entropy with logits summed over attributes and
  averaged over the batch; target labels are the batch's own labels in a random order;
- Adam lr 1e-4, betas (0.5, 0.999); linear decay over the second half via the recipe.

Sized for 28x28: D has three stride-2 convs (28 -> 14 -> 7 -> 3) instead of six for 128x128;
D_cls is a conv over the whole 3x3 map.

`translate(x, target)` takes any combination of attributes: a vector of 0/1 per attribute
(one for all images or one row per image; values in between are accepted too), or a domain
index or name of `data_spec.domains`. The reconstruction of the cycle is
`translate(translate(x, target), source)`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import DataSpec, GenerativeModel, Phase, option
from genlab.nn import gan_losses
from genlab.nn.domain_target import domain_indices
from genlab.nn.resnet_generator import ResnetGenerator, check_side
from genlab.nn.two_player import AdversarialOptim, discriminator_then_generator
from genlab.nn.weight_init import normal_init
from genlab.registry import register


class ConditionalGenerator(nn.Module):
    def __init__(self, channels: int, labels: int, width: int, blocks: int):
        super().__init__()
        self.net = ResnetGenerator(channels + labels, channels, width, blocks, first_pad="zeros")

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.to(x.dtype).view(len(x), -1, 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, c], 1))


class Discriminator(nn.Module):
    def __init__(self, channels: int, labels: int, width: int, height: int, side: int, down: int = 3):
        super().__init__()
        layers, ch, h, w = [], channels, height, side
        for i in range(down):
            out = width * 2 ** i
            layers += [nn.Conv2d(ch, out, 4, 2, 1), nn.LeakyReLU(0.01, True)]
            ch, h, w = out, h // 2, w // 2
        self.trunk = nn.Sequential(*layers)
        self.src = nn.Conv2d(ch, 1, 3, 1, 1)  # real/fake patch map
        self.cls = nn.Conv2d(ch, labels, (h, w))  # one logit per attribute

    def forward(self, x: torch.Tensor):
        h = self.trunk(x)
        return self.src(h), self.cls(h).flatten(1)


@dataclass
class StarGANConfig:
    width: int = option(32, low=4, help="channels of G's first layer and D's first layer")
    blocks: int = option(6, low=1, help="residual blocks in G")
    d_width: int = option(32, low=4)
    lambda_cls: float = option(1.0, low=0.0)
    lambda_rec: float = option(10.0, low=0.0)
    lambda_gp: float = option(10.0, low=0.0)
    d_steps: int = option(5, low=1, help="D steps per G step (the paper's n_critic)")


@dataclass
class StarGANOptim(AdversarialOptim):
    """The paper's Adam: lr 1e-4 for G and D, betas (0.5, 0.999)."""

    lr_g: float = 1e-4
    lr_d: float = 1e-4


def classification_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-label BCE with logits, summed over attributes, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(logits)


@register
class StarGAN(GenerativeModel):
    family = "stargan"
    Config = StarGANConfig
    Optim = StarGANOptim
    paper = "Choi et al. 2018, arXiv:1711.09020"
    default_data = "mnist-styles8"
    renamed_options = {"n_critic": "d_steps"}  # recipes and checkpoints written before the rename say n_critic
    ema_modules = ("generator",)

    def __init__(self, config: StarGANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        k, c = len(data_spec.attributes), data_spec.channels
        self.generator = ConditionalGenerator(c, k, config.width, config.blocks)
        self.discriminator = Discriminator(c, k, config.d_width, data_spec.height, data_spec.width)
        normal_init(self)  # the official code's N(0, 0.02)

    @classmethod
    def supported_shapes(cls) -> str:
        return "domains made of binary attributes; image sides multiples of 8 (at least 16), any channel count"

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        if not spec.attributes:
            raise ValueError(f"stargan needs domains made of binary attributes (DataSpec.attributes); data "
                             f"{spec.name} ({spec.describe()}) has none; use mnist-styles8")
        if spec.num_domains not in (0, 2 ** len(spec.attributes)):
            raise ValueError(f"{spec.name}: {spec.num_domains} domains for {len(spec.attributes)} attributes; "
                             f"expected {2 ** len(spec.attributes)}")
        check_side("stargan", spec)
        if spec.height < 16 or spec.width < 16:
            raise ValueError(f"stargan takes {cls.supported_shapes()}; got {spec.describe()}")

    # ----- targets ------------------------------------------------------------------------------
    def target_labels(self, target, n: int) -> torch.Tensor:
        """A target (attribute vector, rows of them, a domain index or name) -> (n, k) float labels."""
        attrs = self.data_spec.attributes
        k = len(attrs)
        if isinstance(target, str) or (not isinstance(target, (list, tuple)) and torch.as_tensor(target).ndim == 0):
            d = domain_indices(self.data_spec, target, n, self.family)
            return torch.stack([(d >> i) & 1 for i in range(k)], 1).float()
        t = torch.as_tensor(target, dtype=torch.float32)
        if t.ndim == 1:
            t = t.expand(n, -1) if len(t) == k else t
        if t.ndim != 2 or t.shape[1] != k or len(t) != n:
            raise ValueError(f"stargan expects a target of {k} attribute values ({', '.join(attrs)}), "
                             f"one vector for all images or one per image ({n}); got shape {tuple(t.shape)}")
        if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1:
            raise ValueError(f"attribute values must lie in [0, 1] ({', '.join(attrs)}); got {t.tolist()}")
        return t

    # ----- inference ----------------------------------------------------------------------------
    def translate(self, x: torch.Tensor, target) -> torch.Tensor:
        """Images (N, C, H, W) in [-1, 1] -> the same images with the target attributes, clamped to [-1, 1]."""
        x = self.check_images(torch.as_tensor(x), "images to translate").to(self.device)
        c = self.target_labels(target, len(x)).to(x.device)
        with torch.no_grad():
            return self.generator(x, c).float().clamp(-1, 1)

    @torch.no_grad()
    def preview(self, images: torch.Tensor, generator=None) -> torch.Tensor:
        """Up to 8 real images, each followed by its translation into every domain (row-major)."""
        x = images[:8].float().clamp(-1, 1)
        k = len(self.data_spec.attributes)
        rows = [torch.stack([x[i]] + [self.translate(x[i:i + 1], [(d >> j) & 1 for j in range(k)])[0]
                                      for d in range(2 ** k)]) for i in range(len(x))]
        return torch.cat(rows)

    # ----- training -----------------------------------------------------------------------------
    def _targets(self, c_org: torch.Tensor) -> torch.Tensor:
        return c_org[torch.randperm(len(c_org), device=c_org.device)]

    def discriminator_loss(self, batch: dict):
        x, c_org = batch["image"], batch["attributes"].float()
        with torch.no_grad():
            fake = self.generator(x, self._targets(c_org))
        src_real, cls_real = self.discriminator(x)
        src_fake, _ = self.discriminator(fake)
        adv = src_fake.mean() - src_real.mean()
        cls = classification_loss(cls_real, c_org)
        gp = gan_losses.gradient_penalty(lambda u: self.discriminator(u)[0], x, fake, self.rand(len(x)))
        cfg = self.config
        loss = adv + cfg.lambda_cls * cls + cfg.lambda_gp * gp
        return loss, {"wasserstein": -adv.detach(), "cls": cls.detach(), "gp": gp.detach()}

    def generator_loss(self, batch: dict):
        x, c_org = batch["image"], batch["attributes"].float()
        c_trg = self._targets(c_org)
        fake = self.generator(x, c_trg)
        src_fake, cls_fake = self.discriminator(fake)
        adv = -src_fake.mean()
        cls = classification_loss(cls_fake, c_trg)
        rec = (self.generator(fake, c_org) - x).abs().mean()
        cfg = self.config
        return adv + cfg.lambda_cls * cls + cfg.lambda_rec * rec, {"cls": cls.detach(), "rec": rec.detach()}

    def phases(self) -> list[Phase]:
        return discriminator_then_generator(self.optim, self.discriminator.parameters(), self.discriminator_loss,
                                            self.generator.parameters(), self.generator_loss, self.config.d_steps)

    # ----- evaluation ---------------------------------------------------------------------------
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """Against the true counterparts: random (source, target) domain pairs; per attribute,
        flips of that attribute alone; each beside the identity mapping; digits that keep their class."""
        from genlab.data import domains
        from genlab.metrics import translation as T

        spec = self.data_spec
        if not domains.has_ground_truth(spec):
            return {"translation_skipped": f"{spec.name} has no ground-truth counterparts"}
        images, labels = domains.test_pairs(spec)  # (D, N, C, H, W)
        bits = torch.tensor(domains.domain_bits(spec))  # (D, k)
        n_dom, n_all = images.shape[:2]
        m = min(n, n_all)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(n_all, generator=g)[:m]
        src = torch.randint(0, n_dom, (m,), generator=g)
        dst = (src + torch.randint(1, n_dom, (m,), generator=g)) % n_dom  # any other domain

        def run(dst_dom):
            x, truth = images[src, idx], images[dst_dom, idx]
            fake = torch.cat([self.translate(x[i:i + 500], bits[dst_dom[i:i + 500]]).cpu()
                              for i in range(0, m, 500)])
            return x, truth, fake

        def grey(imgs, doms):
            out = torch.empty(len(imgs), 1, *imgs.shape[2:])
            for d in doms.unique():
                sel = doms == d
                out[sel] = domains.grey_digit(imgs[sel], tuple(bits[d].tolist()))
            return out

        x, truth, fake = run(dst)
        out = {"pairs": m, **T.score_with_classes(fake, truth, x, labels[idx], grey(fake, dst), grey(truth, dst))}
        back = torch.cat([self.translate(fake[i:i + 500], bits[src[i:i + 500]]).cpu() for i in range(0, m, 500)])
        out["cycle_l1"] = T.l1_per_image(back, x).mean().item()
        for k, name in enumerate(spec.attributes):
            flipped = src ^ (1 << k)
            x, truth, fake = run(flipped)
            s = T.score(fake, truth, x)
            out.update({f"{name}_{key}": v for key, v in s.items()})
        return T.rounded(out)
