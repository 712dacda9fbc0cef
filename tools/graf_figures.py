"""Figures of the GRAF model card (docs/models/graf.md) from a checkpoint, on the CPU:

    python tools/graf_figures.py checkpoints/graf-shapes.pt docs/models/figures

samples at random cameras beside real renders, colour | depth | opacity of a few codes, an orbit
(GIF, and a strip of 8 azimuths), shape and appearance swapped between codes, and two pixels'
rays (genlab.plots.rays: density and weights along each)."""
import argparse
from pathlib import Path

import torch

from genlab.data import load_dataset
from genlab.grids import save_gif, save_grid
from genlab.plots import rays
from genlab.registry import load

torch.set_num_threads(2)
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("checkpoint")
ap.add_argument("out", type=Path, help="folder for the figures")
args = ap.parse_args()
ckpt, out = args.checkpoint, args.out
out.mkdir(parents=True, exist_ok=True)
m = load(ckpt)
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    save_grid(m.sample(64, generator=g), out / "graf_samples.png", scale=3)
    real = load_dataset(m.data_spec.name, "test").images[:64]
    save_grid(real, out / "graf_real.png", scale=3)
    z = m.prior(8, torch.Generator().manual_seed(1))
    r = m.render(z, azimuth=45.0)
    rows = torch.cat([r["colour"], m.depth_image(r), (r["opacity"] * 2 - 1).expand(-1, 3, -1, -1)])
    save_grid(rows, out / "graf_colour_depth_opacity.png", nrow=8, scale=3)
    views = [m.render(z, azimuth=a)["colour"] for a in range(0, 360, 45)]
    save_grid(torch.stack(views, 1).flatten(0, 1), out / "graf_orbit.png", nrow=8, scale=3)
    frames = [m.render(z, azimuth=float(a))["colour"] for a in range(0, 360, 15)]
    save_gif(frames, out / "graf_orbit.gif", scale=3, bounce=False)
    ds = m.config.shape_dim
    zs = z[:4]
    grid = [m.render(torch.cat([zs[i:i + 1, :ds], zs[j:j + 1, ds:]], 1), azimuth=45.0)["colour"]
            for i in range(4) for j in range(4)]  # row: shape of code i, column: appearance of code j
    save_grid(torch.cat(grid), out / "graf_shape_x_appearance.png", nrow=4, scale=3)
rays(m, seed=0).savefig(out / "graf_rays.png")
print("wrote", *sorted(p.name for p in out.glob("graf_*")))
