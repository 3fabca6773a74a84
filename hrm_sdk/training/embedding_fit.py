"""Test-time puzzle-embedding fitting: give a frozen model embeddings for puzzle identifiers it never saw.

The reference HRM/TRM models answer ARC tasks only through puzzle embeddings learned in training, so a new
task gets nothing useful. Here the network stays frozen and only a small table of new embeddings (one row per
augmented version of the task) is trained on the task's demonstration pairs, with the same deep supervision
as training: rows stay in flight across segments (carry detached), one Adam step per segment, and a row
restarts with a new demonstration after ``segments`` segments. Deterministic for a fixed seed on the CPU. On a
GPU the frozen network runs under bf16 autocast, as in training (the table and Adam stay fp32).

Several tasks can be fitted in one call (``groups``: the task of each row): every task then keeps its own
``batch_size`` rows in flight, so each gets the same number of rows per step as when fitted alone, while the
GPU sees one batch of ``batch_size x tasks`` rows instead of many small ones. A row's loss reaches only its own
embedding, and Adam's update does not depend on the loss scale, so the tasks do not interact.

    table, losses = fit_puzzle_embeddings(model, inputs, labels, versions, num_versions=8, steps=200)

Fine-tuning (``tune="all"``): the network's weights train too (AdamW at ``net_lr``, the table at ``lr``), for one
task at a time (its weights are its own). ``holdout`` marks rows that are never trained on (a demonstration pair
held out under every version); every ``eval_every`` steps their loss after ``segments`` segments from fresh
states is measured, the best state so far (table and weights) is kept, and fitting stops after ``patience``
evaluations without improvement. The model itself is unchanged afterwards: the tuned weights come back in
``FitResult.network`` (``TorchBackend.network_weights`` runs with them). A loss that turns non-finite, or a
training loss that ends more than 10% above where it started, raises ``FitError``: such a fit is never used
for an answer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import FitError, HRMError
from .losses import token_losses

TUNE = ("embedding", "all")  # what fitting trains: the embeddings alone, or the whole network with them


@dataclass
class FitResult:
    table: torch.Tensor  # [num_versions, hidden]
    losses: list  # mean token loss per optimisation step
    group_losses: np.ndarray  # [steps, groups]: the same per task (group), in the order of np.unique(groups)
    network: dict | None = None  # tune="all": the tuned weights (name -> tensor) of the best state; else None
    best_step: int | None = None  # with a holdout: the step whose state was kept
    holdout: list | None = None  # with a holdout: (step, loss, exact share) per evaluation


def trained_rows(table: torch.Tensor) -> torch.Tensor:
    """[rows] bool: the rows that were trained. Rows start at zero and only the rows a batch touches are updated,
    so all-zero rows were never trained (the blank row, and in a training-only ARC model every evaluation task's
    versions)."""
    return table.abs().sum(-1) > 0


def starting_embedding(table: torch.Tensor) -> torch.Tensor:
    """[1, hidden]: the mean of the table's trained rows (averaging in the untrained, all-zero ones would shrink
    the start towards zero)."""
    trained = table[trained_rows(table)].float()
    return trained.mean(0, keepdim=True) if len(trained) else torch.zeros(1, table.shape[-1])


def fitted_only(model):
    """A copy of `model` for the fitted route alone: its puzzle-embedding table shrunk to two rows, the blank
    (zero) row and ``starting_embedding`` of the full table, so fitting starts from exactly where it would with
    the full table. A training-only ARC model's table is 10M values that the fitted route reads only through
    that mean; without it the network ships in a quarter of the file. -> (model, number of trained rows)."""
    import dataclasses

    from ..model import HRM

    table = model.puzzle_emb.detach()
    n_trained = int(trained_rows(table).sum())
    slim = HRM(dataclasses.replace(model.config, num_puzzle_ids=2))
    state = {k: v for k, v in model.state_dict().items() if k != "puzzle_emb"}
    state["puzzle_emb"] = torch.cat([torch.zeros(1, table.shape[-1]), starting_embedding(table.cpu())])
    slim.load_state_dict(state)
    return slim.eval(), n_trained


def _holdout_score(model, inputs, labels, vecs, segments: int, loss: str, amp, segment_fn, device):
    """(mean per-row loss, share of rows exactly right) of held-out rows after ``segments`` segments from fresh
    states, without gradients."""
    with torch.no_grad(), amp:
        carry = model.initial_carry(len(inputs), device=device, seq_len=inputs.shape[1])
        tok = torch.as_tensor(inputs, device=device)
        lab = torch.as_tensor(labels, device=device).long()
        for _ in range(segments):
            carry, out = model.step(carry, {"tokens": tok, "puzzle_ids": None}, puzzle_vectors=vecs,
                                    segment_fn=segment_fn)
            carry.halted = torch.zeros(len(inputs), dtype=torch.bool, device=device)
        logits = out.logits.float()
        per_row = token_losses(logits, lab, loss).sum(-1) / (lab != 0).sum(-1).clamp(min=1)
        exact = ((logits.argmax(-1) == lab) | (lab == 0)).all(-1)
    return float(per_row.mean()), float(exact.float().mean())


def fit_puzzle_embeddings(model, inputs: np.ndarray, labels: np.ndarray, versions: np.ndarray, num_versions: int,
                          steps: int = 200, lr: float = 1e-2, batch_size: int = 16, segments: int = 4,
                          seed: int = 0, loss: str = "softmax", device=None, groups: np.ndarray | None = None,
                          bf16: bool = True, segment_fn=None, tune: str = "embedding", net_lr: float = 1e-4,
                          holdout: np.ndarray | None = None, eval_every: int = 20, patience: int = 3) -> FitResult:
    """Fit `num_versions` embeddings on (inputs, labels) rows, row i belonging to version versions[i] (and to
    task groups[i], when several tasks are fitted together). ``segment_fn`` replaces ``model.segment`` (a
    ``torch.compile``d one: the batch shape stays fixed, so it compiles once). ``tune``, ``net_lr``,
    ``holdout``, ``eval_every`` and ``patience``: see the module's docstring."""
    if tune not in TUNE:
        raise HRMError(f"tune={tune!r}: use one of {', '.join(TUNE)}")
    if tune == "all" and groups is not None and len(np.unique(groups)) > 1:
        raise HRMError("tune='all' fits one task at a time (each task gets weights of its own)")
    device = torch.device(device or next(model.parameters()).device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if (bf16 and device.type == "cuda") else contextlib.nullcontext()
    gen = np.random.default_rng(seed)
    torch_gen = torch.Generator().manual_seed(seed)
    held = np.zeros(len(inputs), dtype=bool) if holdout is None else np.asarray(holdout, dtype=bool)
    if held.all():
        raise HRMError("every row is held out: nothing to fit on")
    was_training = model.training
    model.eval()
    net = {n: p for n, p in model.named_parameters() if n != "puzzle_emb"} if tune == "all" else {}
    original = {n: p.detach().clone() for n, p in net.items()}
    for n, p in model.named_parameters():
        p.requires_grad_(n in net)
    init = starting_embedding(model.puzzle_emb.detach()).to(device).expand(num_versions, -1)
    table = (init + 0.01 * torch.randn(init.shape, generator=torch_gen).to(device)).clone().requires_grad_(True)
    opt = torch.optim.Adam([table], lr=lr)
    net_opt = torch.optim.AdamW(list(net.values()), lr=net_lr, weight_decay=0.0) if net else None
    groups = np.zeros(len(inputs), dtype=np.int64) if groups is None else np.asarray(groups)
    members = [np.flatnonzero((groups == g) & ~held) for g in np.unique(groups)]
    per = [min(batch_size, len(m)) for m in members]
    slot_group = np.repeat(np.arange(len(members)), per)  # slot i always holds a row of task slot_group[i]
    rows = np.concatenate([m[gen.choice(len(m), k, replace=False)] for m, k in zip(members, per)])
    B = len(rows)
    carry = model.initial_carry(B, device=device, seq_len=inputs.shape[1])
    age = np.zeros(B, dtype=np.int64)
    losses, group_losses, scores = [], [], []
    slot_group_t = torch.as_tensor(slot_group, device=device)
    best = None  # (loss, step, table, weights) of the best held-out evaluation
    held_rows = np.flatnonzero(held)

    def evaluate(step: int) -> bool:
        """Score the held-out rows, keep the best state; False once `patience` evaluations brought nothing."""
        nonlocal best
        vecs = table.detach()[torch.as_tensor(versions[held_rows], device=device).long()]
        score, exact = _holdout_score(model, inputs[held_rows], labels[held_rows], vecs, segments, loss, amp,
                                      segment_fn, device)
        if not np.isfinite(score):
            raise FitError(f"fitting failed: the held-out loss is {score} at step {step}")
        scores.append((step, round(score, 5), round(exact, 4)))
        if best is None or score < best[0]:
            best = (score, step, table.detach().clone(), {n: p.detach().clone() for n, p in net.items()})
        return step - best[1] < patience * eval_every

    stopped = False
    try:
        for step in range(steps):
            if len(held_rows) and step % eval_every == 0 and not evaluate(step):
                stopped = True
                break
            expired = age >= segments
            if expired.any():
                for g, m in enumerate(members):
                    hit = expired & (slot_group == g)
                    if hit.any():
                        rows[hit] = m[gen.choice(len(m), int(hit.sum()))]
                age[expired] = 0
                carry.halted = torch.as_tensor(expired, device=device)
            tok = torch.as_tensor(inputs[rows], device=device)
            lab = torch.as_tensor(labels[rows], device=device).long()
            vec = table[torch.as_tensor(versions[rows], device=device).long()]
            with torch.enable_grad(), amp:
                carry, out = model.step(carry, {"tokens": tok, "puzzle_ids": None}, puzzle_vectors=vec,
                                        segment_fn=segment_fn)
                per_row = token_losses(out.logits.float(), lab, loss).sum(-1) / (lab != 0).sum(-1).clamp(min=1)
                step_loss = per_row.mean()
                opt.zero_grad()
                if net_opt is not None:
                    net_opt.zero_grad()
                step_loss.backward()
            value = float(step_loss.detach())
            if not np.isfinite(value):
                raise FitError(f"fitting failed: the loss is {value} at step {step}")
            opt.step()
            if net_opt is not None:
                torch.nn.utils.clip_grad_norm_(list(net.values()), 1.0)
                net_opt.step()
            carry.halted = torch.zeros(B, dtype=torch.bool, device=device)
            age += 1
            losses.append(value)
            sums = torch.zeros(len(members), device=device).index_add_(0, slot_group_t, per_row.detach().float())
            group_losses.append((sums.cpu().numpy() / np.asarray(per)).tolist())
        if len(held_rows) and not stopped:
            evaluate(len(losses))
        k = min(10, len(losses) // 4)  # a rise beyond batch-to-batch noise: the mean of the last k steps 10% above
        if k >= 2 and np.mean(losses[-k:]) > 1.1 * np.mean(losses[:k]):  # the first k's
            raise FitError(f"fitting failed: the training loss rose from {np.mean(losses[:k]):.4f} to "
                           f"{np.mean(losses[-k:]):.4f} over {len(losses)} steps")
        final_table = best[2] if best is not None else table.detach()
        network = (best[3] if best is not None else {n: p.detach().clone() for n, p in net.items()}) if net else None
    finally:
        with torch.no_grad():
            for n, p in net.items():
                p.copy_(original[n])
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    return FitResult(table=final_table, losses=losses,
                     group_losses=np.asarray(group_losses).reshape(-1, len(members)), network=network,
                     best_step=best[1] if best is not None else None, holdout=scores or None)
