"""ARC evaluation: vote over the augmented versions of each test input, score pass@k, write a submission.

A model sees every evaluation test input once per version of its task (the ``test`` split of
``hrm_sdk.tasks.arc.build``). Each prediction is cropped (``arc.crop_shapes``), de-augmented (inverse dihedral,
then inverse colour map) and counted as one vote for that grid in its (task id, test index) group, with the
prediction's ``sigmoid(q_halt)`` as its confidence. Candidates rank by (votes, mean confidence), descending;
the top ``k`` are the attempts. An empty crop is not a grid and casts no vote.

Scoring is the official fractional one: a task scores the fraction of its test inputs whose true output is
among the attempts, and the score is the mean over tasks (pass@2 is the ARC Prize metric).

Usage::

    ev = ArcEvaluator(read_split("data/arc-1/test"))
    for rows in batches:                          # indices into the test split
        ev.add(rows, predicted_tokens, q_halt)    # uint8/int [n, 900], float [n] (logits)
    ev.metrics()                                  # {"pass@1": ..., "pass@2": ...}
    json.dump(ev.submission(), open("submission.json", "w"))
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

from .data import INVERSE_DIHEDRAL, Augmentation, VersionTable, crop_shapes, dihedral
from ...voting import Candidate, Tally, sigmoid as _sigmoid  # noqa: F401 (Candidate: the ranked entries)
from ...data.dataset import Split

log = logging.getLogger(__name__)

Key = tuple  # (task id or index, test index)


Ranked = dict  # Key -> list[Candidate], best first


class VoteTally(Tally):
    """Votes per (task, test index): distinct grids with their vote count and summed confidence."""

    def add(self, key: Key, grid: np.ndarray, confidence: float) -> None:
        super().add(key, grid, confidence, dtype=np.uint8)


def deaugment(pred_tokens: np.ndarray, dihedrals: np.ndarray, perms: np.ndarray) -> list[np.ndarray | None]:
    """Crop each predicted canvas [n, 900] and undo its version (dihedrals [n], perms [n, 10]); None if empty."""
    pred = np.asarray(pred_tokens).reshape(len(pred_tokens), 30, 30)
    shapes = crop_shapes(pred.reshape(len(pred), -1))
    inverse_perms = np.argsort(np.asarray(perms), axis=1).astype(np.uint8)
    grids = []
    for k, (h, w) in enumerate(shapes):
        if h == 0:
            grids.append(None)
            continue
        colours = (pred[k, :h, :w] - 2).astype(np.uint8)
        grids.append(inverse_perms[k][dihedral(colours, INVERSE_DIHEDRAL[int(dihedrals[k])])])
    return grids


def _version_maps(versions: np.ndarray, augmentations: VersionTable | Sequence[Augmentation]):
    """Dihedral ids [n] and colour maps [n, 10] of the given versions."""
    if isinstance(augmentations, VersionTable):
        return augmentations.dihedral[versions], augmentations.perm[versions]
    augs = [augmentations[int(v)] for v in versions]
    perms = np.stack([a.perm for a in augs]) if augs else np.zeros((0, 10), np.uint8)
    return np.array([a.dihedral for a in augs], dtype=np.int64), perms


def add_votes(tally: VoteTally, task_ids: Sequence, test_idx: Sequence[int], versions: Sequence[int],
              pred_tokens: np.ndarray, q_halt: np.ndarray,
              augmentations: VersionTable | Sequence[Augmentation]) -> None:
    """Tally a batch of predictions (see ``vote``)."""
    dihedrals, perms = _version_maps(np.asarray(versions, dtype=np.int64), augmentations)
    confidence = _sigmoid(q_halt)
    for k, grid in enumerate(deaugment(pred_tokens, dihedrals, perms)):
        if grid is not None:
            tally.add((task_ids[k], int(test_idx[k])), grid, confidence[k])


def vote(task_ids: Sequence, test_idx: Sequence[int], versions: Sequence[int], pred_tokens: np.ndarray,
         q_halt: np.ndarray, augmentations: VersionTable | Sequence[Augmentation]) -> Ranked:
    """Rank de-augmented predictions; row k is test ``test_idx[k]`` of task ``task_ids[k]`` under version
    ``versions[k]``, with ``augmentations[v]`` the ``Augmentation`` of version v (a ``VersionTable`` works too).
    q_halt are logits. -> {(task, test index): [Candidate(grid, count, mean_q), ...] best first}.
    """
    tally = VoteTally()
    add_votes(tally, task_ids, test_idx, versions, pred_tokens, q_halt, augmentations)
    return tally.ranked()


def task_scores(ranked: Ranked, truths: dict, k: int = 2) -> dict:
    """Each task's official score: the fraction of its test inputs solved within k attempts.

    ``truths`` maps (task, test index) to the true grid; unknown truths (None) are left out.
    """
    per_task: dict = {}
    for key, truth in truths.items():
        if truth is None:
            continue
        attempts = [c.grid for c in ranked.get(key, [])[:k]]
        hit = any(g.shape == truth.shape and (g == truth).all() for g in attempts)
        per_task.setdefault(key[0], []).append(hit)
    return {task: float(np.mean(hits)) for task, hits in per_task.items()}


def score(ranked: Ranked, truths: dict, k: int = 2) -> float:
    """Official fractional pass@k: the mean over tasks of ``task_scores``. NaN when no truth is known."""
    per_task = task_scores(ranked, truths, k)
    return float(np.mean(list(per_task.values()))) if per_task else math.nan


def submission(ranked: Ranked, attempts: int = 2, num_tests: dict | None = None) -> dict:
    """ARC Prize shape: ``{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}`` one entry per test input.

    ``num_tests`` (task -> count) lists test inputs that got no valid prediction; missing attempts are [[0]].
    """
    counts: dict = dict(num_tests or {})
    for task, j in ranked:
        counts[task] = max(counts.get(task, 0), j + 1)
    out = {}
    for task in sorted(counts):
        entries = []
        for j in range(counts[task]):
            cands = ranked.get((task, j), [])
            entries.append({f"attempt_{a + 1}": cands[a].grid.tolist() if a < len(cands) else [[0]]
                            for a in range(attempts)})
        out[task] = entries
    return out


class ArcEvaluator:
    """Voting, scoring and submission over the ``test`` split of an ARC dataset, fed batch by batch."""

    def __init__(self, split: Split):
        a = split.arrays
        self.task_ids = list(split.meta.extra["tasks"])
        self.versions = VersionTable.from_split(split)
        self.row_task, self.row_test, self.row_version = (np.asarray(a[k]) for k in ("test_task", "test_index",
                                                                                      "test_version"))
        self._truth = (np.asarray(a["truth_task"]), np.asarray(a["truth_index"]), np.asarray(a["truth_output"]),
                       np.asarray(a["truth_shape"]))
        self.tally = VoteTally()

    def restrict(self, task_indices: np.ndarray) -> np.ndarray:
        """Score only these tasks (indices into the split's task list); -> the rows that belong to them."""
        keep = np.isin(self._truth[0], task_indices)
        self._truth = tuple(x[keep] for x in self._truth)
        return np.flatnonzero(np.isin(self.row_task, task_indices))

    def add(self, rows: np.ndarray, pred_tokens: np.ndarray, q_halt: np.ndarray) -> None:
        """Predictions for test-split ``rows``: tokens [n, 900] (argmax) and q_halt logits [n]."""
        rows = np.asarray(rows, dtype=np.int64)
        tasks = [self.task_ids[i] for i in self.row_task[rows]]
        add_votes(self.tally, tasks, self.row_test[rows], self.row_version[rows], pred_tokens, q_halt, self.versions)

    def ranked(self) -> Ranked:
        return self.tally.ranked()

    def truths(self) -> dict:
        """(task id, test index) -> true output grid, or None when the split does not know it."""
        task, index, grids, shapes = self._truth
        return {(self.task_ids[t], int(j)): (g[:h, :w].copy() if h else None)
                for t, j, g, (h, w) in zip(task, index, grids, shapes)}

    def num_tests(self) -> dict:
        task, index = self._truth[:2]
        counts: dict = {}
        for t, j in zip(task, index):
            counts[self.task_ids[t]] = max(counts.get(self.task_ids[t], 0), int(j) + 1)
        return counts

    def metrics(self, ks: Sequence[int] = (1, 2)) -> dict[str, float]:
        ranked, truths = self.ranked(), self.truths()
        return {f"pass@{k}": score(ranked, truths, k) for k in ks}

    def per_task(self, ks: Sequence[int] = (1, 2)) -> list[dict]:
        """One record per scored task, in the split's task order: its index in the split's task list (training
        tasks first, so ARC-AGI-1 evaluation task i is index 400 + i), id and pass@k fractions (so that any
        subset of the tasks can be re-scored from an evaluation's output)."""
        ranked, truths = self.ranked(), self.truths()
        scores = {k: task_scores(ranked, truths, k) for k in ks}
        return [{"index": i, "task": t, **{f"pass@{k}": scores[k][t] for k in ks}}
                for i, t in enumerate(self.task_ids) if t in scores[ks[0]]]

    def submission(self, attempts: int = 2) -> dict:
        return submission(self.ranked(), attempts, self.num_tests())
