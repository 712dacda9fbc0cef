"""Reading a target domain for image translation (CycleGAN, StarGAN).

One job: `domain_indices` turns what a caller names as the target (a domain index, a name of
`DataSpec.domains`, or one of either per image) into checked (n,) int64 indices, refusing
anything else in one line that lists the domains.
"""
from __future__ import annotations

import torch

from genlab.dataspec import DataSpec


def domain_indices(spec: DataSpec, target, n: int, family: str) -> torch.Tensor:
    """A target domain (index, name, or one per image) -> (n,) int64 domain indices, checked."""
    names = spec.domains
    accepted = ", ".join(f"{i} ({d})" for i, d in enumerate(names))
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"unknown domain {target!r}; {family} translates into {accepted}")
        return torch.full((n,), names.index(target), dtype=torch.long)
    t = torch.as_tensor(target)
    if t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise ValueError(f"a target domain is an index or a name; {family} has {accepted}; got {target!r}")
        t = t.long()
    if t.ndim == 0:
        t = t.expand(n)
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"target must be one domain or one per image ({n}); got shape {tuple(t.shape)}")
    bad = t[(t < 0) | (t >= len(names))]
    if len(bad):
        raise ValueError(f"unknown domain {int(bad[0])}; {family} translates into {accepted}")
    return t.long()
