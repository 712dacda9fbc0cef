"""What did an InfoGAN's codes learn? Code accuracy and a code grid.

    python tools/infogan_codes.py checkpoints/infogan-mnist.pt --grid docs/models/infogan_codes.png

The figures (categorical code c1 as an unsupervised digit classifier, matched
one-to-one to digits on generated and on real test digits, purity, and the
continuous codes' correlations with slant and width) are computed by
`genlab.metrics.codes`, the same code `python -m genlab eval` runs through
`InfoGAN.extra_metrics`; this script prints them in detail and draws the code grid.
The grid has one row per categorical code (ordered by matched digit) and columns
c = -2 .. 2 (the middle five are the training range), one panel per continuous
code, with one fixed noise vector, so only the codes change.

`--store` writes the figures into the checkpoint's metrics (rewritten atomically; a shipped
checkpoint's sha256 is recorded anew in its folder's MANIFEST.json). Among them is
`code_digits`, each code's matched digit and the share of its samples read as it, which the
app shows as the labels of `digit_code` ("3 → draws 7 (94%)").
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from genlab.grids import make_grid, to_pil
from genlab.metrics.codes import code_digits, code_report, purity
from genlab.registry import load


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

    report = code_report(model, args.n_per_code, 2000, args.seed)
    gen, real, mapping = report.generated, report.real, report.mapping
    gen_acc, real_acc, label_free = report.accuracy_generated, report.accuracy_real, report.accuracy_real_label_free
    figures = report.figures()

    print(f"{args.checkpoint}: categorical code as a digit classifier (one-to-one matching)")
    print(f"  generated digits   accuracy {gen_acc:.3f}  (purity {purity(gen):.3f})")
    print(f"  real test digits   accuracy {real_acc:.3f}  (paper: 0.95; purity {purity(real):.3f}; "
          f"label-free matching {label_free:.3f})")
    print("  code -> digit      " + "  ".join(f"{k}->{d} ({s:.0%})" for k, (d, s) in
                                                enumerate(code_digits(gen, mapping))))
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
        from genlab.manifest import read_manifest, record

        state = load_checkpoint(args.checkpoint)
        state["metrics"] = {**state.get("metrics", {}), **figures}
        path = save_checkpoint(state, args.checkpoint)
        if read_manifest(path.parent) is not None:  # a shipped folder: its new sha256, or loading refuses it
            record(path)
        print(f"  stored in {args.checkpoint}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
