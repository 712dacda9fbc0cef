"""The translation grids of the model cards: test digits, their translations, the truth.

    python tools/translation_figures.py cyclegan-mnist --out docs/models/figures/cyclegan_translations.png
    python tools/translation_figures.py stargan-mnist --out docs/models/figures/stargan_translations.png

Two domains (CycleGAN): rows of test digits in A, G(A), the true B; then B, F(B), the true A.
More domains (StarGAN): for each digit (taken from domain 0), its translation into every domain,
and below it the true renderings, so a column compares translation and truth.
"""
from __future__ import annotations

import argparse

import torch

from genlab.gallery.sections import translation_rows
from genlab.grids import save_grid
from genlab.registry import load


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--digits", type=int, default=None, help="test digits shown (default 10 for 2 domains, 4 for more)")
    args = ap.parse_args(argv)
    model = load(args.checkpoint)
    digits = args.digits or (10 if model.data_spec.num_domains == 2 else 4)
    with torch.no_grad():
        images, per_row = translation_rows(model, digits)
    save_grid(images, args.out, nrow=per_row)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
