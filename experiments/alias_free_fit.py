"""How fast can a generator *fit* digits? Regress G(z_i) onto 32 fixed digits by mean squared
error (no discriminator), a capacity-per-CPU-second probe for the alias-free generator and its
baseline (docs/models/alias_free.md, "Batch size, and what the input is not").

    python experiments/alias_free_fit.py 200 'alias_free:{}' 'alias_free:{"first_cutoff": 4}' \\
        'alias_free:{"fourier_features": 128}' 'alias_free_baseline:{}'

Each argument after the step count is FAMILY:JSON-OPTIONS; prints the loss every 50 steps and the
CPU seconds per step (one thread, batch 32, Adam lr 2e-3, betas 0 / 0.99 as the recipes).
"""
from __future__ import annotations

import json
import sys
import time

import torch

from genlab.data import load_dataset
from genlab.registry import build, make_config


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    data = load_dataset("mnist-pad32", "train")
    target = data.images[:32]
    steps = int(argv[0])
    for text in argv[1:]:
        family, _, options = text.partition(":")
        options = json.loads(options or "{}")
        torch.manual_seed(0)
        generator = build(family, make_config(family, options), data.spec).generator
        z = torch.randn(32, options.get("latent_dim", 64))
        opt = torch.optim.Adam(generator.parameters(), lr=2e-3, betas=(0.0, 0.99))
        start, losses = time.process_time(), []
        for i in range(steps):
            loss = (generator(z, update_emas=True) - target).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i % 50 == 49:
                losses.append(round(loss.item(), 4))
        print(f"{text}: loss every 50 steps {losses}, {(time.process_time() - start) / steps:.3f} CPU-s/step",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
