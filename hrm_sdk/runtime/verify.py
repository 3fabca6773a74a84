"""Compare two backends segment by segment on the same puzzles (in the spirit of ``polygraphy run --onnxrt --trt``).

Both backends run every puzzle for ``max_steps`` segments in lockstep; after each segment the logits and Q
values are compared. Each backend's own halting decision (first segment with q_halt > q_continue) and its
prediction at that segment are then compared puzzle by puzzle.

What to expect: the recurrence contracts onto a fixed point for puzzles the model solves (they halt by Q),
so two backends stay within rounding of each other there. For puzzles it does not solve the trajectory is
chaotic: rounding differences of 1e-4 in the first segment can grow to whole logits after 16 segments, so
those puzzles may end on different (wrong) answers. ``converged_agreement`` is the strict measure;
``first_segment_max_abs_logits`` catches systematic export errors before any amplification.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .act import ACTPolicy
from .backends.base import Backend


@dataclass
class Comparison:
    a: str
    b: str
    puzzles: int
    segments: int
    first_segment_max_abs_logits: float  # after one segment: rounding only, before the recurrence amplifies it
    first_segment_logit_scale: float  # max |logits| after one segment, to read the line above against
    max_abs_logits: float  # over every segment, row and position
    max_abs_q: float
    converged: int  # puzzles that halt by Q on backend a (the answers a solver reports)
    converged_agreement: float  # of those, identical halting segment and prediction on backend b
    prediction_agreement: float  # puzzles whose predictions at their halting segment are identical
    halting_agreement: float  # puzzles that halt at the same segment on both backends
    final_cell_agreement: float  # cells equal after the last segment
    mismatched: list = field(default_factory=list)  # indices of puzzles that disagree in prediction or halting

    @property
    def identical(self) -> bool:
        return self.prediction_agreement == 1.0 and self.halting_agreement == 1.0 and self.converged_agreement == 1.0

    def to_dict(self) -> dict:
        return asdict(self) | {"identical": self.identical}


def _halting(q_halt: np.ndarray, q_cont: np.ndarray, min_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """[S, n] Q values per segment -> (1-based segment each row halts at, whether Q halted it)."""
    S = len(q_halt)
    stop = (q_halt > q_cont) & (np.arange(1, S + 1)[:, None] >= min_steps)
    by_q = stop.any(0)
    stop[-1] = True
    return stop.argmax(0) + 1, by_q


def compare(a: Backend, b: Backend, items: list[tuple[np.ndarray, int]], batch_size: int = 64,
            policy: ACTPolicy | None = None) -> Comparison:
    min_steps, max_steps = (policy or ACTPolicy()).resolve(a.meta.halt_max_steps)
    max_logit = max_q = first_logit = first_scale = 0.0
    runs = {"a": ([], [], [], []), "b": ([], [], [], [])}  # halting segment, by Q, prediction there, final prediction
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        n, rows = len(chunk), np.arange(len(chunk))
        tokens = np.stack([t for t, _ in chunk])
        ids = np.asarray([p for _, p in chunk], dtype=np.int32)
        for be in (a, b):
            be.allocate(batch_size if be.fixed_batch else n)
            be.load(rows, tokens, ids)
        seq = {"a": ([], [], []), "b": ([], [], [])}  # per segment: q_halt, q_continue, predictions
        for segment in range(max_steps):
            logits = {}
            for key, be in (("a", a), ("b", b)):
                q_halt, q_cont = be.step(n)
                logits[key] = be.fetch_logits(rows)
                seq[key][0].append(q_halt[:n])
                seq[key][1].append(q_cont[:n])
                seq[key][2].append(logits[key].argmax(-1))
            diff = float(np.abs(logits["a"] - logits["b"]).max())
            max_logit = max(max_logit, diff)
            if segment == 0:
                first_logit = max(first_logit, diff)
                first_scale = max(first_scale, float(np.abs(logits["a"]).max()))
            max_q = max(max_q, float(np.abs(seq["a"][0][-1] - seq["b"][0][-1]).max()),
                        float(np.abs(seq["a"][1][-1] - seq["b"][1][-1]).max()))
        for key in ("a", "b"):
            halt, by_q = _halting(np.stack(seq[key][0]), np.stack(seq[key][1]), min_steps)
            preds = np.stack(seq[key][2])  # [segments, n, seq_len]
            runs[key][0].append(halt)
            runs[key][1].append(by_q)
            runs[key][2].append(preds[halt - 1, rows])
            runs[key][3].append(preds[-1])
    (ha, qa, pa, fa), (hb, _, pb, fb) = ([np.concatenate(x) for x in runs[k]] for k in ("a", "b"))
    same_pred, same_halt = (pa == pb).all(-1), ha == hb
    same = same_pred & same_halt
    return Comparison(
        a=a.describe(), b=b.describe(), puzzles=len(items), segments=max_steps,
        first_segment_max_abs_logits=first_logit, first_segment_logit_scale=first_scale, max_abs_logits=max_logit,
        max_abs_q=max_q, converged=int(qa.sum()), converged_agreement=float(same[qa].mean()) if qa.any() else 1.0,
        prediction_agreement=float(same_pred.mean()), halting_agreement=float(same_halt.mean()),
        final_cell_agreement=float((fa == fb).mean()), mismatched=np.flatnonzero(~same).tolist())
