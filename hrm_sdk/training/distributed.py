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
