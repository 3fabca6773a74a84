"""Process-group setup for ``torchrun`` (DDP over NCCL on GPUs, gloo on CPUs) and small collective helpers.

Without torchrun's environment everything degrades to a single process and the helpers are identities. Under
torchrun the process group and DDP are used even with one process, so a 1-GPU torchrun run exercises NCCL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    launched: bool = False  # started by torchrun (joins a process group even when world == 1)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1 or self.launched


def setup(device: str | None = None) -> DistInfo:
    """Join the process group if launched by torchrun; pick this rank's device ("cuda" if available)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if want == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(want)
    launched = world > 1 or "TORCHELASTIC_RUN_ID" in os.environ
    if launched and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world=world, local_rank=local_rank, device=dev, launched=launched)


def teardown() -> None:
    """Leave the process group once every rank is done (rank 0 may still be writing a checkpoint)."""
    if dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def all_gather_cat(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate equal-shaped tensors from all ranks along dim 0, in rank order."""
    if not info.enabled:
        return t
    out = [torch.empty_like(t) for _ in range(info.world)]
    dist.all_gather(out, t.contiguous())
    return torch.cat(out)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True if `flag` is set on any rank (used so every rank stops at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def fingerprint(t: torch.Tensor) -> torch.Tensor:
    """An int64 checksum of a tensor's bits: equal tensors give equal sums; one changed bit changes it.

    Integer sums wrap around and are associative, so the value does not depend on the reduction order.
    """
    flat = t.detach().contiguous().reshape(-1)
    bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[flat.element_size()]
    words = flat.view(bits).long()
    weights = torch.arange(1, len(words) + 1, device=words.device, dtype=torch.int64) % 1_000_003 + 1
    return (words * weights).sum()


def mismatched_replicas(named: dict[str, torch.Tensor], info: DistInfo) -> list[str]:
    """Names of the tensors whose bits differ between this rank and rank 0 on any rank (a collective).

    Every rank returns the same list. Without a process group nothing can differ.
    """
    if not info.enabled or info.world == 1:
        return []
    names = sorted(named)
    mine = torch.stack([fingerprint(named[k]).to(info.device) for k in names])
    every = all_gather_cat(mine[None], info)  # (world, len(names))
    differs = (every != every[0]).any(dim=0).cpu().tolist()
    return [k for k, d in zip(names, differs) if d]


def broadcast_from_main(tensors: list[torch.Tensor], info: DistInfo) -> None:
    """Overwrite these tensors on every rank with rank 0's copy (in place)."""
    if info.enabled and info.world > 1:
        for t in tensors:
            dist.broadcast(t.data, src=0)
