"""Backend-agnostic accuracy measurement: exact match at fixed segment budgets and under ACT halting.

Every puzzle runs ``max_steps`` segments; after each segment the predictions are compared with the labels.
From one pass this gives the exact accuracy at budgets 1, 2, 4, 8, 16, ..., the accuracy and mean segments
when each puzzle stops at its first q_halt > q_continue (what the solvers do), and per-puzzle predictions at
that halting segment for task-specific checks (a maze's valid shortest path, say).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..metrics import BUDGETS, exact as exact_rows
from .backends.base import Backend


@dataclass
class EvalResult:
    count: int
    max_steps: int
    exact_at: dict  # budget -> exact accuracy with exactly that many segments
    act_exact: float  # exact accuracy stopping at the first q_halt > q_continue (or max_steps)
    act_steps: float  # mean segments under that rule
    token_accuracy: float  # at max_steps, over labelled positions
    seconds: float
    act_predictions: np.ndarray = field(repr=False, default=None)  # [N, seq_len] at the halting segment
    act_halt_steps: np.ndarray = field(repr=False, default=None)  # [N]

    def to_dict(self) -> dict:
        return {"count": self.count, "max_steps": self.max_steps, "act_exact": self.act_exact,
                "act_steps": self.act_steps, "token_accuracy": self.token_accuracy,
                "exact_at": {str(k): v for k, v in self.exact_at.items()}, "seconds": round(self.seconds, 2)}


def evaluate(backend: Backend, inputs: np.ndarray, labels: np.ndarray, puzzle_ids: np.ndarray | None = None,
             batch_size: int = 256, max_steps: int | None = None, progress=None) -> EvalResult:
    t0 = time.perf_counter()
    M = max_steps or backend.meta.halt_max_steps
    budgets = [b for b in BUDGETS if b <= M] + ([M] if M not in BUDGETS else [])
    n = len(inputs)
    ids = np.zeros(n, np.int32) if puzzle_ids is None else np.asarray(puzzle_ids, np.int32)
    exact_hits = {b: 0 for b in budgets}
    act_pred = np.zeros((n, inputs.shape[1]), dtype=np.int64)
    act_steps = np.full(n, M, dtype=np.int64)
    token_hits = 0.0
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(n, start + batch_size))
        k = len(rows)
        lab = np.asarray(labels[rows]).astype(np.int64)
        mask = lab != 0
        backend.allocate(batch_size if backend.fixed_batch else k)
        backend.load(np.arange(k), np.asarray(inputs[rows]), ids[rows])
        done = np.zeros(k, dtype=bool)
        for s in range(1, M + 1):
            q_halt, q_cont = backend.step(k)
            pred = backend.fetch_logits(np.arange(k)).argmax(-1)
            exact = ((pred == lab) | ~mask).all(-1)
            if s in exact_hits:
                exact_hits[s] += int(exact.sum())
            stop = ~done & ((q_halt[:k] > q_cont[:k]) | (s == M))
            act_pred[rows[stop]] = pred[stop]
            act_steps[rows[stop]] = s
            done |= stop
        token_hits += float((((pred == lab) & mask).sum(-1) / np.maximum(mask.sum(-1), 1)).sum())
        if progress is not None:
            progress(len(rows))
    act_exact = float(exact_rows(act_pred, labels).mean())
    return EvalResult(count=n, max_steps=M, exact_at={b: exact_hits[b] / n for b in budgets}, act_exact=act_exact,
                      act_steps=float(act_steps.mean()), token_accuracy=token_hits / n,
                      seconds=time.perf_counter() - t0, act_predictions=act_pred, act_halt_steps=act_steps)
