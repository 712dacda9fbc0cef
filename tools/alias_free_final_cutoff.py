"""A trained alias-free generator re-scored with other `final_cutoff` values, with no training:
what moving its last layers' stopband to Nyquist does to FID, readable share and EQ-T
(docs/models/alias_free.md, "Stop 29").

    python tools/alias_free_final_cutoff.py alias_free-mnist 0 14.5 13 12.5 12 [--n 1000] [--seed 0]

The option shapes no weight (only the fixed resampling filters), so the file's weights fit every
value; each row is `genlab.metrics.evaluate` on the model rebuilt with it.
"""
from __future__ import annotations

import argparse
import dataclasses

import torch

from genlab.metrics import evaluate
from genlab.registry import load

COLUMNS = ("fid", "readable_share", "eqt_int_db", "eqt_frac_db", "eqt_frac_exact_db", "eqt_frac_ceiling_db", "eqr_db")


def with_final_cutoff(model, final_cutoff: float):
    """The same weights in a model built with `final_cutoff`."""
    rebuilt = type(model)(dataclasses.replace(model.config, final_cutoff=final_cutoff), model.data_spec)
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a shipped name or checkpoint file of family alias_free")
    parser.add_argument("cutoffs", nargs="+", type=float, help="final_cutoff values (0: the paper's critical sampling)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load(args.checkpoint)
    if model.family != "alias_free":
        raise SystemExit(f"{args.checkpoint} is a {model.family} model; final_cutoff is an option of alias_free")
    print("| final_cutoff | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for cutoff in args.cutoffs:
        got = evaluate(with_final_cutoff(model, cutoff), n=args.n, seed=args.seed)
        cells = [got.get(k, got.get(f"alias_free_{k}")) for k in COLUMNS]
        print(f"| {cutoff:g} | " + " | ".join("" if v is None else f"{v:.3f}" if k == "readable_share" else f"{v:.1f}"
                                             for k, v in zip(COLUMNS, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
