"""Figures for an autoregressive checkpoint (NADE, PixelCNN, PixelRNN): samples,
completions of the top half of test digits, and per-pixel likelihood maps.

    python tools/ar_figures.py nade-mnist --out docs/models/figures/nade
    python tools/ar_figures.py runs/pixelcnn/latest.pt --out /tmp/pcnn --n 36

Writes <out>-samples.png, <out>-completions.png (column 1: the test digit, its
given rows framed; then completions), <out>-pixel-nll.png (digits over their
-log p(x_ij | x_<ij) maps, nats) and prints the test NLL of the digits shown.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from genlab.data import load_dataset  # noqa: E402
from genlab.grids import save_grid  # noqa: E402
from genlab.registry import load  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="path prefix of the PNG files")
    p.add_argument("--n", type=int, default=64, help="samples in the grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--rows", type=int, default=14, help="given rows for the completions")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load(args.checkpoint)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gen = lambda: torch.Generator().manual_seed(args.seed)  # noqa: E731

    samples = model.sample(args.n, gen(), temperature=args.temperature)
    save_grid(samples, f"{out}-samples.png", scale=3)

    test = load_dataset(model.data_spec.name, "test")
    digits = test.images[:6]  # (6, 1, 28, 28)
    k = 5
    comp = model.sample(6 * k, gen(), given=digits.repeat_interleave(k, 0), given_rows=args.rows)
    shown = digits.clone()
    shown[:, :, args.rows:] = shown[:, :, args.rows:] * 0.35 - 0.65  # dim what the model does not see
    grid = torch.cat([shown[:, None], comp.view(6, k, *comp.shape[1:])], 1).flatten(0, 1)
    save_grid(grid, f"{out}-completions.png", nrow=k + 1, scale=3)

    with torch.no_grad():
        nll = -model.pixel_log_prob(digits)  # (6, H, W) nats
    fig, axes = plt.subplots(2, 6, figsize=(13, 5.2))
    vmax = max(1.0, float(nll.flatten().quantile(0.995)))  # a few pixels cost far more; keep the rest visible
    for i in range(6):
        axes[0, i].imshow(digits[i, 0], cmap="gray", vmin=-1, vmax=1)
        axes[0, i].set_title(f"{float(nll[i].sum()):.1f} nats", fontsize=9)
        im = axes[1, i].imshow(nll[i], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
        for a in axes[:, i]:
            a.axis("off")
    fig.colorbar(im, ax=axes[1].tolist(), shrink=0.9, extend="max", label="-log p(x_ij | x_<ij), nats")
    fig.suptitle(f"{model.family}: per-pixel NLL of test digits (raster order)")
    fig.savefig(f"{out}-pixel-nll.png", dpi=80, bbox_inches="tight")
    per_image = nll.flatten(1).sum(1)
    print(f"NLL of the 6 digits shown: {per_image.mean():.2f} nats "
          f"({per_image.mean() / (784 * math.log(2)):.4f} bits/dim)")
    print(f"wrote {out}-samples.png, {out}-completions.png, {out}-pixel-nll.png")


if __name__ == "__main__":
    main()
