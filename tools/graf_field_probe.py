"""Can GRAF's radiance field draw boxes with flat faces at all? (issue 27)

The GAN's samples keep rounded boxes after every recipe tried. This probe takes the GAN out:
shapes3d scenes (the renderer's exact SDFs), each rendered from `--views` random training
cameras, are fitted by plain regression (NeRF's photometric loss, rays through pixel centres,
the recipe's renderer: stratified + importance samples, clipped rays) with a field of a given
width, depth and positional-encoding octaves L; each scene has a latent code of its own, learnt
with the field. Held-out cameras then say whether the field can hold the shapes: PSNR, and the
sharpness of the fit against the real render (mean |Laplacian| of the colour; real = 1.0). If
the recipe's field fits sharp boxes here, the GAN's training is what rounds them; if it cannot,
the field is.

    python tools/graf_field_probe.py --out /tmp/graf_field_probe.png             # one box
    python tools/graf_field_probe.py --kinds box box box box torus cone cylinder combination \
        --fields 128x4xL5 --views 50 --steps 3000
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from genlab.data.shapes3d import CAMERA, CLASSES, random_scenes, render_scenes, shapes3d
from genlab.nn.rays import camera_rays
from genlab.registry import build, make_config

RECIPE = dict(shape_dim=64, appearance_dim=64, dir_freqs=4, samples=12, importance=12, clip_rays=True)


def scenes(kinds: list[str], seed: int = 11) -> torch.Tensor:
    """Scenes of the given classes, in order, from the scenes drawn with `seed` (params (N, 2, 11))."""
    labels, params, _ = random_scenes(2000, seed)
    taken, picked = set(), []
    for kind in kinds:
        i = next(int(i) for i in np.flatnonzero(labels == CLASSES.index(kind)) if int(i) not in taken)
        taken.add(i)
        picked.append(i)
    return torch.from_numpy(params[picked])


def cameras(n: int, seed: int) -> torch.Tensor:
    g = np.random.default_rng(seed)
    lo, hi = CAMERA.elevation
    return torch.tensor(np.stack([g.uniform(0, 360, n), g.uniform(lo, hi, n), np.full(n, CAMERA.radius[0])], 1),
                        dtype=torch.float32)


def laplacian_energy(images: torch.Tensor) -> float:
    """Mean |Laplacian| of images (N, 3, H, W) in [-1, 1]: a sharpness figure."""
    k = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=images.dtype).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return F.conv2d(images, k, groups=3).abs().mean().item()


def fit(field_spec: str, params: torch.Tensor, views: int, steps: int, rays: int, size: int, seed: int):
    """Fit one field to every scene in `params`, each with a latent code of its own that is learnt
    with the field (an auto-decoder: the field must hold all the shapes, told apart by their
    codes, as the GAN's must). Returns figures and (real, fit) renders of 8 held-out views."""
    width, depth, octaves = field_spec.split("x")
    cfg = make_config("graf", dict(RECIPE, width=int(width), depth=int(depth), pos_freqs=int(octaves.lstrip("L"))))
    model = build("graf", cfg, shapes3d("test").spec)
    torch.manual_seed(seed)
    n = len(params)
    codes = torch.nn.Parameter(torch.randn(n, model.latent_dim))
    train_poses = cameras(n * views, seed).view(n, views, 3)
    targets, origins, dirs = [], [], []
    for i in range(n):
        poses = train_poses[i]
        image = render_scenes(params[i:i + 1].expand(views, -1, -1), poses, size=size)["image"]
        targets.append(((image + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3))
        o, d = camera_rays(poses[:, 0], poses[:, 1], poses[:, 2], CAMERA.fov, size)
        origins.append(o.reshape(-1, 3))
        dirs.append(d.reshape(-1, 3))
    colour, o, d = torch.stack(targets), torch.stack(origins), torch.stack(dirs)  # (n, V*S*S, 3)
    per_scene = max(1, rays // min(n, 8))
    field = model.generator
    opt = torch.optim.Adam([{"params": field.parameters()}, {"params": [codes], "lr": 1e-2}], lr=5e-4)
    start = time.process_time()
    for step in range(steps):
        which = torch.randperm(n)[:8]
        pick = torch.randint(0, o.shape[1], (len(which), per_scene))
        rows = which[:, None]
        out = model.render_rays(o[rows, pick], d[rows, pick], codes[which],
                                torch.full((len(which),), CAMERA.radius[0]), perturb=True)
        loss = F.mse_loss(out["colour"], colour[rows, pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    cpu_s = time.process_time() - start
    shown = torch.arange(8) % n  # 8 held-out views: one per scene for the first 8 scenes
    test_poses = cameras(8, seed + 1000)
    real = render_scenes(params[shown], test_poses, size=size)["image"]
    with torch.no_grad():
        fake = model.render(codes[shown].detach(), test_poses[:, 0], test_poses[:, 1], test_poses[:, 2])["colour"]
    mse = F.mse_loss((fake + 1) / 2, (real + 1) / 2).item()
    return dict(field=field_spec, psnr=10 * np.log10(1 / mse), sharpness=laplacian_energy(fake) / laplacian_energy(real),
                train_loss=loss.item(), cpu_s=cpu_s), real, fake


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fields", nargs="+", default=["128x4xL5", "128x4xL8", "256x8xL5"],
                   help="WIDTHxDEPTHxL per field (the recipe's: 128x4xL5)")
    p.add_argument("--kinds", nargs="+", default=["box"], choices=CLASSES,
                   help="one scene of each class named, in order (repeat a class for several scenes of it)")
    p.add_argument("--views", type=int, default=100, help="training views per scene")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--rays", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="a PNG: real held-out views, then each field's fit")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    params = scenes(args.kinds)
    rows = []
    print(f"{' '.join(args.kinds)}: {args.views} training views each, {args.steps} steps of {args.rays} rays, "
          f"8 held-out views")
    print(f"{'field':>10} {'PSNR dB':>8} {'sharpness':>9} {'train mse':>9} {'CPU s':>6}")
    for spec in args.fields:
        figures, real, fake = fit(spec, params, args.views, args.steps, args.rays, 32, args.seed)
        print(f"{spec:>10} {figures['psnr']:8.2f} {figures['sharpness']:9.2f} {figures['train_loss']:9.5f} "
              f"{figures['cpu_s']:6.0f}", flush=True)
        rows.append(fake) if rows else rows.extend([real, fake])
    if args.out:
        from torchvision.utils import save_image

        grid = torch.cat(rows)
        save_image(F.interpolate((grid + 1) / 2, scale_factor=4, mode="nearest"), args.out, nrow=8, padding=2,
                   pad_value=1.0)
        print("wrote", args.out, "(rows: real, then", ", ".join(args.fields) + ")")


if __name__ == "__main__":
    main()
