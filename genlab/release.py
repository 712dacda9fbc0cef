"""Turn a training run's checkpoint into a shipped one.

    python -m genlab.release runs/dcgan/latest.pt --name dcgan-mnist

Drops optimiser and RNG state, folds the EMA weights in, stores floating
weights as fp16, evaluates *the slimmed weights* (so the stored figures are
those of the file users get), writes checkpoints/<name>.pt atomically, records
its sha256 in checkpoints/MANIFEST.json and writes its card checkpoints/<name>.md.
"""
from __future__ import annotations

import argparse
import sys

from genlab.errors import GenlabError
from genlab.paths import CHECKPOINT_DIR
from genlab.registry import model_from_state
from genlab.checkpoint import load_checkpoint, save_checkpoint, slim_for_release
from genlab.manifest import record
from genlab.results import write_card


def release(path, name: str, n: int = 5000, seed: int = 0, half: bool = True, evaluate: bool = True,
            eval_kwargs: dict | None = None):
    state = load_checkpoint(path)
    slim = slim_for_release(state, half=half)
    if evaluate:
        from genlab.metrics import evaluate as run_eval

        model = model_from_state(slim).eval()
        model.checkpoint = {"path": str(path)}
        slim["metrics"] = run_eval(model, n=n, seed=seed, **(eval_kwargs or {}))
    out = save_checkpoint(slim, CHECKPOINT_DIR / f"{name}.pt")
    record(out)  # its sha256 in checkpoints/MANIFEST.json: loading checks it
    write_card(out)  # checkpoints/<name>.md
    return out, slim.get("metrics", {})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m genlab.release", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True, help="file stem under checkpoints/, e.g. dcgan-mnist")
    p.add_argument("--n", type=int, default=5000, help="samples for the stored evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights (when fp16 changes the figures)")
    p.add_argument("--no-eval", action="store_true")
    args = p.parse_args(argv)
    try:
        out, metrics = release(args.checkpoint, args.name, args.n, args.seed, half=not args.fp32,
                               evaluate=not args.no_eval)
    except GenlabError as e:
        print(f"genlab: error: {e}", file=sys.stderr)
        return 2
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({size:.2f} MB)")
    for k, v in metrics.items():
        if not isinstance(v, (dict, list)):
            print(f"  {k:28s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
