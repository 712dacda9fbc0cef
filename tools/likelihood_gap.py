"""Train/test likelihood gap of Bernoulli MNIST models: the NLL (or its IWAE bound) of the first
N training digits and of the 1,000 test digits, both with mnist-binary's fixed binarisation.

    python tools/likelihood_gap.py checkpoints/vae-mnist.pt runs/vae-dynbin/latest.pt --k 1000

A model trained on the fixed draw has seen exactly these training images; one trained with
dynamic binarisation (data 'mnist-dynbin') has seen these digits under many other draws. The gap
(test minus train, nats) measures the overfitting the issue asks about.
"""
from __future__ import annotations

import argparse

import genlab
from genlab.data import load_dataset
from genlab.metrics.likelihood import test_images, test_nll


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--n", type=int, default=1000, help="training digits (the test split has 1,000)")
    ap.add_argument("--k", type=int, default=1000, help="importance samples for bound-type models")
    args = ap.parse_args(argv)
    train = load_dataset("mnist-binary", "train").images[:args.n]
    print("| checkpoint | data | train NLL (nats) | test NLL (nats) | gap |")
    print("|---|---|---|---|---|")
    for path in args.checkpoints:
        model = genlab.load(path)
        if not model.data_spec.binary:
            raise SystemExit(f"{path}: a model of {model.data_spec.name!r}; this script compares Bernoulli "
                             "models on mnist-binary's fixed draw")
        test, _ = test_images(model.data_spec)  # the fixed binarised test digits, as `genlab eval` scores
        tr = test_nll(model, train, iwae_k=args.k)["nll_nats"]
        te = test_nll(model, test, iwae_k=args.k)["nll_nats"]
        print(f"| {path} | {model.data_spec.name} | {tr:.2f} | {te:.2f} | {te - tr:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
