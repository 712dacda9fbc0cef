"""Fit InfoGAN's Q head to the final generator, then read real digits with it.

InfoGAN maximises a lower bound L_I(G, Q) = H(c) + E log Q(c | G(z, c)) of the mutual information
(Chen et al. 2016, Eq. 5); the bound is tight only when Q is the best posterior for the G at hand.
During training Q chases a moving G; here G and D's shared body are frozen and only Q's head
takes more Adam steps on fresh fakes, as the information term does in training (lambdas and
all). D's real/fake logit is untouched, so the samples do not change; only the code readings do.

    python tools/infogan_refit_q.py checkpoints/infogan-mnist.pt --steps 3000 --out runs/infogan-refit.pt

Prints the categorical code's accuracy on the 1,000 test digits (one-to-one Hungarian match on the
labels, and the match learnt from generated digits only) and its MI bound before and after.
"""
from __future__ import annotations

import argparse
import time

import torch

from genlab.checkpoint import load_checkpoint, save_checkpoint
from genlab.metrics.codes import code_report
from genlab.registry import load, resolve_checkpoint


def report(model, tag: str) -> dict:
    r = code_report(model, 500, 500, seed=0)
    figures = {"real": round(r.accuracy_real, 4), "real_label_free": round(r.accuracy_real_label_free, 4),
               "generated": round(r.accuracy_generated, 4)}
    print(f"{tag}: c1 accuracy on test digits {figures['real']:.1%} (label-free match "
          f"{figures['real_label_free']:.1%}), on generated digits {figures['generated']:.1%}", flush=True)
    return figures


def refit_q(model, steps: int, batch: int = 64, lr: float = 2e-4, seed: int = 0) -> list[float]:
    """Adam on Q's head only (G and D's body frozen, in eval mode); returns MI_cat every 500 steps."""
    torch.manual_seed(seed)
    d = model.discriminator
    model.eval()
    d.q_head.train()
    opt = torch.optim.Adam(d.q_head.parameters(), lr=lr, betas=(0.5, 0.999))
    trace = []
    for step in range(1, steps + 1):
        z = model.prior(batch)
        with torch.no_grad():
            h = d.body(model.generator(z))
        loss, logs = model.information_loss(d.q_head(h), z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 500 == 0:
            trace.append(round(float(logs["MI_cat"].detach()), 4))
    model.eval()
    return trace


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--out", help="write the model with its refitted Q here (a genlab checkpoint)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load(args.checkpoint)
    before = report(model, "as trained")
    start = time.process_time()
    trace = refit_q(model, args.steps)
    print(f"refit {args.steps} steps in {time.process_time() - start:.0f} CPU-s; MI_cat every 500: {trace}")
    after = report(model, "Q refitted")
    if args.out:  # the same file with Q's head replaced (the generator and D's logit unchanged)
        state = load_checkpoint(resolve_checkpoint(args.checkpoint))
        for name, value in model.state_dict().items():
            if name.startswith("discriminator.q_head."):
                state["model"][name] = value.to(state["model"][name].dtype)
        save_checkpoint(state, args.out)
        print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
