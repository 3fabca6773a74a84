"""Network-guided repair search for Sudoku answers that fail the check.

A depth-first search with naked-single propagation and fewest-candidates branching, where each branch tries
digits in the order of the network's probabilities. It first trusts the network's confident cells (so only
the few doubtful cells are searched), then, if that admits no solution, keeps only the givens. Both phases
share one node budget, so the cost is bounded by what the caller allows; the result is verified by the
caller like any other answer.

``guided_search_many`` runs many searches on all CPU cores (worker processes), with the same results as one after
the other: each search is deterministic and gets its own node budget.
"""

from __future__ import annotations

import os

import numpy as np

from hrm_sdk.tasks.sudoku.count import ALL, PEERS

PARALLEL_MIN = 16  # fewer searches than this run in this process: starting workers costs ~0.2 s


class _Budget:
    def __init__(self, nodes: int):
        self.left = nodes
        self.used = 0


def _candidates(cells: list[int]) -> list[int] | None:
    """Candidate bitmasks (bit d-1 for digit d) of every cell, or None if the placed digits conflict."""
    cand = [ALL] * 81
    for i, d in enumerate(cells):
        if d:
            bit = 1 << (d - 1)
            if not cand[i] & bit:
                return None
            cand[i] = bit
            for p in PEERS[i]:
                cand[p] &= ~bit
                if cells[p] == 0 and not cand[p]:
                    return None
    for i, d in enumerate(cells):
        if d and any(cells[p] == d for p in PEERS[i]):
            return None
    return cand


def _search(cells: list[int], order: np.ndarray, budget: _Budget) -> list[int] | None:
    budget.used += 1
    budget.left -= 1
    if budget.left < 0:
        return None
    cand = _candidates(cells)
    if cand is None:
        return None
    cells = cells[:]
    changed = True
    while changed:  # naked singles
        changed = False
        for i in range(81):
            if cells[i] == 0:
                m = cand[i]
                if m == 0:
                    return None
                if m & (m - 1) == 0:
                    cells[i] = m.bit_length()
                    for p in PEERS[i]:
                        if cand[p] & m:
                            cand[p] &= ~m
                            if cells[p] == 0 and not cand[p]:
                                return None
                    changed = True
    blanks = [i for i in range(81) if cells[i] == 0]
    if not blanks:
        return cells
    cell = min(blanks, key=lambda i: bin(cand[i]).count("1"))
    for d in order[cell]:
        if cand[cell] & (1 << (d - 1)):
            cells[cell] = int(d)
            found = _search(cells, order, budget)
            if found is not None:
                return found
            if budget.left < 0:
                return None
    return None


def guided_search(puzzle: np.ndarray, probs: np.ndarray, max_nodes: int, trust: float = 0.9) -> tuple[np.ndarray | None, int]:
    """-> (solution or None, nodes used). `probs` is [81, 9]: the network's probability of digits 1..9."""
    puzzle = np.asarray(puzzle).reshape(81)
    order = np.argsort(-probs, axis=1) + 1  # digits by decreasing probability, per cell
    budget = _Budget(max_nodes)
    givens = [int(d) for d in puzzle]
    guess = order[:, 0]
    trusted = givens[:]
    for i in np.argsort(-probs.max(1)):
        if givens[i] == 0 and probs[i].max() >= trust:
            trusted[i] = int(guess[i])
            if _candidates(trusted) is None:  # conflicts with what is already trusted
                trusted[i] = 0
    phases = [trusted, givens] if trusted != givens else [givens]
    for start in phases:
        budget.left = max_nodes - budget.used if start is givens else max_nodes // 2
        found = _search(start, order, budget)
        if found is not None:
            return np.asarray(found, dtype=np.uint8), budget.used
        if budget.used >= max_nodes:
            break
    return None, budget.used


def _search_job(job: tuple) -> tuple[np.ndarray | None, int]:
    return guided_search(*job)


def guided_search_many(jobs: list[tuple[np.ndarray, np.ndarray]], max_nodes: int,
                       workers: int | None = None) -> list[tuple[np.ndarray | None, int]]:
    """``guided_search`` of every (puzzle, probs) job, in order; on ``workers`` processes (default: the CPUs this
    process may use) when there are at least ``PARALLEL_MIN`` jobs."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    args = [(puzzle, probs, max_nodes) for puzzle, probs in jobs]
    if workers < 2 or len(args) < PARALLEL_MIN:
        return [guided_search(*a) for a in args]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the caller may hold CUDA contexts or ONNX Runtime threads that a fork would copy
    with ProcessPoolExecutor(max_workers=min(workers, len(args)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_search_job, args, chunksize=max(1, len(args) // (4 * workers))))
