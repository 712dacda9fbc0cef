"""python -m genlab list | train | sample | eval | gallery | plots | results | manifest

Every user mistake (unknown family, missing file, bad option or value) ends
in one line naming what was wrong and what is accepted, with exit code 2.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from genlab.errors import GenlabError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(EXIT_USAGE, f"genlab: error: {message} (see `python -m genlab {self.prog.split()[-1]} --help`)\n"
                  if len(self.prog.split()) > 1 else f"genlab: error: {message} (see `python -m genlab --help`)\n")


def _cmd_list(args) -> int:
    from genlab.registry import get_family, list_families, shipped_checkpoints
    from genlab.checkpoint import load_checkpoint, trained_steps

    families = list_families()
    from genlab.results import current_figures, read_rows

    paths = shipped_checkpoints()
    shipped = {name: load_checkpoint(path) for name, path in paths.items()}
    fw = max(map(len, families)) + 2  # columns as wide as the longest name
    print("families:")
    for name in families:
        print(f"  {name:{fw}s}{get_family(name).paper}")
    print("shipped checkpoints:")
    nw = max(map(len, shipped), default=0) + 2
    rows = read_rows()
    for name, state in shipped.items():  # the figures every view shows (genlab.results.current_figures)
        figures = current_figures(paths[name], state, rows.get(name))[0]
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(figures.items())
                            if isinstance(v, (int, float)) and k in ("fid", "nll_nats", "class_coverage"))
        print(f"  {name:{nw}s}{state['family']:{fw}s}step {trained_steps(state):>6}  {metrics}")
    return 0


def _cmd_train(args) -> int:
    from genlab.training import resolve_run
    from genlab.training.config import recipe_to_toml, toml_literal
    from genlab.training.memory import keep_freed_memory
    from genlab.training.signals import StopOnSignals
    from genlab.training.trainer import Trainer

    overrides = list(args.set or [])
    if args.device:
        overrides.append(f"device={toml_literal(args.device)}")
    family, data = args.family, args.data
    if args.init_from:
        overrides.append(f"init_from={toml_literal(args.init_from)}")
        if args.config is None:  # the checkpoint says which family and, unless given, which data
            from genlab.checkpoint import load_checkpoint
            from genlab.registry import resolve_checkpoint

            start = load_checkpoint(resolve_checkpoint(args.init_from))
            family = family or start["family"]
            if data is None and start.get("recipe"):
                from genlab.training.config import parse_recipe

                data = parse_recipe(start["recipe"], f"the recipe stored in {args.init_from}").data
    recipe, out = resolve_run(family, args.config, data, args.steps, overrides, args.data_root,
                              args.out, args.resume, args.image_size)
    if args.download:  # torchvision sets: fetch both splits once, before the run looks for them
        from genlab.data import load_dataset

        for split in ("train", "test"):
            load_dataset(recipe.data, split, root=recipe.data_root, image_size=recipe.image_size, download=True)
    if args.dry_run:  # every check a real run makes before its first step, then nothing written
        Trainer(recipe, out, resume=args.resume, progress=False, dry_run=True)
        print(recipe_to_toml(recipe), end="")
        return 0
    keep_freed_memory()  # a training process: reuse freed memory rather than fault it in every step
    stop = threading.Event()
    with StopOnSignals(stop) as signals:  # SIGTERM / Ctrl+C: finish the step, save, then stop
        trainer = Trainer(recipe, out, resume=args.resume, progress=not args.no_progress, stop=stop)
        path = trainer.fit()
    if path is not None:
        print(f"checkpoint: {path}  ({trainer.step} steps, {trainer.train_seconds:.0f} s of training)")
    code = 0
    if trainer.step < recipe.train.steps and stop.is_set():
        if path is not None:
            why = signals.received.name if signals.received is not None else "another rank's signal"
            print(f"stopped by {why} at step {trainer.step} of {recipe.train.steps}; continue with the same "
                  f"command and --resume --out {out}", file=sys.stderr)
        code = signals.exit_code or 128 + int(signal.SIGTERM)
    from genlab.training.distributed import shutdown_and_exit

    shutdown_and_exit(trainer.dist, code)
    return code


def _seeded(seed: int):
    from genlab.model import seeded

    try:
        return seeded(seed)
    except ValueError as e:
        raise GenlabError(f"--seed: {e}") from None


def _cmd_sample(args) -> int:
    import numpy as np

    from genlab.data import unit_to_uint8
    from genlab.grids import save_grid
    from genlab.registry import load

    out = Path(args.out)
    if out.suffix not in (".png", ".npz"):
        raise GenlabError(f"--out {out}: give a .png (grid) or .npz (uint8 images) file name")
    if args.n < 1:
        raise GenlabError(f"--n must be at least 1, got {args.n}")
    model = load(args.checkpoint, device=args.device or "cpu")
    from genlab.training.config import parse_value

    controls = {k: v for k, v in (("truncation", args.truncation), ("temperature", args.temperature)) if v is not None}
    for item in args.control or []:
        name, eq, text = item.partition("=")
        if not eq:
            raise GenlabError(f"--control {item!r} is not NAME=VALUE")
        controls[name.strip()] = parse_value(text.strip())
    if "sample" not in model.capabilities:
        raise GenlabError(f"{model.family} does not sample from scratch (it has {', '.join(sorted(model.capabilities))}); "
                          "use it from Python or the app")
    try:
        controls = model.check_controls("sample", controls)  # the model's declared controls, checked
        images = model.sample(args.n, generator=_seeded(args.seed), **controls)
        if not images.isfinite().all():
            raise GenlabError(f"{model.checkpoint['path']} gave images with NaN/inf pixels: its weights are broken; "
                              "use an earlier checkpoint")
    except ValueError as e:  # a control value the model refuses, named by the model
        raise GenlabError(str(e)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        save_grid(images, out, scale=args.scale)
    else:
        np.savez_compressed(out, images=unit_to_uint8(images))
    print(f"wrote {args.n} samples to {out}")
    return 0


def _cmd_eval(args) -> int:
    from genlab.metrics import evaluate
    from genlab.registry import load
    from genlab.results import PROTOCOL

    if args.all or args.only:
        return _eval_all(args)
    if not args.checkpoint:
        raise GenlabError("eval needs a CHECKPOINT, or --all (every shipped checkpoint)")
    if args.redo or args.threads or args.results:
        raise GenlabError("--redo, --threads and --results go with --all")
    model = load(args.checkpoint, device=args.device or "cpu")
    out = Path(args.out) if args.out else Path(model.checkpoint["path"]).with_suffix(".eval.json")
    try:  # before minutes of evaluation, not after
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a"):
            pass
    except OSError as e:
        raise GenlabError(f"--out {out} cannot be written: {e.strerror or e}") from None
    n = PROTOCOL["n"] if args.n is None else args.n
    if args.seeds:
        return _eval_spread(model, n, args.seeds, out)
    _seeded(args.seed)  # a seed out of range is refused now, not after sampling
    results = evaluate(model, n=n, seed=args.seed, iwae_k=args.iwae_k)
    out.write_text(json.dumps(results, indent=2) + "\n")
    own = results.get("family_metrics", [])
    width = max([28, *map(len, own)])

    def show(key, value):
        if not isinstance(value, (dict, list)):
            print(f"{key:{width}s} {value:.5g}" if isinstance(value, float) else f"{key:{width}s} {value}")

    for key, value in results.items():
        if key not in own:
            show(key, value)
    if own:
        print(f"{model.family}'s own figures:")
        for key in own:
            show(key, results[key])
    print(f"wrote {out}")
    return 0


def _parse_seeds(text: str) -> list[int]:
    """--seeds 0,1,2: at least two different seeds, each one a generator accepts."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
        for seed in seeds:
            _seeded(seed)  # out of range: refused now, not after minutes of sampling
    except (ValueError, GenlabError) as e:
        detail = str(e).removeprefix("--seed: ") if isinstance(e, GenlabError) else "not an integer"
        raise argparse.ArgumentTypeError(f"takes comma-separated integers such as 0,1,2; {text!r}: {detail}") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"needs at least two different seeds, such as 0,1; got {text!r}")
    return seeds


def _eval_spread(model, n: int, seeds: list[int], out: Path) -> int:
    from genlab.metrics import SPREAD_KEYS, seed_spread

    results = seed_spread(model, n, seeds)
    out.write_text(json.dumps(results, indent=2) + "\n")
    keys = [k for k in SPREAD_KEYS if f"{k}_mean" in results]
    print("| seed | " + " | ".join(keys) + " |")
    print("|" + "---|" * (len(keys) + 1))
    for seed, figures in results["per_seed"].items():
        print(f"| {seed} | " + " | ".join(f"{figures[k]:.4g}" for k in keys) + " |")
    print("| mean +- sd | " + " | ".join(f"{results[k + '_mean']:.4g} +- {results[k + '_std']:.2g}" for k in keys) + " |")
    print(f"wrote {out}")
    return 0


def _eval_all(args) -> int:
    from genlab.results import RESULTS_CSV, RESULTS_PROTOCOL, evaluate_all

    if args.seeds:
        raise GenlabError("--seeds goes with one CHECKPOINT, not --all (results.csv keeps the protocol's one seed)")
    if args.checkpoint or args.out:
        raise GenlabError("--all scores every shipped checkpoint into --results; give no CHECKPOINT or --out "
                          "(--only NAME[,NAME] for some of them)")
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    results = Path(args.results) if args.results else RESULTS_CSV
    failed = evaluate_all(only, n=RESULTS_PROTOCOL["n"] if args.n is None else args.n, seed=args.seed, iwae_k=args.iwae_k, results=results,
                          redo=args.redo, threads=args.threads, device=args.device)
    print(f"wrote {results} and {results.with_name('RESULTS.md')}")
    if failed:
        print(f"genlab: error: scoring failed for {', '.join(failed)} (messages above)", file=sys.stderr)
        return 1
    return 0


def _cmd_results(args) -> int:
    from genlab.results import RESULTS_CSV, read_rows, write_cards, write_readme_table, write_results_md

    results = Path(args.results) if args.results else RESULTS_CSV
    if args.cards:  # without results.csv the cards show the figures stored at release
        print(f"wrote {len(write_cards(results))} model cards in checkpoints/")
    if not results.is_file():
        if args.cards and not args.readme:
            return 0
        raise GenlabError(f"{results} does not exist: make it with `python -m genlab eval --all`")
    print(f"wrote {write_results_md(results, read_rows(results))}")
    if args.readme:
        print(f"wrote the zoo table in {write_readme_table(results)}")
    return 0


def _cmd_manifest(args) -> int:
    from genlab.manifest import problems, write_manifest

    if args.check:
        found = problems(args.folder)
        for line in found:
            print(line)
        print("manifest: " + (f"{len(found)} problem(s)" if found else "every checkpoint matches"))
        return 1 if found else 0
    print(f"wrote {write_manifest(args.folder)}")
    return 0


def _cmd_gallery(args) -> int:
    from genlab.gallery import build_gallery
    from genlab.training.config import parse_value

    if args.n < 1:
        raise GenlabError(f"--n must be at least 1, got {args.n}")
    if args.frames < 2:
        raise GenlabError(f"--frames must be at least 2 (the first and the last), got {args.frames}")
    controls = {}
    for item in args.control or []:
        name, eq, text = item.partition("=")
        if not eq:
            raise GenlabError(f"--control {item!r} is not NAME=VALUE")
        controls[name.strip()] = parse_value(text.strip())
    problems: list = []
    path = build_gallery(args.checkpoints or None, Path(args.out), n=args.n, seed=args.seed, frames=args.frames,
                         controls=controls, problems=problems, log=lambda line: print(line, flush=True),
                         progress=lambda i, total, name: print(f"[{i}/{total}] {name}", flush=True))
    print(f"wrote {path}")
    for name, section, message in problems:
        print(f"problem: {name}: {section}: {message}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_plots(args) -> int:
    from genlab.plots import available_plots, save_plots
    from genlab.registry import load

    model = load(args.checkpoint, device=args.device or "cpu")
    if not available_plots(model):
        has = (f"its latent space has {model.latent_dim} dimensions and no encoder"
               if "latent" in model.capabilities else "it has no latent space")
        raise GenlabError(f"{model.family}: nothing to plot, {has} (plots need `encode`, "
                          "a 2-D latent space for the manifold, or `ray_profile` for rays)")
    for name, path in save_plots(model, Path(args.out), n=args.n, seed=args.seed).items():
        print(f"{name:20s} {path}")
    return 0


class _Formatter(argparse.HelpFormatter):
    """Help lines broken at spaces only: a data set name (mnist-styles2) stays whole."""

    def _split_lines(self, text, width):
        import textwrap

        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width, break_on_hyphens=False)


def _data_help() -> str:
    """--data's help, from the data registry (built-in names and every `register_dataset` one)."""
    from genlab.data import dataset_names

    return "data set (default: the family's own): " + ", ".join(dataset_names())


def build_parser() -> argparse.ArgumentParser:
    from genlab.results import PROTOCOL, RESULTS_PROTOCOL

    p = _Parser(prog="genlab", description="genlab: deep generative models on one training engine")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="families and shipped checkpoints").set_defaults(func=_cmd_list)

    t = sub.add_parser("train", help="train a family", formatter_class=_Formatter)
    t.add_argument("family", nargs="?", help="family name (see `list`); optional with --config")
    t.add_argument("--config", help="TOML recipe, e.g. experiments/dcgan_mnist.toml")
    t.add_argument("--data", help=_data_help())
    t.add_argument("--data-root", help="where torchvision data sets live")
    t.add_argument("--image-size", type=int, metavar="N",
                   help="resize and centre-crop pictures to N x N (folder: and torchvision sets; "
                        "default: the set's own size, 64 for folder:)")
    t.add_argument("--download", action="store_true",
                   help="download a torchvision set (cifar10, celeba, fashion-mnist, tv-mnist) into --data-root "
                        "first (needs internet; otherwise nothing is ever downloaded)")
    t.add_argument("--steps", type=int)
    t.add_argument("--out", help="run folder (default runs/<family>-<data>-<time>)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    t.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (a shipped name, a .pt file or a run folder), "
                        "e.g. to fine-tune a shipped model on your own pictures; its family and network are "
                        "used, optimisers and step count start afresh")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any train or model option")
    t.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--dry-run", action="store_true", help="print the resolved recipe and stop")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint")
    s.add_argument("checkpoint", help="a shipped name (see `list`) or a .pt path")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help=".png grid or .npz with uint8 `images`")
    s.add_argument("--truncation", type=float, help="latent models: scale of z (below 1: more typical samples)")
    s.add_argument("--temperature", type=float, help="autoregressive models: below 1 sharper, above 1 wilder")
    s.add_argument("--control", action="append", metavar="NAME=VALUE",
                   help="any control the model declares for sampling (repeatable), e.g. digit_code=3")
    s.add_argument("--scale", type=int, default=2, help="pixel upscaling of the .png grid")
    s.add_argument("--device")
    s.set_defaults(func=_cmd_sample)

    e = sub.add_parser("eval", help="FID/KID/precision/recall/coverage (and NLL where the family has it)")
    e.add_argument("checkpoint", nargs="?", help="a shipped name or a .pt path (or --all)")
    e.add_argument("--n", type=int, default=None,
                   help=f"generated samples (the real floor uses as many train digits); default {PROTOCOL['n']}, "
                        f"with --all {RESULTS_PROTOCOL['n']}")
    e.add_argument("--seed", type=int, default=PROTOCOL["seed"])
    e.add_argument("--seeds", type=_parse_seeds, metavar="S,S[,S]",
                   help="the sample figures (FID, KID, precision/recall, readable share) at each of these sample "
                        "seeds, with their mean and standard deviation; no NLL or family figures")
    e.add_argument("--iwae-k", type=int, default=PROTOCOL["iwae_k"],
                   help="importance samples for bound-type log-likelihoods")
    e.add_argument("--out", help="JSON file (default: next to the checkpoint)")
    e.add_argument("--device")
    e.add_argument("--all", action="store_true",
                   help="every shipped checkpoint not yet scored with this protocol: rows into results.csv, RESULTS.md")
    e.add_argument("--only", metavar="NAME[,NAME]", help="with --all: just these checkpoints (scored again)")
    e.add_argument("--redo", action="store_true", help="with --all: score again rows that are up to date")
    e.add_argument("--threads", type=int, help="with --all: OMP_NUM_THREADS for each evaluation")
    e.add_argument("--results", help="with --all: the CSV to merge rows into (default results.csv in the repository)")
    e.set_defaults(func=_cmd_eval)

    r = sub.add_parser("results", help="RESULTS.md (and the README zoo table, model cards) from results.csv")
    r.add_argument("--results", help="the CSV (default results.csv in the repository)")
    r.add_argument("--readme", action="store_true", help="rewrite the zoo table in README.md")
    r.add_argument("--cards", action="store_true", help="write checkpoints/<name>.md for every shipped checkpoint")
    r.set_defaults(func=_cmd_results)

    m = sub.add_parser("manifest", help="record (or --check) the shipped checkpoints' sha256 in MANIFEST.json")
    m.add_argument("--check", action="store_true", help="compare the files with the manifest; change nothing")
    m.add_argument("--folder", help="default: the shipped checkpoints/ folder")
    m.set_defaults(func=_cmd_manifest)

    g = sub.add_parser("gallery", help="static HTML gallery: an index and a page per checkpoint (open from disk)")
    g.add_argument("checkpoints", nargs="*", help="shipped names or .pt paths (default: every shipped checkpoint)")
    g.add_argument("--out", default="gallery")
    g.add_argument("--n", type=int, default=36, help="samples per checkpoint (also bounds strips and GIFs)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--frames", type=int, default=25, help="frames of a step-by-step GIF (at least 2)")
    g.add_argument("--control", action="append", metavar="NAME=VALUE",
                   help="a control for every model that declares it (repeatable), e.g. steps=10 for a sampler")
    g.set_defaults(func=_cmd_gallery)

    pl = sub.add_parser("plots", help="latent maps, posterior vs prior, reconstructions, decoded manifold; "
                                      "a radiance field's rays")
    pl.add_argument("checkpoint")
    pl.add_argument("--out", required=True, help="folder for the PNGs")
    pl.add_argument("--n", type=int, default=1000, help="test images to encode")
    pl.add_argument("--seed", type=int, default=0)
    pl.add_argument("--device")
    pl.set_defaults(func=_cmd_plots)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GenlabError as e:
        print(f"genlab: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130
