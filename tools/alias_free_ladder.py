"""The ladder of docs/models/alias_free.md ("Why neither generator learnt on a CPU"): regress a
generator onto the shipped DCGAN's images of fixed latents and print the error, from DCGAN's own
generator up to the alias-free one, one piece swapped at a time.

Small rungs (a generator on DCGAN's 7 -> 14 -> 28 layout, 64/32 channels; 256 pairs, batch 32,
Adam betas 0 / 0.99, 400 steps):

    python tools/alias_free_ladder.py small                       # modulated convs on a constant
    python tools/alias_free_ladder.py small --input fc            # ... fed by an FC layer of w
    python tools/alias_free_ladder.py small --input fc --plain    # equalised-lr plain convs
    python tools/alias_free_ladder.py small --lr 1e-2 --tanh

Real rungs (the families' generators, 16 pairs, full batch, 150 steps, the family's own
optimiser unless --lr; the error on the 28 x 28 digit area, as the test):

    python tools/alias_free_ladder.py real dcgan
    python tools/alias_free_ladder.py real alias_free_baseline --lr 2e-3
    python tools/alias_free_ladder.py real alias_free_baseline --fourier-input
    python tools/alias_free_ladder.py real alias_free_baseline --fourier-input --fixed-pose
    python tools/alias_free_ladder.py real alias_free --set learned_pose=false
"""
from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

import genlab
from genlab.model import DataSpec
from genlab.training.config import parse_value
from genlab.nn.alias_free import FourierInput, FullyConnected, MappingNetwork, modulated_conv2d

PAD32 = DataSpec(channels=1, height=32, width=32, num_classes=10, name="mnist", pad=2)
MNIST = DataSpec(channels=1, height=28, width=28, num_classes=10, name="mnist")


def teacher_pairs(n: int) -> torch.Tensor:
    teacher = genlab.load("dcgan-mnist").eval()
    with torch.no_grad():
        return teacher.decode(torch.randn(n, teacher.latent_dim)).float()


class SmallLayer(nn.Module):
    """A 3x3 modulated conv (StyleGAN2) or, with `plain`, an equalised-lr conv that ignores w."""

    def __init__(self, cin: int, cout: int, w_dim: int, plain: bool, k: int = 3, torgb: bool = False):
        super().__init__()
        self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.k, self.plain, self.torgb = k, plain, torgb

    def forward(self, x, w):
        if self.plain and not self.torgb:
            y = F.conv2d(x, self.weight / math.sqrt(self.weight[0].numel()), self.bias, padding=self.k // 2)
        else:
            styles = self.affine(w) / (math.sqrt(self.weight[0].numel()) if self.torgb else 1)
            y = modulated_conv2d(x, self.weight, styles, demodulate=not self.torgb, padding=self.k // 2)
            y = y + self.bias.view(1, -1, 1, 1)
        return y if self.torgb else F.leaky_relu(y, 0.2) * math.sqrt(2)


class SmallGenerator(nn.Module):
    def __init__(self, channels: int = 64, w_dim: int = 64, fc_input: bool = False, plain: bool = False,
                 tanh: bool = False):
        super().__init__()
        self.mapping = MappingNetwork(64, w_dim, 2)
        self.fc = FullyConnected(w_dim, channels * 49) if fc_input else None
        self.const = None if fc_input else nn.Parameter(torch.randn(channels, 7, 7))
        c = channels
        self.layers = nn.ModuleList([SmallLayer(c, c, w_dim, plain), SmallLayer(c, c // 2, w_dim, plain),
                                     SmallLayer(c // 2, c // 2, w_dim, plain)])
        self.rgb = SmallLayer(c // 2, 1, w_dim, plain, k=1, torgb=True)
        self.channels, self.tanh = channels, tanh

    def forward(self, z):
        w = self.mapping(z)
        x = self.fc(w).view(len(z), self.channels, 7, 7) if self.fc is not None else \
            self.const.expand(len(z), -1, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(F.interpolate(x, scale_factor=2) if i else x, w)
        y = self.rgb(x, w)
        return torch.tanh(y) if self.tanh else y


def small(args) -> None:
    target = teacher_pairs(256)
    g = SmallGenerator(fc_input=args.input == "fc", plain=args.plain, tanh=args.tanh)
    z = torch.randn(256, 64)
    opt = torch.optim.Adam(g.parameters(), lr=args.lr or 1e-3, betas=(0.0, 0.99))
    start = time.process_time()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, 256, (32,))
        loss = F.mse_loss(g(z[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            with torch.no_grad():
                print(f"step {step}: MSE {F.mse_loss(g(z), target).item():.4f}, "
                      f"{time.process_time() - start:.0f} CPU-s", flush=True)


def real(args) -> None:
    spec = MNIST if args.family == "dcgan" else PAD32
    options = dict(kv.split("=", 1) for kv in args.set)
    options = {k: parse_value(v) for k, v in options.items()}  # as `genlab train --set` reads them
    target = teacher_pairs(16)
    pad = (spec.height - 28) // 2
    target = F.pad(target, (pad,) * 4, value=-1.0)
    model = genlab.build(args.family, genlab.registry.make_config(args.family, options), data_spec=spec).train()
    generator = model.generator
    if args.fourier_input:  # the baseline's layers on the alias-free input
        first = generator.synthesis.specs[0]
        generator.synthesis.input = FourierInput(model.config.w_dim, first.channels, first.size,
                                                 first.sampling_rate, first.cutoff,
                                                 learned_pose=not args.fixed_pose)
    phase = next(p for p in model.phases() if p.name == "generator")
    if args.lr:
        phase.optimizer.lr = args.lr
    opt = phase.optimizer.build(list(generator.parameters()))
    z = model.prior(16)
    start = time.process_time()
    for _ in range(args.steps):
        loss = (generator(z, update_emas=args.track_magnitudes) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        crop = (..., slice(pad, pad + 28), slice(pad, pad + 28))
        out, tgt = generator(z)[crop], target[crop]
    print(f"{args.family} {options or ''}: MSE {(out - tgt).square().mean().item():.4f}, spread across z "
          f"{(out.std(0).mean() / tgt.std(0).mean()).item():.2f} of the targets', "
          f"{time.process_time() - start:.0f} CPU-s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="rung", required=True)
    s = sub.add_parser("small")
    s.add_argument("--input", choices=("const", "fc"), default="const")
    s.add_argument("--plain", action="store_true", help="equalised-lr convs without modulation")
    s.add_argument("--tanh", action="store_true")
    s.add_argument("--lr", type=float)
    s.add_argument("--steps", type=int, default=400)
    r = sub.add_parser("real")
    r.add_argument("family")
    r.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE")
    r.add_argument("--fourier-input", action="store_true", help="alias_free_baseline: the Fourier-feature input")
    r.add_argument("--fixed-pose", action="store_true", help="with --fourier-input: w does not move the input")
    r.add_argument("--lr", type=float)
    r.add_argument("--steps", type=int, default=150)
    r.add_argument("--track-magnitudes", action="store_true",
                   help="move the magnitude and w EMAs in the training forward, as the GAN's D phase does")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    (small if args.rung == "small" else real)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
