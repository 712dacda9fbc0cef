"""How fast can a generator *fit* digits? Regress G(z_i) onto 32 fixed digits by mean squared
error (no discriminator), a capacity-per-CPU-second probe for the alias-free generator and its
baseline (docs/models/alias_free.md, "Batch size, and what the input is not").

    python tools/alias_free_fit.py 200 'alias_free:{}' 'alias_free:{"first_cutoff": 4}' \\
        'alias_free:{"fourier_features": 128}' 'alias_free_baseline:{}'

Each argument after the step count is FAMILY:JSON-OPTIONS; prints the loss every 50 steps and the
CPU seconds per step (one thread, batch 32, Adam lr 2e-3, betas 0 / 0.99 as the recipes).

With `--teacher NAME` the targets are a shipped generator's images of fresh latents every step
(the regression the `teacher` option adds to training, alone), and `--grid PNG` draws 16 of the
teacher's images above the generator's for the same latents:

    python tools/alias_free_fit.py 300 --teacher dcgan-mnist --grid runs/probe.png 'alias_free:{}'
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torchvision.utils import save_image

import genlab
from genlab.data import load_dataset
from genlab.registry import build, make_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", type=int)
    ap.add_argument("generators", nargs="+", metavar="FAMILY:JSON-OPTIONS")
    ap.add_argument("--teacher", help="regress onto this generator's images of fresh latents")
    ap.add_argument("--grid", help="with --teacher: a PNG of its images (top) and each generator's (below)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset("mnist-pad32", "train")
    fixed = data.images[:32]
    rows = []
    for text in args.generators:
        family, _, options = text.partition(":")
        options = json.loads(options or "{}")
        if args.teacher:
            options.setdefault("latent_dim", genlab.load(args.teacher).latent_dim)
            options["teacher"] = args.teacher
        torch.manual_seed(0)
        model = build(family, make_config(family, options), data.spec)
        generator = model.generator
        z = torch.randn(32, model.latent_dim)
        opt = torch.optim.Adam(generator.parameters(), lr=2e-3, betas=(0.0, 0.99))
        start, losses = time.process_time(), []
        for i in range(args.steps):
            if args.teacher:  # fresh latents and the teacher's images of them
                z = torch.randn(32, model.latent_dim)
            target = model.teacher_images(z) if args.teacher else fixed
            loss = (generator(z, update_emas=True) - target).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i % 50 == 49:
                losses.append(round(loss.item(), 4))
        print(f"{text}: loss every 50 steps {losses}, {(time.process_time() - start) / args.steps:.3f} CPU-s/step",
              flush=True)
        if args.teacher and args.grid:
            z = torch.randn(16, model.latent_dim, generator=torch.Generator().manual_seed(5))
            with torch.no_grad():
                if not rows:
                    rows.append(model.teacher_images(z))
                rows.append(generator(z).clamp(-1, 1))
    if rows:
        save_image(torch.cat(rows) * 0.5 + 0.5, args.grid, nrow=16)
        print("wrote", args.grid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
