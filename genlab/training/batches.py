"""Endless, resumable streams of training batches.

In-memory sets live on the training device whole (no per-step host-to-device
copy); each step gathers a batch by index, with every extra tensor the data
set carries (domains, attributes) except its evaluation-only ones. Streamed sets go through a
DataLoader. Both shuffle per epoch from a seed and remember where they are,
so a resumed run sees exactly the batches an uninterrupted run would. A
`RandomWarp` (genlab/data/augment.py; the [train] options augment_*) moves, turns
and bends each training image, before dynamic binarisation where there is one.
"""
from __future__ import annotations

import torch

from genlab.data import ImageDataset
from genlab.data.augment import RandomWarp
from genlab.training.distributed import DistInfo, shard_indices


class _Shuffled:
    """Endless epochs over n indices from one generator; remembers its place."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.generator)
        self.pos = 0

    def take(self) -> torch.Tensor:
        if self.pos + self.batch_size > len(self.perm):  # drop the ragged tail, reshuffle
            self.perm = torch.randperm(len(self.perm), generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm = state["perm"].clone()
        self.pos = int(state["pos"])


class InMemoryBatches:
    """Batches gathered by index from tensors that live on the device. With `unpaired_by`,
    one shuffle per group (domain), concatenated group after group."""

    def __init__(self, data: ImageDataset, batch_size: int, device: torch.device, seed: int, dist: DistInfo,
                 warp: RandomWarp | None = None):
        self.warp = warp if warp is not None and warp.active else None
        shard = shard_indices(len(data), dist)
        if len(shard) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than this rank's {len(shard)} examples")
        self.tensors = {"image": data.images[shard], "label": data.labels[shard],
                        **{k: v[shard] for k, v in data.extras.items()}}
        self.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        # binarise_from's grey levels become the batch's image, never a key of their own
        self.train_keys = [k for k in self.tensors if k not in data.eval_only and k != data.binarise_from]
        seed = seed + 7919 * dist.rank
        if data.unpaired_by is None:
            self.groups = [torch.arange(len(shard))]
        else:
            key = data.extras[data.unpaired_by][shard]
            self.groups = [(key == g).nonzero().flatten() for g in key.unique(sorted=True)]
            small = min(len(g) for g in self.groups)
            if small < batch_size:
                raise ValueError(f"batch_size {batch_size} is larger than a {data.unpaired_by} group's "
                                 f"{small} examples on this rank")
        self.source = data.extras["source"][shard] if "source" in data.extras else None
        self.streams = [_Shuffled(len(g), batch_size, seed + 104729 * i) for i, g in enumerate(self.groups)]
        # Dynamic binarisation: a fresh Bernoulli draw of every batch from its grey levels, from a
        # generator of its own whose state is saved with the data order (resume stays exact).
        self.grey = self.tensors[data.binarise_from] if data.binarise_from else None
        self.binarise_rng = torch.Generator().manual_seed(seed + 15485863) if data.binarise_from else None
        self.last_indices: torch.Tensor | None = None  # rows of the last batch in this rank's shard (tests)

    def _unpaired(self, picks: list[torch.Tensor]) -> list[torch.Tensor]:
        """Where a later group's pick at some position renders the same source as the first
        group's pick there, take the next example of that group's shuffle instead (sources
        are unique within a group, so the replacement never clashes)."""
        if self.source is None or len(picks) < 2:
            return picks
        first = self.source[picks[0]]
        for gi in range(1, len(picks)):
            group = self.groups[gi]
            clash = self.source[picks[gi]] == first
            if clash.any():
                perm_pos = (torch.searchsorted(group, picks[gi][clash]))  # positions inside the group
                picks[gi] = picks[gi].clone()
                picks[gi][clash] = group[(perm_pos + 1) % len(group)]
        return picks

    def __next__(self) -> dict:
        picks = [g[s.take()] for g, s in zip(self.groups, self.streams)]
        idx = torch.cat(self._unpaired(picks))
        self.last_indices = idx
        idx = idx.to(self.tensors["image"].device)
        batch = {k: self.tensors[k][idx] for k in self.train_keys}
        if self.grey is not None:
            p = self.grey[idx] if self.warp is None else self.warp(self.grey[idx])
            u = torch.rand(p.shape, generator=self.binarise_rng).to(p.device)
            batch["image"] = torch.where(u < p, 1.0, -1.0)
        elif self.warp is not None:
            batch["image"] = self.warp(batch["image"])
        return batch

    def state_dict(self) -> dict:
        if len(self.streams) == 1 and self.binarise_rng is None and self.warp is None:
            return self.streams[0].state_dict()  # the layout of checkpoints written before groups existed
        state = {"groups": [s.state_dict() for s in self.streams]}
        if self.binarise_rng is not None:
            state["binarise_rng"] = self.binarise_rng.get_state()
        if self.warp is not None:
            state["warp"] = self.warp.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "binarise_rng" in state:
            if self.binarise_rng is None:
                raise ValueError("saved data order has a binarisation generator (dynamic binarisation), this data set none")
            self.binarise_rng.set_state(state["binarise_rng"])
        load_warp_state(self.warp, state)
        states = state["groups"] if "groups" in state else [state]
        if len(states) != len(self.streams):
            raise ValueError(f"saved data order has {len(states)} groups, this data set {len(self.streams)}")
        for stream, st in zip(self.streams, states):
            stream.load_state_dict(st)


class _OffsetSampler(torch.utils.data.Sampler):
    def __init__(self, indices: torch.Tensor):
        self.indices = indices

    def __iter__(self):
        return iter(self.indices.tolist())

    def __len__(self):
        return len(self.indices)


def load_warp_state(warp: RandomWarp | None, state: dict) -> None:
    """Restore the warp's generator. A resume that turns augmentation on starts its generator
    from the seed, one that turns it off drops it (a [train] change, logged as such)."""
    if warp is not None and "warp" in state:
        warp.load_state_dict(state["warp"])


class StreamedBatches:
    def __init__(self, data: ImageDataset, batch_size: int, device: torch.device, seed: int, dist: DistInfo,
                 num_workers: int = 2, warp: RandomWarp | None = None):
        self.warp = warp if warp is not None and warp.active else None
        self.data, self.batch_size, self.device, self.num_workers = data, batch_size, device, num_workers
        self.shard = shard_indices(len(data), dist)
        if len(self.shard) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the {len(self.shard)} images "
                             f"{'on this rank' if dist.enabled else 'found'} in {data.spec.name}")
        self.seed, self.epoch, self.batches_done = seed + 7919 * dist.rank, 0, 0
        self._iter = None

    def _start_epoch(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = self.shard[torch.randperm(len(self.shard), generator=g)]
        loader = torch.utils.data.DataLoader(
            self.data.stream, batch_size=self.batch_size, drop_last=True, num_workers=self.num_workers,
            sampler=_OffsetSampler(order[self.batches_done * self.batch_size:]),
            pin_memory=self.device.type == "cuda", persistent_workers=False)
        self._iter = iter(loader)

    def __next__(self) -> dict:
        if self._iter is None:
            self._start_epoch()
        try:
            images, labels = next(self._iter)
        except StopIteration:
            self.epoch, self.batches_done = self.epoch + 1, 0
            self._start_epoch()
            images, labels = next(self._iter)
        self.batches_done += 1
        images = images.to(self.device, non_blocking=True)
        return {"image": images if self.warp is None else self.warp(images),
                "label": torch.as_tensor(labels).long().to(self.device, non_blocking=True)}

    def state_dict(self) -> dict:
        state = {"epoch": self.epoch, "batches_done": self.batches_done}
        return state if self.warp is None else {**state, "warp": self.warp.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_warp_state(self.warp, state)
        self.epoch, self.batches_done, self._iter = int(state["epoch"]), int(state["batches_done"]), None


def make_batches(data: ImageDataset, batch_size: int, device: torch.device, seed: int, dist: DistInfo,
                 num_workers: int = 2, augment: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    """`augment`: (shift px, rotation degrees, elastic alpha px) of a RandomWarp, 0 each = none."""
    # bilinear resampling would make data that is binary already grey: nearest keeps it binary
    mode = "nearest" if data.spec.binary and not data.binarise_from else "bilinear"
    warp = RandomWarp(*augment, seed=seed + 7919 * dist.rank + 32452843, mode=mode)
    if data.in_memory:
        return InMemoryBatches(data, batch_size, device, seed, dist, warp)
    if data.binarise_from:
        raise ValueError("dynamic binarisation needs an in-memory data set")
    return StreamedBatches(data, batch_size, device, seed, dist, num_workers, warp)
