"""What did an InfoGAN's codes learn? Code accuracy and a code grid.

    python experiments/infogan_codes.py checkpoints/infogan-mnist.pt --grid docs/models/infogan_codes.png

The categorical code c1 is read as an unsupervised digit classifier (paper §6:
"5% error" on MNIST). Codes carry no labels, so each code is matched to one
digit by the best one-to-one assignment (Hungarian algorithm on the
code x digit count matrix, scipy's linear_sum_assignment):

- generated: G(z, c1 = k) for n draws per code, classified by genlab's shipped
  MNIST classifier; accuracy = share of samples whose digit is their code's match;
- real: Q's argmax on the 1,000 embedded test digits against their true labels,
  (a) matched on those labels (the usual clustering accuracy) and (b) with the
  matching learnt from the generated digits alone, so no label is used at all.

A many-to-one "purity" (each code takes its majority digit) is printed too: when
it is much higher than the one-to-one accuracy, two digits share a code (InfoGAN
often merges 4/9 or 3/5) and some code holds the leftovers.

Continuous codes: the Pearson correlation of each code's value with two image
moments of the generated digit, slant (mu11 / mu02, the shear of the ink) and
width (the horizontal standard deviation of the ink once the slant is undone),
measured on random digits and noise with c in [-1, 1]. The grid has one row per
categorical code (ordered by matched digit) and columns c = -2 .. 2 (the middle
five are the training range), one panel per continuous code, with one fixed
noise vector, so only the codes change.

`--store` writes the figures into the checkpoint's metrics (rewritten atomically).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from genlab.data import load_dataset
from genlab.gallery import make_grid, to_pil
from genlab.metrics.classifier import classify
from genlab.registry import load


def match_codes(counts: np.ndarray) -> tuple[np.ndarray, float]:
    """counts (codes, classes) -> (class matched to each code, one-to-one accuracy)."""
    codes, classes = linear_sum_assignment(-counts)  # maximise the matched counts
    mapping = np.full(counts.shape[0], -1)
    mapping[codes] = classes
    return mapping, counts[codes, classes].sum() / counts.sum()


def confusion(codes: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    counts = np.zeros((k, 10), dtype=np.int64)
    np.add.at(counts, (codes, labels), 1)
    return counts


def purity(counts: np.ndarray) -> float:
    return counts.max(1).sum() / counts.sum()


@torch.no_grad()
def generated_counts(model, n_per_code: int, seed: int) -> np.ndarray:
    k = model.config.categories
    codes = torch.arange(k).repeat_interleave(n_per_code)  # (k * n,)
    images = torch.cat([model.sample(len(chunk), generator=torch.Generator().manual_seed(seed + i), digit_code=chunk)
                        for i, chunk in enumerate(codes.split(500))])
    _, probs = classify(images)
    return confusion(codes.numpy(), probs.argmax(1).numpy(), k)


@torch.no_grad()
def real_counts(model) -> np.ndarray:
    data = load_dataset("mnist", "test")
    codes = torch.cat([model.infer_codes(x)["digit_code"].argmax(1).cpu() for x in data.images.split(500)])
    return confusion(codes.numpy(), data.labels.numpy(), model.config.categories)


def moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(slant, width) of each digit from its ink's second moments (x to the right, y down)."""
    w = (images[:, 0].double() + 1) / 2  # (N, H, W) ink in [0, 1]
    h, wd = w.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=w.dtype), torch.arange(wd, dtype=w.dtype), indexing="ij")
    mass = w.sum((1, 2)).clamp_min(1e-6)
    mx, my = (w * xs).sum((1, 2)) / mass, (w * ys).sum((1, 2)) / mass
    dx, dy = xs - mx[:, None, None], ys - my[:, None, None]
    mu20, mu02, mu11 = ((w * dx * dx).sum((1, 2)) / mass, (w * dy * dy).sum((1, 2)) / mass,
                        (w * dx * dy).sum((1, 2)) / mass)
    slant = -mu11 / mu02  # > 0 leans right (top to the right): x shift per pixel of height
    # Width after undoing the slant (x's spread left once its linear trend in y is removed),
    # so that a slanted stroke does not count as a wide one.
    width = (mu20 - mu11 ** 2 / mu02).clamp_min(0).sqrt()
    return slant, width


@torch.no_grad()
def continuous_effects(model, n: int, seed: int) -> dict:
    """Pearson r of each continuous code with slant and width of G's digits."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for i in range(model.config.continuous):
        values = torch.rand(n, generator=gen) * 2 - 1  # U(-1, 1), the training range
        images = model.sample(n, generator=gen, **{f"code_{i + 1}": values})
        for name, attr in zip(("slant", "width"), moments(images)):
            r = np.corrcoef(values.numpy(), attr.numpy())[0, 1]
            out[f"code_{i + 1}_r_{name}"] = round(float(r), 3)
    return out


@torch.no_grad()
def code_grid(model, order: np.ndarray, path: Path, steps: int = 9, seed: int = 0) -> Path:
    """Rows: categorical codes in `order`; columns: one continuous code from -2 to 2; a panel per code."""
    k, c = model.config.categories, model.config.continuous
    z = model.prior(1, generator=torch.Generator().manual_seed(seed)).repeat(k * steps, 1)  # one noise for all
    values = torch.linspace(-2, 2, steps)
    panels = []
    for i in range(c):
        controls = {"digit_code": torch.as_tensor(order).repeat_interleave(steps),
                    f"code_{i + 1}": values.repeat(k)}
        controls.update({f"code_{j + 1}": 0.0 for j in range(c) if j != i})  # the other codes at 0
        panels.append(make_grid(model.decode(z, **controls).float().clamp(-1, 1).cpu(), nrow=steps))
    gap = np.full((panels[0].shape[0], 12), 128, dtype=np.uint8)  # a grey bar between panels
    picture = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(picture, scale=2).save(path)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--n-per-code", type=int, default=1000, help="generated digits per categorical code")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", type=Path, help="write the code grid PNG here")
    p.add_argument("--store", action="store_true", help="add the figures to the checkpoint's metrics")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    model = load(args.checkpoint)
    if model.family != "infogan":
        p.error(f"{args.checkpoint} holds a {model.family} model, not an InfoGAN")

    gen = generated_counts(model, args.n_per_code, args.seed)
    mapping, gen_acc = match_codes(gen)
    real = real_counts(model)
    _, real_acc = match_codes(real)
    label_free = real[np.arange(len(mapping)), mapping].sum() / real.sum()  # generated-digit matching
    figures = {"code_accuracy_generated": round(float(gen_acc), 4),
               "code_purity_generated": round(float(purity(gen)), 4),
               "code_accuracy_real": round(float(real_acc), 4),
               "code_accuracy_real_label_free": round(float(label_free), 4),
               "code_purity_real": round(float(purity(real)), 4),
               "code_to_digit": [int(d) for d in mapping],
               **continuous_effects(model, 2000, args.seed)}

    print(f"{args.checkpoint}: categorical code as a digit classifier (one-to-one matching)")
    print(f"  generated digits   accuracy {gen_acc:.3f}  (purity {purity(gen):.3f})")
    print(f"  real test digits   accuracy {real_acc:.3f}  (paper: 0.95; purity {purity(real):.3f}; "
          f"label-free matching {label_free:.3f})")
    print("  code -> digit      " + "  ".join(f"{k}->{d}" for k, d in enumerate(mapping)))
    print("  generated counts (rows: codes, columns: classifier's digit 0..9)")
    for k, row in enumerate(gen):
        print(f"    code {k}: " + " ".join(f"{v:4d}" for v in row))
    print("  continuous codes, Pearson r with the image moments:")
    for k, v in figures.items():
        if "_r_" in k:
            print(f"    {k:20s} {v:+.3f}")
    if args.grid:
        print(f"  grid: {code_grid(model, np.argsort(mapping), args.grid, seed=args.seed)}")
    if args.store:
        from genlab.checkpoint import load_checkpoint, save_checkpoint

        state = load_checkpoint(args.checkpoint)
        state["metrics"] = {**state.get("metrics", {}), **figures}
        save_checkpoint(state, args.checkpoint)
        print(f"  stored in {args.checkpoint}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
