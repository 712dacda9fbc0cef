"""Do the EMA weights deserve their own batch-norm statistics? Measured on shipped checkpoints.

Before the engine's second edition, EMA copied the live BatchNorm running statistics
instead of averaging them, so a shipped GAN sampled with EMA weights through the
statistics of the live weights. This script evaluates a checkpoint as shipped, then
with the generator's statistics re-estimated for the weights in use
(`recalibrate_batchnorm`: a cumulative average over fresh prior draws), and prints
both FIDs (genlab's protocol, n samples, the real-vs-real floor beside them).

    python experiments/ema_batchnorm.py dcgan-mnist infogan-mnist [--n 5000] [--device cuda]
    ... --write OUT.pt    also write the recalibrated checkpoint (fp16, figures stored)
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from genlab.checkpoint import load_checkpoint, save_checkpoint
from genlab.metrics import evaluate
from genlab.registry import load
from genlab.training.ema import recalibrate_batchnorm

KEYS = ("fid", "fid_floor", "precision", "recall", "class_coverage")


def recalibrated(model, batches: int, batch_size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    layers = recalibrate_batchnorm(model.generator, lambda: model.prior(batch_size, g).to(model.device), batches)
    return layers


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--write", help="write the recalibrated first checkpoint here")
    args = ap.parse_args(argv)
    report = {}
    for name in args.checkpoints:
        model = load(name, device=args.device)
        t = time.perf_counter()
        shipped = evaluate(model, n=args.n)
        layers = recalibrated(model, args.batches, args.batch_size, seed=7)
        fixed = evaluate(model, n=args.n)
        report[name] = {"batchnorm_layers": layers, "as_shipped": {k: shipped.get(k) for k in KEYS},
                        "recalibrated": {k: fixed.get(k) for k in KEYS},
                        "seconds": round(time.perf_counter() - t, 1)}
        print(f"{name}: FID as shipped {shipped['fid']:.2f}, BN recalibrated for the EMA weights "
              f"{fixed['fid']:.2f} (floor {shipped.get('fid_floor', float('nan')):.2f}; {layers} BN layers)")
        if args.write and name == args.checkpoints[0]:
            state = load_checkpoint(model.checkpoint["path"])
            weights = {k: v.to(state["model"][k].dtype).cpu() if k in state["model"] else v.cpu()
                       for k, v in model.state_dict().items()}
            state["model"] = weights
            state["metrics"] = {**state.get("metrics", {}), **fixed, "batchnorm_recalibrated": True}
            save_checkpoint(state, args.write)
            print(f"  wrote {args.write}")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
