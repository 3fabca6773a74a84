"""Test-time augmentation voting: solve each puzzle under K symmetry views and vote on the answers.

A view is a validity-preserving transform the model was trained with (view 0 must be the identity). Every view
of every puzzle is one item of a single ``run_act`` stream, so the batch stays full and each view halts on
its own. Each view's prediction is mapped back to the puzzle's own frame with the caller's inverse, and the
de-augmented answers vote: identical answers form one candidate, and candidates rank by (votes, mean
``sigmoid(q_halt)`` of their votes), descending, ties going to the candidate first seen in view order. This is
network output only: no rule is checked here, that is the solver's business.

The transforms are task-specific and come in as plain functions (``hrm_sdk.tasks.get(task).view_maps(k)``);
the vote itself is ``hrm_sdk.voting.vote``::

    views = Views(k=4, apply=lambda tokens, v: ..., invert=lambda predicted, v: ...)
    for r in run_views(backend, inputs, views, batch_size=64):    # inputs: tokens [N, seq_len]
        r.answer, r.candidates[0].votes, r.predictions, r.steps, r.segments
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..voting import Candidate, sigmoid, vote  # noqa: F401 (the one vote, re-exported here)
from .act import ACTPolicy, SegmentResult, run_act
from .backends.base import Backend

TokenMap = Callable[[np.ndarray, int], np.ndarray]  # (tokens [seq_len], view index) -> tokens [seq_len]


@dataclass
class Views:
    """K views of a task: ``apply(tokens, v)`` gives what the model sees under view v, ``invert(predicted, v)``
    maps a predicted answer under view v back to the puzzle's frame. View 0 must be the identity."""

    k: int
    apply: TokenMap
    invert: TokenMap


@dataclass
class ViewResult:
    candidates: list[Candidate]  # best first; never empty
    predictions: np.ndarray  # int32 [K, seq_len]: each view's answer, de-augmented
    steps: np.ndarray  # int [K]: segments each view ran
    q_halt: np.ndarray  # float [K]: each view's q_halt logit at its halting segment
    confidence: np.ndarray  # float [K]: lowest per-position probability of each view's answer
    identity: SegmentResult = field(repr=False)  # view 0 as run_act returned it (with logits if asked)

    @property
    def answer(self) -> np.ndarray:
        """The top-voted answer."""
        return self.candidates[0].answer

    @property
    def segments(self) -> int:
        """Segments run over all views of this puzzle."""
        return int(self.steps.sum())


def run_views(backend: Backend, inputs: np.ndarray, views: Views, puzzle_ids: np.ndarray | None = None,
              batch_size: int = 64, policy: ACTPolicy | None = None, keep_logits: bool = False,
              on_puzzle: Callable[[], None] | None = None, act=run_act) -> list[ViewResult]:
    """Solve every puzzle (tokens ``[N, seq_len]``) under ``views.k`` views in one ACT stream and vote.

    Results are in input order. ``keep_logits`` keeps the identity view's logits (``ViewResult.identity``);
    ``on_puzzle`` is called once per puzzle when its last view finishes (a progress bar). ``act`` is the ACT
    loop, ``run_act`` or one with its interface (``Batcher.run_act``: the views join a shared batch).
    """
    inputs = np.asarray(inputs)
    n, k = len(inputs), views.k
    ids = np.zeros(n, np.int32) if puzzle_ids is None else np.asarray(puzzle_ids, np.int32)
    items = [(views.apply(inputs[i], v), int(ids[i])) for i in range(n) for v in range(k)]
    preds = np.zeros((n, k, inputs.shape[1]), dtype=np.int32)
    steps = np.zeros((n, k), dtype=np.int64)
    q_halt = np.zeros((n, k), dtype=np.float64)
    confidence = np.zeros((n, k), dtype=np.float64)
    identity: list[SegmentResult | None] = [None] * n
    left = np.full(n, k)
    for r in act(backend, items, batch_size, policy, keep_logits):
        i, v = divmod(r.index, k)
        preds[i, v] = views.invert(r.prediction, v)
        steps[i, v], q_halt[i, v], confidence[i, v] = r.steps, r.q_halt, float(r.confidence.min())
        if v == 0:
            r.index = i
            identity[i] = r
        left[i] -= 1
        if left[i] == 0 and on_puzzle is not None:
            on_puzzle()
    return [ViewResult(vote(preds[i], q_halt[i]), preds[i], steps[i], q_halt[i], confidence[i], identity[i])
            for i in range(n)]
