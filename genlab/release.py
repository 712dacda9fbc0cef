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
from genlab.registry import get_family, model_from_state
from genlab.checkpoint import load_checkpoint, save_checkpoint, slim_for_release
from genlab.manifest import record
from genlab.results import write_card


def release(path, name: str, n: int = 5000, seed: int = 0, half: bool = True, evaluate: bool = True,
            eval_kwargs: dict | None = None, latent_mixture: int = 0):
    state = load_checkpoint(path)
    if latent_mixture:
        state = with_latent_mixture(state, latent_mixture)
    slim = slim_for_release(state, half=half, drop=get_family(state["family"]).training_only_modules)
    if evaluate:
        from genlab.metrics import evaluate as run_eval

        model = model_from_state(slim).eval()
        model.checkpoint = {"path": str(path)}
        slim["metrics"] = run_eval(model, n=n, seed=seed, **(eval_kwargs or {}))
    out = save_checkpoint(slim, CHECKPOINT_DIR / f"{name}.pt")
    record(out)  # its sha256 in checkpoints/MANIFEST.json: loading checks it
    write_card(out)  # checkpoints/<name>.md
    return out, slim.get("metrics", {})


def with_latent_mixture(state: dict, components: int) -> dict:
    """The run's state with the family's ex-post latent mixture (option `latent_mixture`, a VAE's)
    fitted to its training images' codes: what a run with the option does when it ends, for a run
    that trained without it. The weights are untouched; the recipe records the option."""
    from genlab.data import load_dataset
    from genlab.training.config import parse_recipe, recipe_to_toml

    model = model_from_state(state)
    if not hasattr(model, "add_latent_mixture"):
        raise GenlabError(f"{state['family']} has no latent_mixture option (the VAE has)")
    model.add_latent_mixture(components)
    recipe = parse_recipe(state["recipe"], "the stored recipe") if state.get("recipe") else None
    data = load_dataset(recipe.data if recipe else state["data_spec"]["name"], "train",
                        root=recipe.data_root if recipe else None, image_size=recipe.image_size if recipe else None)
    model.finish_training(data)
    new = {**state, "config": model.config_dict(), "model": model.state_dict(), "ema": {}}
    if recipe is not None:
        recipe.model["latent_mixture"] = components
        new["recipe"] = recipe_to_toml(recipe)
    return new


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m genlab.release", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True, help="file stem under checkpoints/, e.g. dcgan-mnist")
    p.add_argument("--n", type=int, default=5000, help="samples for the stored evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights (when fp16 changes the figures)")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--latent-mixture", type=int, default=0, metavar="K",
                   help="VAE: fit a K-component Gaussian mixture to the training codes first, as a run with "
                        "the option latent_mixture does when it ends (for a run trained without it)")
    args = p.parse_args(argv)
    try:
        out, metrics = release(args.checkpoint, args.name, args.n, args.seed, half=not args.fp32,
                               evaluate=not args.no_eval, latent_mixture=args.latent_mixture)
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
