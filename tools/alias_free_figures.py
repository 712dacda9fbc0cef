"""Figures for the alias-free GAN against its ordinary baseline (docs/models/alias_free.md).

    python tools/alias_free_figures.py CKPT_ALIAS_FREE CKPT_BASELINE --out docs/models/figures

Writes, for the two generators side by side:

- ``alias_free_samples.png``: 32 samples each (seed 0), alias-free on the left;
- ``alias_free_translation_strip.png``: one latent per row pair, the output moved right by
  0, 0.25, ..., 2 px through the input (top row of each pair), and the same frames with the
  move undone by a Lanczos shift (bottom row: a perfectly equivariant generator gives the same
  image in every column), then |undone - first| x 4 beneath;
- ``alias_free_spectra.png``: the average power spectra (log10, zero frequency centred) of the
  samples and of the real test digits, and their radial profiles.

Checkpoints may be shipped names (alias_free-mnist) or run files (runs/.../latest.pt).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from genlab.grids import make_grid, save_grid
from genlab.metrics import equivariance as eq
from genlab.metrics.likelihood import test_images
from genlab.registry import load

SHIFTS = [0.25 * k for k in range(9)]


@torch.no_grad()
def translation_rows(model, z: torch.Tensor) -> list[torch.Tensor]:
    frames = torch.cat([model.decode(z, shift_x=s) for s in SHIFTS])  # (len(SHIFTS), C, H, W)
    undone = torch.cat([eq.undo_transform(f[None], (s, 0.0)) for f, s in zip(frames, SHIFTS)])
    diff = ((undone - undone[:1]).abs() * 4 - 1).clamp(-1, 1)
    return [frames, undone, diff]


@torch.no_grad()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("alias_free")
    p.add_argument("baseline")
    p.add_argument("--out", default="docs/models/figures")
    p.add_argument("--n", type=int, default=2000, help="samples for the spectra")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = {"alias-free": load(args.alias_free).eval(), "baseline": load(args.baseline).eval()}

    samples = [m.sample(32, generator=torch.Generator().manual_seed(0)) for m in models.values()]
    a, b = samples  # each row: 4 alias-free samples, then 4 baseline samples
    grid = torch.cat([torch.cat([a[i * 4:(i + 1) * 4], b[i * 4:(i + 1) * 4]]) for i in range(8)])
    save_grid(grid, out / "alias_free_samples.png", nrow=8, scale=3)

    rows = []
    z = next(iter(models.values())).prior(3, torch.Generator().manual_seed(1))
    for i in range(len(z)):
        for m in models.values():
            rows += translation_rows(m, z[i:i + 1])
    save_grid(torch.cat(rows), out / "alias_free_translation_strip.png", nrow=len(SHIFTS), scale=3)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    some = next(iter(models.values()))
    real, _ = test_images(some.data_spec)
    spectra = {"real digits": eq.power_spectrum(real)}
    for name, m in models.items():
        spectra[name] = eq.power_spectrum(torch.cat([m.sample(500, generator=torch.Generator().manual_seed(s))
                                                      for s in range(max(1, args.n // 500))]))
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for ax, (name, s) in zip(axes, spectra.items()):
        ax.imshow(np.log10(s + 1e-8), cmap="magma", vmin=-4, vmax=np.log10(spectra["real digits"].max()))
        ax.set_title(f"{name}: log10 power")
        ax.set_xticks([]), ax.set_yticks([])
    for name, s in spectra.items():
        axes[3].semilogy(eq.radial_profile(s), label=name)
    axes[3].set_xlabel("frequency (cycles per 32 px)")
    axes[3].set_title("radial average")
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(out / "alias_free_spectra.png", dpi=90)
    print("\n".join(str(out / f) for f in ("alias_free_samples.png", "alias_free_translation_strip.png",
                                           "alias_free_spectra.png")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
