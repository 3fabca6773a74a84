"""Optimisers, the learning-rate schedule and the weight EMA.

- Weights: AdamATan2 (Everett et al., 2024; the ``adam-atan2-pytorch`` package with a=b=1, i.e. no extra
  scale) or AdamW, with decoupled weight decay.
- Puzzle embeddings: the table is a buffer, not a parameter. Each step the rows a batch touches are read into
  a leaf tensor; after backward, ``sign_sgd_rows`` sums the gradients of duplicate ids (gathered from every
  rank under DDP, summed in a fixed order so that every rank updates its copy identically) and applies
  sign-SGD with decoupled weight decay to those rows only, so an ARC table of hundreds of thousands of rows
  costs nothing per step beyond the rows in the batch.
- Schedule: linear warm-up, then constant (``lr_min_ratio = 1``) or cosine down to ``lr * lr_min_ratio``; a run
  warm-started from another's weights can begin a new cycle at ``lr_cycle_start`` (warm-up and decay again).
  The embeddings' rate follows it too, unless ``puzzle_emb_lr_decay = false`` (warm-up only): with one
  embedding per ARC task version, versions first met after the decay would otherwise barely be learned.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import MissingExtraError


def build_optimizer(params, cfg) -> torch.optim.Optimizer:
    """`cfg` is a TrainConfig."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    try:
        from adam_atan2_pytorch import AdamAtan2
    except ImportError as exc:
        raise MissingExtraError("adam-atan2-pytorch", "train", "train.optimizer = 'adam_atan2'") from exc
    return AdamAtan2(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay, a=1.0, b=1.0)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float, start: int = 0) -> float:
    """Multiplier of the base LR for the update that follows `step` completed steps, in a cycle that begins at
    step `start` (0: the run's first step; later: a warm restart of a run continued from its weights)."""
    step, total = step - start, total - start
    if step < warmup:
        return (step + 1) / warmup
    if min_ratio >= 1.0:
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def sign_sgd_rows(table: Tensor, ids: Tensor, grads: Tensor, lr: float, weight_decay: float) -> None:
    """table[u] <- table[u] * (1 - lr*wd) - lr * sign(sum of grads of rows with id u), for touched ids u."""
    unique, inverse = torch.unique(ids.long(), return_inverse=True)
    summed = torch.zeros(len(unique), grads.shape[-1], dtype=torch.float32, device=grads.device)
    # index_put_ with accumulate sums duplicates in a fixed order on CUDA (index_add_ uses atomics), so every
    # DDP rank, holding the same gathered ids and gradients, computes bit-identical rows.
    summed.index_put_((inverse,), grads.float(), accumulate=True)
    rows = table[unique]
    table[unique] = (rows * (1 - lr * weight_decay) - lr * torch.sign(summed)).to(table.dtype)


class EMA:
    """shadow <- rate * shadow + (1 - rate) * param, after every optimiser step."""

    def __init__(self, model: torch.nn.Module, rate: float):
        self.rate = rate
        self.shadow = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, p in model.named_parameters():
            if k in self.shadow:
                self.shadow[k].lerp_(p.detach(), 1 - self.rate)

    def state_dict_for(self, model: torch.nn.Module) -> dict:
        """The model's full state dict with EMA weights in place of the parameters."""
        state = dict(model.state_dict())
        state.update(self.shadow)
        return state
