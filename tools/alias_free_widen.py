"""A trained alias-free (or baseline) generator with more channels, drawing the same images: the
file a wider run warm-starts from (`init_from`), so that extra capacity need not be trained from
step 0 (docs/models/alias_free.md, "Stop 35").

    python tools/alias_free_widen.py alias_free-mnist --factor 2 --out /root/genlab-runs/af-wide2.pt
    python tools/alias_free_widen.py alias_free-mnist --factor 1 --narrow 512/32 --new-lr-mul 10 --out F.pt
    python tools/alias_free_widen.py alias_free-mnist --factor 1 --d-factor 2 --out F.pt

With --d-factor F the discriminator gets F times the channels (option d_width), its new channels
unread at first (genlab.models.alias_free.widened_discriminator); the tool prints how far that
moved D's logits on real digits (the minibatch-stddev map averages over the new channels too).

With --new-lr-mul K the channels the widening added (or, with --factor 1, those beyond the net
--narrow names, for a file widened before) learn at K times the rate
(genlab.models.alias_free.with_new_channel_rate; the images stay the same).

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
from genlab.models.alias_free import widened, widened_discriminator, with_new_channel_rate
from genlab.registry import load, resolve_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a shipped name or checkpoint file of family alias_free(_baseline)")
    parser.add_argument("--factor", type=int, default=2, help="channel multiplier (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' fresh weights")
    parser.add_argument("--new-lr-mul", type=float, default=1.0,
                        help="learning-rate multiplier of the added channels' weights (default 1: none)")
    parser.add_argument("--narrow", default="",
                        help="with --factor 1: 'channel_base/channel_max' of the net the file was widened from")
    parser.add_argument("--d-factor", type=int, default=1,
                        help="discriminator channel multiplier (default 1: D as it is)")
    parser.add_argument("--out", required=True, help="the widened checkpoint to write")
    args = parser.parse_args(argv)
    if args.factor < 1:
        parser.error(f"--factor must be a whole number >= 1; got {args.factor}")
    if args.d_factor < 1:
        parser.error(f"--d-factor must be a whole number >= 1; got {args.d_factor}")
    if not 1.0 <= args.new_lr_mul <= 100.0:
        parser.error(f"--new-lr-mul must lie in [1, 100]; got {args.new_lr_mul}")
    if args.factor == 1 and args.new_lr_mul != 1.0 and not args.narrow:
        parser.error("--factor 1 with --new-lr-mul needs --narrow: the channel_base/channel_max the file was widened from")
    if args.factor > 1 and args.narrow:
        parser.error("--narrow goes with --factor 1; a widening by --factor > 1 knows its narrow net")
    model = load(args.checkpoint)  # the EMA generator where the file has one
    if model.family not in ("alias_free", "alias_free_baseline"):
        print(f"{args.checkpoint} is a {model.family} model; this tool widens alias_free(_baseline) generators",
              file=sys.stderr)
        return 2
    try:
        if args.factor > 1:
            wide = widened(model, args.factor, seed=args.seed, new_lr_mul=args.new_lr_mul)
        else:
            narrow = dataclasses.replace(model.config, narrow_channels=args.narrow).narrow_sizes() if args.narrow else None
            wide = with_new_channel_rate(model, narrow, args.new_lr_mul) if narrow else model
        if args.d_factor > 1:
            wide = widened_discriminator(wide, args.d_factor, seed=args.seed)
    except ValueError as e:
        parser.error(str(e))
    path = resolve_checkpoint(args.checkpoint)
    state = slim_for_release(load_checkpoint(path), half=False)
    state.pop("released_fp16", None)
    state["model"] = {k: v.float() if v.is_floating_point() else v for k, v in wide.state_dict().items()}
    state["config"] = dataclasses.asdict(wide.config)
    state["widened_from"] = {"path": str(path), "factor": args.factor, "seed": args.seed,
                             "new_lr_mul": args.new_lr_mul, "narrow": wide.config.narrow_channels,
                             "d_factor": args.d_factor}
    save_checkpoint(state, args.out)
    before = sum(p.numel() for p in model.generator.parameters())
    after = sum(p.numel() for p in wide.generator.parameters())
    print(f"wrote {args.out}: generator {before:,} -> {after:,} parameters, channels "
          f"{[layer.cout for layer in model.generator.synthesis.layers]} -> "
          f"{[layer.cout for layer in wide.generator.synthesis.layers]}")
    if args.d_factor > 1:
        print(f"discriminator: d_width {model.config.d_width} -> {wide.config.d_width}, "
              f"{sum(p.numel() for p in model.discriminator.parameters()):,} -> "
              f"{sum(p.numel() for p in wide.discriminator.parameters()):,} parameters; "
              "logits on 256 real digits moved by {:.3f} (their spread: {:.3f})".format(*_logits_moved(model, wide)))
    return 0


@torch.no_grad()
def _logits_moved(model, wide, n: int = 256) -> tuple[float, float]:
    """(mean |change| of D's logits on n real training images, the spread of the old logits)."""
    from genlab.data import load_dataset  # noqa: PLC0415 (only this report needs the data)
    x = load_dataset(model.default_data, "train").images[:n]
    before = model.discriminator(x)
    return float((before - wide.discriminator(x)).abs().mean()), float(before.std())


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
