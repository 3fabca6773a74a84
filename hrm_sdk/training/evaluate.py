"""Evaluation of a PyTorch model on a dataset split, as the trainer runs it periodically.

Every puzzle runs all ``halt_max_steps`` segments (the reference protocol); from the per-segment outputs it
also reports what ACT halting would have given (stop at the first segment with q_halt > q_continue) and the
exact accuracy at fixed segment budgets 1, 2, 4, 8, 16 (``hrm_sdk.metrics.BUDGETS``, the same as
``hrm eval``). The task's own answer checks (``hrm_sdk.tasks.Task.answer_checks``; Maze: the share of answers at
ACT halting that mark a valid shortest path, any of them, not only the benchmark's) are added as rates.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..metrics import BUDGETS


@torch.no_grad()
def evaluate_model(model, inputs: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray, batch_size: int,
                   device, bf16: bool = False, segment_fn=None, task: str | None = None,
                   should_stop=None) -> dict | None:
    """-> metric *sums* and count (so ranks can add them); `finalize` turns them into rates. ``should_stop``
    (a callable) is asked before every segment; when it says yes the evaluation is abandoned and None returned."""
    c = model.config
    was_training = model.training
    model.eval()
    M = c.halt_max_steps
    budgets = [b for b in BUDGETS if b <= M]
    sums = {"count": 0.0, "exact": 0.0, "token": 0.0, "halt_correct": 0.0, "act_exact": 0.0, "act_steps": 0.0}
    sums.update({f"exact@{b}": 0.0 for b in budgets})
    spec = None
    if task is not None:
        from .. import tasks

        spec = tasks.get(task)
        sums.update({f"check_{name}": 0.0 for name in spec.answer_check_names})
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if (bf16 and device.type == "cuda") else contextlib.nullcontext()
    dtype = torch.bfloat16 if (bf16 and device.type == "cuda") else torch.float32
    for start in range(0, len(inputs), batch_size):
        tok = torch.as_tensor(np.array(inputs[start:start + batch_size]), device=device)
        lab = torch.as_tensor(np.array(labels[start:start + batch_size]), device=device).long()
        ids = torch.as_tensor(np.array(puzzle_ids[start:start + batch_size]), device=device)
        n = len(tok)
        mask = lab != 0
        carry = model.initial_carry(n, device=device, dtype=dtype, seq_len=tok.shape[1])
        batch = {"tokens": tok, "puzzle_ids": ids}
        act_done = torch.zeros(n, dtype=torch.bool, device=device)
        act_exact = torch.zeros(n, dtype=torch.bool, device=device)
        act_steps = torch.full((n,), M, dtype=torch.long, device=device)
        act_pred = torch.zeros_like(lab)
        for s in range(1, M + 1):
            if should_stop is not None and should_stop():
                model.train(was_training)
                return None
            with amp:
                carry, out = model.step(carry, batch, segment_fn=segment_fn)
            pred = out.logits.argmax(-1)
            exact = ((pred == lab) | ~mask).all(-1)
            if s in budgets:
                sums[f"exact@{s}"] += exact.sum().item()
            stop = (~act_done) & ((out.q_halt > out.q_continue) | (s == M))
            act_exact = torch.where(stop, exact, act_exact)
            act_steps = torch.where(stop, s, act_steps)
            act_pred = torch.where(stop[:, None], pred, act_pred)
            act_done |= stop
        token = (((pred == lab) & mask).sum(-1) / mask.sum(-1).clamp(min=1))
        sums["count"] += n
        sums["exact"] += exact.sum().item()
        sums["token"] += token.sum().item()
        sums["halt_correct"] += ((out.q_halt >= 0) == exact).sum().item()
        sums["act_exact"] += act_exact.sum().item()
        sums["act_steps"] += act_steps.sum().item()
        if spec is not None:
            answers = act_pred.cpu().numpy().astype(np.uint8)
            for name, ok in spec.answer_checks(np.asarray(inputs[start:start + n]), answers).items():
                sums[f"check_{name}"] += float(ok.sum())
    model.train(was_training)
    return sums


def finalize(sums: dict) -> dict:
    n = max(sums["count"], 1.0)
    out = {
        "eval/count": int(sums["count"]),
        "eval/exact_accuracy": sums["exact"] / n,
        "eval/accuracy": sums["token"] / n,
        "eval/q_halt_accuracy": sums["halt_correct"] / n,
        "eval/act_exact_accuracy": sums["act_exact"] / n,
        "eval/act_steps": sums["act_steps"] / n,
    }
    out.update({f"eval/exact@{k.split('@')[1]}": v / n for k, v in sums.items() if k.startswith("exact@")})
    out.update({f"eval/act_{k[len('check_'):]}": v / n for k, v in sums.items() if k.startswith("check_")})
    return out
