"""How far the channels a widening added have joined a generator (docs/models/alias_free.md, stops
35-36): per synthesis layer, the RMS of the effective weights from the new input channels into the
old output channels (what carries the new channels into the old image path; 0 right after
`tools/alias_free_widen.py`), beside the RMS of the old-into-old weights.

    python tools/alias_free_new_channels.py alias_free-mnist --narrow 512/32
    python tools/alias_free_new_channels.py runs/af-leg8/latest.pt [--raw]   # a file that marks its narrow net
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from genlab.registry import load


def new_into_old(model, narrow: tuple[int, int]) -> list[tuple[int, float, float]]:
    """(layer, RMS of new-into-old weights, RMS of old-into-old weights) of each layer with new inputs."""
    probe = type(model)(dataclasses.replace(model.config, narrow_channels="/".join(map(str, narrow)),
                                            new_channel_lr_mul=2.0), model.data_spec)  # for its block sizes only
    rows = []
    for i, (layer, marked) in enumerate(zip(model.generator.synthesis.layers, probe.generator.synthesis.layers)):
        weight = (layer.weight if layer.weight_lr_gain is None else layer.weight * layer.weight_lr_gain).detach()
        cout, cin = marked.narrow_cout, marked.narrow_cin
        if cin == weight.shape[1]:
            continue
        rows.append((i, float(weight[:cout, cin:].square().mean().sqrt()),
                     float(weight[:cout, :cin].square().mean().sqrt())))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a shipped name or checkpoint file of family alias_free(_baseline)")
    parser.add_argument("--narrow", default="", help="'channel_base/channel_max' of the narrow net (default: the "
                                                     "file's narrow_channels option)")
    parser.add_argument("--raw", action="store_true", help="the trained weights, not their EMA (where the file has both)")
    args = parser.parse_args(argv)
    model = load(args.checkpoint, use_ema=not args.raw)
    if model.family not in ("alias_free", "alias_free_baseline"):
        parser.error(f"{args.checkpoint} is a {model.family} model; this tool reads alias_free(_baseline) generators")
    text = args.narrow or model.config.narrow_channels
    if not text:
        parser.error("the file marks no narrow net: name it with --narrow channel_base/channel_max")
    try:
        narrow = dataclasses.replace(model.config, narrow_channels=text).narrow_sizes()
    except ValueError as e:
        parser.error(str(e))
    print("| layer | RMS new -> old | RMS old -> old |\n|---|---|---|")
    with torch.no_grad():
        for i, new, old in new_into_old(model, narrow):
            print(f"| {i} | {new:.4f} | {old:.3f} |")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
