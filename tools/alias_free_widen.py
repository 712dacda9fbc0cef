"""A trained alias-free (or baseline) generator with more channels, drawing the same images: the
file a wider run warm-starts from (`init_from`), so that extra capacity need not be trained from
step 0 (docs/models/alias_free.md, "Stop 35").

    python tools/alias_free_widen.py alias_free-mnist --factor 2 --out /root/genlab-runs/af-wide2.pt

Every synthesis layer gets `factor` times the channels (channel_base and channel_max scaled; see
genlab.models.alias_free.widened for how the old images are kept exactly). The file holds the
generator (its EMA weights where the source has them) and the discriminator in fp32, and no
optimiser state: a run started from it begins with fresh Adam moments, as any warm start.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from genlab.checkpoint import load_checkpoint, save_checkpoint, slim_for_release
from genlab.models.alias_free import widened
from genlab.registry import load, resolve_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a shipped name or checkpoint file of family alias_free(_baseline)")
    parser.add_argument("--factor", type=int, default=2, help="channel multiplier (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' fresh weights")
    parser.add_argument("--out", required=True, help="the widened checkpoint to write")
    args = parser.parse_args(argv)
    if args.factor < 1:
        parser.error(f"--factor must be a whole number >= 1; got {args.factor}")
    model = load(args.checkpoint)  # the EMA generator where the file has one
    if model.family not in ("alias_free", "alias_free_baseline"):
        print(f"{args.checkpoint} is a {model.family} model; this tool widens alias_free(_baseline) generators",
              file=sys.stderr)
        return 2
    wide = widened(model, args.factor, seed=args.seed)
    path = resolve_checkpoint(args.checkpoint)
    state = slim_for_release(load_checkpoint(path), half=False)
    state.pop("released_fp16", None)
    state["model"] = {k: v.float() if v.is_floating_point() else v for k, v in wide.state_dict().items()}
    state["config"] = dataclasses.asdict(wide.config)
    state["widened_from"] = {"path": str(path), "factor": args.factor, "seed": args.seed}
    save_checkpoint(state, args.out)
    before = sum(p.numel() for p in model.generator.parameters())
    after = sum(p.numel() for p in wide.generator.parameters())
    print(f"wrote {args.out}: generator {before:,} -> {after:,} parameters, channels "
          f"{[layer.cout for layer in model.generator.synthesis.layers]} -> "
          f"{[layer.cout for layer in wide.generator.synthesis.layers]}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
