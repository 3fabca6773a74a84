"""Optimisers, the learning-rate schedule and the weight EMA.

- Weights: AdamATan2 (Everett et al., 2024; the ``adam-atan2-pytorch`` package with a=b=1, i.e. no extra
  scale) or AdamW, with decoupled weight decay. ``optimizer = "muon"`` gives the 2-D weight matrices inside the
  blocks to PyTorch's ``torch.optim.Muon`` (momentum orthogonalised by Newton-Schulz; its own rate ``muon_lr``,
  scaled by ``muon_adjust_lr``) and everything else (token embedding, heads, biases) to AdamATan2, as the
  Muon recipes do (recipes-2026: SIC for Sudoku, mdlARC's NorMuon group for ARC).
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


def build_optimizer(named_params, cfg):
    """`named_params`: the model's ``named_parameters()``; `cfg` is a TrainConfig. Every param group carries
    ``lr_scale``: the trainer sets ``lr = cfg.lr * schedule * lr_scale``."""
    named = [(n, p) for n, p in named_params if p.requires_grad]
    if cfg.optimizer != "muon":
        return _adam(cfg.optimizer, [p for _, p in named], cfg)
    hidden = [p for n, p in named if p.ndim == 2 and ".blocks." in n]
    rest = [p for n, p in named if not (p.ndim == 2 and ".blocks." in n)]
    muon = torch.optim.Muon(hidden, lr=cfg.muon_lr, weight_decay=cfg.muon_weight_decay, momentum=cfg.muon_momentum,
                            adjust_lr_fn=cfg.muon_adjust_lr)
    for group in muon.param_groups:
        group["lr_scale"] = cfg.muon_lr / cfg.lr
    return Combined({"muon": muon, "adam": _adam("adam_atan2", rest, cfg)})


def _adam(kind: str, params, cfg) -> torch.optim.Optimizer:
    if kind == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    else:
        try:
            from adam_atan2_pytorch import AdamAtan2
        except ImportError as exc:
            raise MissingExtraError("adam-atan2-pytorch", "train", f"train.optimizer = '{cfg.optimizer}'") from exc
        opt = AdamAtan2(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay, a=1.0, b=1.0)
    for group in opt.param_groups:
        group["lr_scale"] = 1.0
    return opt


class Combined:
    """Several optimisers over disjoint parameters, stepped together; the trainer sees one ``param_groups`` list
    and one state dict (``{name: state}``)."""

    def __init__(self, parts: dict[str, torch.optim.Optimizer]):
        self.parts = parts

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.parts.values() for g in opt.param_groups]

    def step(self) -> None:
        for opt in self.parts.values():
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.parts.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.parts):
            raise ValueError(f"optimiser state holds {sorted(state)}, this run's optimiser is {sorted(self.parts)}")
        for name, opt in self.parts.items():
            opt.load_state_dict(state[name])


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
