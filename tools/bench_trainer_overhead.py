"""How much does genlab's trainer cost over a minimal hand-written loop?

Same DCGAN, same batch size, same data on the same device; the two are run
alternately (A B A B ...) so machine noise hits both alike. Reports images/s
of each and the overhead ratio (goal: under 3%).

    python tools/bench_trainer_overhead.py                # CPU
    python tools/bench_trainer_overhead.py --device cuda   # GPU, bf16 autocast
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch

from genlab.data import load_dataset
from genlab.nn import gan_losses
from genlab.registry import build
from genlab.training import make_recipe
from genlab.training.devices import autocast_dtype
from genlab.training.trainer import Trainer


def hand_loop(steps: int, batch_size: int, device: torch.device, precision: str) -> float:
    """The loop a careful person writes by hand: in-memory data, two Adam optimisers."""
    torch.manual_seed(0)
    data = load_dataset("mnist", "train")
    images = data.images.to(device)
    model = build("dcgan", None, data.spec).to(device).train()
    G, D = model.generator, model.discriminator
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    dtype = autocast_dtype(precision, device)
    gen = torch.Generator().manual_seed(0)
    perm, pos = torch.randperm(len(images), generator=gen), 0

    def run(n):
        nonlocal perm, pos
        for _ in range(n):
            if pos + batch_size > len(perm):
                perm, pos = torch.randperm(len(images), generator=gen), 0
            real = images[perm[pos:pos + batch_size].to(device)]
            pos += batch_size
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                with torch.no_grad():
                    fake = G(torch.randn(batch_size, 100, device=device))
                loss_d = gan_losses.discriminator_loss(D(real), D(fake))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            D.requires_grad_(False)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss_g = gan_losses.generator_loss(D(G(torch.randn(batch_size, 100, device=device))))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)

    run(5)  # warm-up
    _sync(device)
    t = time.perf_counter()
    run(steps)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - t)


def trainer_loop(steps: int, batch_size: int | None, device: torch.device, precision: str | None,
                 family: str = "dcgan", config: str | None = None, warmup: int = 5, extra=()) -> float:
    """Images/s of `steps` steps through the trainer after `warmup` untimed ones: DCGAN's defaults,
    or another family or recipe file (batch_size, precision None: the recipe's; `extra`: more overrides).
    An image is one row of the batch (a translation batch holds batch_size images of every domain)."""
    with tempfile.TemporaryDirectory() as out:
        overrides = [f'device="{device}"', "log_every=100", f"checkpoint_every={10 ** 9}", f"sample_every={10 ** 9}",
                     *([f"batch_size={batch_size}"] if batch_size else []),
                     *([f'precision="{precision}"'] if precision else []), *extra]
        recipe = make_recipe(None if config else family, config=config, steps=warmup, overrides=overrides)
        trainer = Trainer(recipe, out, progress=False)
        trainer.save_samples = lambda bar=None: None  # no sample grids (an autoregressive one takes long)
        trainer.fit()  # warm-up (and the final checkpoint write, outside the timing)
        images = len(next(trainer.batches)["image"])
        trainer.tc.steps = warmup + steps
        # Time the loop itself: what every step pays. The one checkpoint at the end is excluded.
        trainer.save = lambda: None
        _sync(device)
        t = time.perf_counter()
        trainer.fit()
        _sync(device)
        return steps * images / (time.perf_counter() - t)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    hand, ours = [], []
    for _ in range(args.repeats):
        hand.append(hand_loop(args.steps, args.batch_size, device, args.precision))
        ours.append(trainer_loop(args.steps, args.batch_size, device, args.precision))
    ratios = [h / o - 1 for h, o in zip(hand, ours)]
    result = {"device": str(device), "precision": args.precision, "threads": torch.get_num_threads(),
              "batch_size": args.batch_size, "steps": args.steps, "repeats": args.repeats,
              "hand_images_per_s": statistics.median(hand), "trainer_images_per_s": statistics.median(ours),
              "overhead_median": statistics.median(ratios), "overhead_each": ratios}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
