"""Multi-GPU / multi-node data parallelism under `torchrun`.

Why not wrap the model in DistributedDataParallel: genlab models train in
several phases (a GAN's D then G), each touching a different parameter
subset, and DDP's hooks expect one forward/backward per step over a fixed
set of used parameters. Averaging each phase's gradients explicitly is the
same arithmetic with no such coupling; the price is that communication does
not overlap with the backward pass, which matters little for models this size.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group torchrun set up (env RANK/WORLD_SIZE); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def shard_indices(n: int, info: DistInfo) -> torch.Tensor:
    """This rank's share of n examples: every world_size-th, starting at rank. Shards
    differ in length by one where n does not split evenly; each rank's data-order state
    is saved separately, so that is no obstacle to resuming."""
    return torch.arange(info.rank, n, info.world_size)


def broadcast_parameters(module: torch.nn.Module) -> None:
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params, world_size: int) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce per phase
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (one small all-reduce; the local flag alone
    outside torchrun). Used so that all ranks stop at the same step."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's `obj` (picklable), in rank order, on every rank."""
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def check_in_sync(module: torch.nn.Module) -> None:
    """Raise if ranks' weights have drifted apart (a bug, never expected)."""
    local = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"ranks hold different weights: checksums {[g.item() for g in gathered]}")


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown_and_exit(info: DistInfo, code: int = 0) -> None:
    """End a torchrun process: leave the process group together, then exit at once.

    A rank that tears gloo down while another still talks to it can abort, hence the
    barrier. Exiting with os._exit skips interpreter finalisation: gloo's worker threads
    can still hold tensors then, and releasing one needs the GIL of a dying interpreter,
    which kills the thread inside C++ code and aborts the process ("terminate called
    without an active exception", SIGABRT, seen about once in 50 runs). Everything the
    run writes is closed by now; stdout and stderr are flushed first. A no-op outside
    torchrun."""
    if not info.enabled:
        return
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
