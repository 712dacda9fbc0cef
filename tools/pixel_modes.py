"""Which image of p(x|z) to show: an autoencoder's mode, mean and pixel draws, scored three ways.

    python tools/pixel_modes.py vae-mnist --modes mode mean sample --n 1000

For each `pixels` value: genlab's FID (LeNet features) with precision / recall, and two checks
outside those features: the Frechet distance in raw pixel space (784-d Gaussians) and in the
features of a random, untrained conv net (fixed seed). A display that only one feature space
prefers is a metric artefact, not better samples. Reference: the test digits genlab's FID uses
(binarised for binary-data models).
"""
from __future__ import annotations

import argparse

import torch

import genlab
from genlab.metrics import _mnist_spec, sample_quality, test_images
from genlab.metrics.distances import frechet_distance, gaussian_stats


def random_conv_net(seed: int = 123) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 32, 5, 2), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 5, 2),
                               torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten()).eval()


@torch.no_grad()
def spaces(x: torch.Tensor, net: torch.nn.Module) -> dict:
    return {"pixel": gaussian_stats(x.flatten(1).double()), "random_conv": gaussian_stats(net(x.float()).double())}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a shipped name or a checkpoint path (vae or aae)")
    p.add_argument("--modes", nargs="+", default=["mode", "mean", "sample"])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    model = genlab.load(args.model)
    net = random_conv_net()
    reference = spaces(test_images(_mnist_spec(model.data_spec.binary))[0].float(), net)
    print("| pixels | LeNet FID | precision / recall | pixel-space FD | random-conv FD | grey share |")
    print("|---|---|---|---|---|---|")
    for mode in args.modes:
        g = torch.Generator().manual_seed(args.seed)
        x = torch.cat([model.sample(min(500, args.n - i), generator=g, pixels=mode) for i in range(0, args.n, 500)])
        q = sample_quality(x, seed=args.seed, binary=model.data_spec.binary)
        s = spaces(x, net)
        fd = {k: frechet_distance(*s[k], *reference[k]) for k in s}
        grey = ((x > -0.9) & (x < 0.9)).float().mean().item()
        print(f"| {mode} | {q['fid']:.1f} | {q['precision']:.2f} / {q['recall']:.2f} | {fd['pixel']:.1f} | "
              f"{fd['random_conv']:.3f} | {grey:.3f} |", flush=True)


if __name__ == "__main__":
    main()
