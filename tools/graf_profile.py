"""Where a GRAF training step spends its time (issue 27), and how long a step takes.

    python tools/graf_profile.py --config experiments/graf_shapes.toml [--set KEY=VALUE ...]
        [--threads 1] [--warmup 5] [--steps 20] [--profile-steps 10]

Builds the recipe's trainer (no run folder is written) and runs the same step the trainer's
loop runs (advance, every phase, EMA). First `--steps` steps are timed as they are (the median
is the step time to quote), then `--profile-steps` steps with every part timed:

- forward: the wall time inside labelled functions (rays.positional_encoding,
  RadianceField.forward, rays.volume_render, the fake and real patch samplers, D's forward, R1's
  gradient, the optimisers' step, the EMA update), each without the labelled calls inside it;
- backward: every autograd node a labelled call made (its sequence numbers lie between two
  probes taken before and after the call) gets a pre-hook and a hook, and the time between
  them goes to that label, so each row holds its part's forward and its backward. R1's first
  backward (inside autograd.grad) is R1's forward; the nodes it makes are R1's backward.
- other: the step's wall time less all of the above (losses, autograd's own bookkeeping,
  gradient accumulation, the batch).

Not torch.profiler: on this machine it made the same step about twice as slow (12x the page
faults, a second of system time per ten field passes), and not evenly across the parts.
Printed as a Markdown table: milliseconds per step (forward / backward / both) and the share.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections import defaultdict

import torch

LABELS = {  # label -> the row it is reported in
    "encoding": "positional encoding (x and d)",
    "field": "field MLP (density + colour layers)",
    "coarse": "field MLP, coarse pass (density only, no gradient; importance > 0)",
    "importance": "hierarchical sampling: inverse CDF, sort (importance > 0)",
    "compositing": "compositing (volume rendering)",
    "rays": "patch sampler, rays, depths along rays (fake patches)",
    "real": "real patches (sampler + grid_sample)",
    "D": "D (real and fake patches)",
    "R1": "R1 (gradient w.r.t. real patches, and its backward)",
    "optim": "optimiser steps (RMSprop)",
    "ema": "EMA update",
}


class Timer:
    """Exclusive forward times of nested labelled calls, and backward times of their nodes."""

    def __init__(self):
        self.fwd, self.bwd = defaultdict(float), defaultdict(float)
        self.stack: list[list] = []  # [label, start, time spent in labelled calls inside]
        self.ranges: list[tuple[int, int, str]] = []  # (first seq, last seq, label), innermost last
        self.hooked: set[int] = set()
        self.keep: list = []  # the hooked nodes' Python objects, so that their ids stay unique
        self.started: dict[int, float] = {}
        self.in_r1 = False
        self.enabled = False

    @staticmethod
    def probe() -> int:
        """The next autograd sequence number (a throwaway node's)."""
        if not torch.is_grad_enabled():
            return -1
        return (torch.zeros((), requires_grad=True) * 1).grad_fn._sequence_nr()

    def call(self, label, fn, *a, **k):
        if not self.enabled:
            return fn(*a, **k)
        first = self.probe()
        self.stack.append([label, time.perf_counter(), 0.0])
        prev_r1 = self.in_r1
        self.in_r1 = self.in_r1 or label == "R1"
        try:
            out = fn(*a, **k)
        finally:
            self.in_r1 = prev_r1
            lab, t0, inner = self.stack.pop()
            spent = time.perf_counter() - t0
            self.fwd[lab] += spent - inner
            if self.stack:
                self.stack[-1][2] += spent
        last = self.probe()
        if first >= 0 and last > first:
            self.ranges.append((first, last, label))
            self.hook_outputs(out, first, last)
        return out

    def label_of(self, seq: int) -> str:
        best = None
        for lo, hi, lab in self.ranges:
            if lo < seq < hi and (best is None or hi - lo < best[1] - best[0]):
                best = (lo, hi, lab)
        return best[2] if best else "other"

    def hook_outputs(self, out, lo, hi) -> None:
        if torch.is_tensor(out):
            tensors = [out]
        elif isinstance(out, (dict, tuple, list)):
            tensors = [v for v in (out.values() if isinstance(out, dict) else out) if torch.is_tensor(v)]
        else:
            tensors = []
        todo, seen, held = [t.grad_fn for t in tensors if t.grad_fn is not None], set(), []
        while todo:
            node = todo.pop()
            seq = node._sequence_nr()
            if not lo < seq < hi or id(node) in seen:
                continue
            seen.add(id(node))
            held.append(node)
            todo += [f for f, _ in node.next_functions if f is not None]
            if id(node) in self.hooked:  # an inner labelled call's node
                continue
            self.hooked.add(id(node))
            self.keep.append(node)
            key = id(node)
            node.register_prehook(functools.partial(self._pre, key))
            node.register_hook(functools.partial(self._post, key, self.label_of(seq)))

    def _pre(self, key, grad_outputs):
        self.started[key] = time.perf_counter()

    def _post(self, key, lab, grad_inputs, grad_outputs):
        t = time.perf_counter() - self.started.pop(key, time.perf_counter())
        if self.in_r1 or not self.enabled:
            return  # inside R1's autograd.grad: counted as R1's forward
        self.bwd[lab] += t

    def new_step(self) -> None:
        self.ranges.clear()
        self.hooked.clear()
        self.keep.clear()


TIMER = Timer()


def labelled(label, fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        return TIMER.call(label, fn, *a, **k)
    return wrapper


def instrument(trainer) -> None:
    from genlab.models import graf as G
    from genlab.nn import rays as R

    R.positional_encoding = labelled("encoding", R.positional_encoding)
    R.volume_render = labelled("compositing", R.volume_render)
    G.RadianceField.forward = labelled("field", G.RadianceField.forward)
    if hasattr(G.RadianceField, "density"):
        G.RadianceField.density = labelled("coarse", G.RadianceField.density)
    if hasattr(R, "importance_depths"):
        R.importance_depths = labelled("importance", R.importance_depths)
    G.PatchDiscriminator.forward = labelled("D", G.PatchDiscriminator.forward)
    G.GRAF.fake_patches = labelled("rays", G.GRAF.fake_patches)
    G.GRAF.real_patches = labelled("real", G.GRAF.real_patches)
    torch.autograd.grad = labelled("R1", torch.autograd.grad)  # only R1 calls it inside a step
    for opt in trainer.optimizers.values():
        opt.step = labelled("optim", opt.step)
    if trainer.ema is not None:
        trainer.ema.update = labelled("ema", trainer.ema.update)


def one_step(trainer) -> None:
    """Trainer.fit's step, with the logged values it keeps for the next log row dropped."""
    trainer.train_step()
    trainer._pending.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="experiments/graf_shapes.toml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="timed steps (median quoted)")
    ap.add_argument("--profile-steps", type=int, default=10)
    ap.add_argument("--start", type=int, default=0, help="first step (the annealing schedule's position)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from genlab.training import Trainer, make_recipe
    from genlab.training.memory import keep_freed_memory

    keep_freed_memory()  # as `genlab train` does

    recipe = make_recipe(config=args.config, overrides=args.set + [f"threads={args.threads}"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(recipe, tmp, progress=False, dry_run=True)
    trainer.step = args.start
    trainer.model.train()
    for _ in range(args.warmup):
        one_step(trainer)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        one_step(trainer)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"step time, {args.threads} thread(s): median {med * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f}) over {args.steps} steps after {args.warmup} warm-up")
    if args.profile_steps <= 0:
        return
    instrument(trainer)
    for _ in range(2):  # the instrumented step once unmeasured
        one_step(trainer)
    TIMER.enabled = True
    n, wall = args.profile_steps, []
    for _ in range(n):
        TIMER.new_step()
        t0 = time.perf_counter()
        one_step(trainer)
        wall.append(time.perf_counter() - t0)
    TIMER.enabled = False
    total = sum(wall) * 1000 / n
    fwd = {k: v * 1000 / n for k, v in TIMER.fwd.items()}
    bwd = {k: v * 1000 / n for k, v in TIMER.bwd.items()}
    known = sum(fwd.values()) + sum(bwd.values())
    rows = [(LABELS[k], fwd.get(k, 0.0), bwd.get(k, 0.0)) for k in LABELS]
    rows.append(("other (losses, autograd engine, gradient accumulation, batch)", total - known, 0.0))
    print("\n| part of the step | forward ms | backward ms | total ms | share |\n|---|---|---|---|---|")
    for name, f, b in sorted(rows, key=lambda r: -(r[1] + r[2])):
        print(f"| {name} | {f:.1f} | {b:.1f} | {f + b:.1f} | {(f + b) / total:.0%} |")
    print(f"| whole step (mean of {n} timed steps) | | | {total:.1f} | 100% |")

if __name__ == "__main__":
    main()
