"""A GRAF field's figures at any resolution (docs/models/graf.md, stop 35): the share of rays that
are partly opaque (0.05 < opacity < 0.95) at 32 and 64 px, and the FID and SWD of n = 1,000
renders at 32 px against the shapes3d test renders, whatever size the field was trained at (a
field has no resolution of its own, so a 64 px run is scored on the shipped file's protocol).

    python tools/graf_field_scores.py graf-shapes runs/graf-opacity-w1/latest.pt [--seeds 0,1]
"""
from __future__ import annotations

import argparse

import torch

from genlab.checkpoint import load_checkpoint
from genlab.metrics.shapes3d_features import shapes_fid
from genlab.registry import model_from_state, resolve_checkpoint


def at_32px(path, supersample: int | None = None) -> torch.nn.Module:
    """The field of `path` rebuilt to render 32 px `shapes3d` images, with `supersample`^2 rays a
    pixel (None: the file's own)."""
    state = load_checkpoint(resolve_checkpoint(path))
    if state["family"] != "graf":
        raise SystemExit(f"{path} holds a {state['family']} model; this tool scores GRAF fields")
    state["data_spec"] = {**state["data_spec"], "name": "shapes3d", "height": 32, "width": 32}
    if supersample is not None:
        if supersample < 1:
            raise SystemExit(f"--supersample must be a whole number >= 1; got {supersample}")
        state["config"] = {**state["config"], "supersample": supersample}
    return model_from_state(state).eval()


@torch.no_grad()
def partly_opaque_share(model, size: int, n: int = 32, seed: int = 0) -> float:
    """Share of the rays of n renders at the default view with 0.05 < opacity < 0.95, one ray a
    pixel whatever the field's `supersample` (the fur of single rays, not anti-aliased edges)."""
    torch.manual_seed(seed)
    kept, model.config.supersample = model.config.supersample, 1
    try:
        a = model.render(model.prior(n), size=size)["opacity"]
    finally:
        model.config.supersample = kept
    return float(((a > 0.05) & (a < 0.95)).float().mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="shipped names or checkpoint files of family graf")
    parser.add_argument("--seeds", default="0", help="sample seeds of the FID, comma-separated")
    parser.add_argument("--supersample", type=int, default=None,
                        help="rays a pixel side in the FID's renders (default: the file's own option)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for path in args.checkpoints:
        model = at_32px(path, args.supersample)
        print(f"{path}: {model.config.supersample}^2 rays a pixel in the FID's renders")
        shares = {size: partly_opaque_share(model, size) for size in (32, 64)}
        print(f"{path}: rays partly opaque {shares[32]:.3f} at 32 px, {shares[64]:.3f} at 64 px")
        for seed in (int(s) for s in args.seeds.split(",")):
            r = shapes_fid(model, 1000, seed)
            print(f"  seed {seed}: FID {r['fid']:.1f} (floor {r['fid_floor']:.1f}), "
                  f"SWD mean {r['swd_mean']:.1f} (floor {r['swd_mean_floor']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
