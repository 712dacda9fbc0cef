"""Endless, resumable streams of training batches.

In-memory sets live on the training device whole (no per-step host-to-device
copy); each step gathers a batch by index. Streamed sets go through a
DataLoader. Both shuffle per epoch from a seed and remember where they are,
so a resumed run sees exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

import torch

from genlab.data import ImageDataset
from genlab.training.distributed import DistInfo, shard_indices


class InMemoryBatches:
    def __init__(self, data: ImageDataset, batch_size: int, device: torch.device, seed: int, dist: DistInfo):
        shard = shard_indices(len(data), dist)
        if len(shard) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than this rank's {len(shard)} examples")
        self.images = data.images[shard].to(device)
        self.labels = data.labels[shard].to(device)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed + 7919 * dist.rank)
        self.perm = torch.randperm(len(shard), generator=self.generator)
        self.pos = 0

    def __next__(self) -> dict:
        if self.pos + self.batch_size > len(self.perm):  # drop the ragged tail, reshuffle
            self.perm = torch.randperm(len(self.perm), generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size].to(self.images.device)
        self.pos += self.batch_size
        return {"image": self.images[idx], "label": self.labels[idx]}

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm = state["perm"].clone()
        self.pos = int(state["pos"])


class _OffsetSampler(torch.utils.data.Sampler):
    def __init__(self, indices: torch.Tensor):
        self.indices = indices

    def __iter__(self):
        return iter(self.indices.tolist())

    def __len__(self):
        return len(self.indices)


class StreamedBatches:
    def __init__(self, data: ImageDataset, batch_size: int, device: torch.device, seed: int, dist: DistInfo,
                 num_workers: int = 2):
        self.data, self.batch_size, self.device, self.num_workers = data, batch_size, device, num_workers
        self.shard = shard_indices(len(data), dist)
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
        return {"image": images.to(self.device, non_blocking=True),
                "label": torch.as_tensor(labels).long().to(self.device, non_blocking=True)}

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.batches_done, self._iter = int(state["epoch"]), int(state["batches_done"]), None


def make_batches(data: ImageDataset, batch_size: int, device: torch.device, seed: int, dist: DistInfo,
                 num_workers: int = 2):
    if data.in_memory:
        return InMemoryBatches(data, batch_size, device, seed, dist)
    return StreamedBatches(data, batch_size, device, seed, dist, num_workers)
