"""The DDPM card's sampler table: FID (floor beside), class coverage and seconds per image for
each sampler and step count, and guided class accuracy at a few guidance scales.

    python tools/ddpm_figures.py ddpm-mnist --n 1000 --samplers ddim:10 ddim:20 ddim:50 ddim:100
    python tools/ddpm_figures.py ddpm-mnist --n 200 --samplers ddpm:1000 --guidance 1
    python tools/ddpm_figures.py runs/ddpm-mnist-cpu/latest.pt --n 1000 --guided 0 1 3

Every row samples n images from seed 0 with a random class per image (the app's default);
seconds per image are wall time of the sampling alone at `--batch`, with torch's thread count
printed. `--guided` adds, per scale, FID and the share of samples guided to labels 0..9 in turn
that genlab's classifier reads as their label.
"""
from __future__ import annotations

import argparse
import time

import torch

from genlab.metrics import sample_quality
from genlab.metrics.classifier import classify
from genlab.registry import load


def timed_samples(model, n: int, batch: int, labels: torch.Tensor | None = None, **controls):
    """(n samples, wall seconds per image); `labels` (n,) are sliced batch by batch."""
    gen = torch.Generator().manual_seed(0)
    start, out = time.perf_counter(), []
    with torch.inference_mode():
        for i in range(0, n, batch):
            m = min(batch, n - i)
            if labels is not None:
                controls["label"] = labels[i:i + m]
            out.append(model.sample(m, generator=gen, **controls).float().cpu())
    return torch.cat(out), (time.perf_counter() - start) / n


def row(name: str, images: torch.Tensor, seconds: float, labels: torch.Tensor | None = None) -> str:
    q = sample_quality(images)
    acc = ""
    if labels is not None:
        _, probs = classify(images)
        acc = f"{(probs.argmax(1) == labels).float().mean():.3f}"
    return (f"| {name} | {q['fid']:.2f} ({q['fid_floor']:.2f}) | {q['precision']:.2f} / {q['recall']:.2f} | "
            f"{q['class_coverage']:.1f} | {acc} | {seconds:.4f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--samplers", nargs="*", default=[], metavar="SAMPLER:STEPS", help="e.g. ddim:20 ddpm:1000")
    ap.add_argument("--guidance", type=float, default=None, help="for --samplers rows (default: the model's)")
    ap.add_argument("--guided", nargs="*", type=float, default=[], metavar="SCALE",
                    help="rows of samples guided to labels 0..9 in turn, default sampler")
    args = ap.parse_args(argv)
    model = load(args.checkpoint)
    print(f"{args.checkpoint}: step {model.checkpoint.get('step')}, n = {args.n}, batch {args.batch}, "
          f"{torch.get_num_threads()} torch threads")
    print("| sampler | FID (floor) | precision / recall | class coverage | guided accuracy | s / image |")
    print("|---|---|---|---|---|---|")
    extra = {} if args.guidance is None else {"guidance": args.guidance}
    for spec in args.samplers:
        sampler, _, steps = spec.partition(":")
        images, sec = timed_samples(model, args.n, args.batch, sampler=sampler, steps=int(steps), **extra)
        print(row(f"{sampler.upper()}-{steps}" + (f", guidance {args.guidance:g}" if extra else ""), images, sec),
              flush=True)
    labels = torch.arange(args.n) % 10
    for g in args.guided:
        images, sec = timed_samples(model, args.n, args.batch, labels=labels, guidance=g)
        print(row(f"default sampler, guidance {g:g}, labels 0..9 in turn", images, sec, labels), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
