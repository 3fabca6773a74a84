"""Tests of the exact Sudoku solver, rating and generator (``hrm_sdk.tasks.sudoku.exact``).

    python -m pytest tests/test_sudoku_solver.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hrm_sdk.tasks.sudoku import exact as ss

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sudoku"


def cells(text: str) -> np.ndarray:
    return np.frombuffer(text.replace(".", "0").encode(), np.uint8) - ord("0")


def read_lines(name: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` (puzzles, solutions, guesses) of a shared collection; skips if it is absent."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with open(path, encoding="utf-8") as f:
        rows = [next(f).split() for _ in range(n)]
    return (np.stack([cells(p) for p, _, _ in rows]), np.stack([cells(s) for _, s, _ in rows]),
            np.array([int(g) for _, _, g in rows]))


def is_valid_solution(puzzle: np.ndarray, solution: np.ndarray) -> bool:
    g = solution.reshape(9, 9).astype(int)
    boxes = g.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3).reshape(9, 9)
    units_ok = all((np.sort(a, axis=1) == np.arange(1, 10)).all() for a in (g, g.T, boxes))
    givens = puzzle.ravel() > 0
    return units_ok and (puzzle.ravel()[givens] == solution.ravel()[givens]).all()


@pytest.fixture(scope="module")
def hard():
    return read_lines("hard-test.txt", 20)


def test_solves_known_puzzles(hard):
    puzzles, solutions, _ = hard
    for p, s in zip(puzzles, solutions):
        got = ss.solve(p)
        assert got is not None and got.dtype == np.uint8 and got.shape == (81,)
        assert (got == s).all()
        assert ss.count_solutions(p) == 1


def test_batch_and_shapes(hard):
    puzzles, solutions, guesses = hard
    sols, counts, g = ss.solve_batch(puzzles)
    assert sols.shape == (20, 81) and counts.dtype == np.int32 and g.dtype == np.int32
    assert (sols == solutions).all() and (counts == 1).all()
    assert (ss.solve(puzzles[0].reshape(9, 9)) == solutions[0]).all()
    assert (ss.solve(puzzles[:3].reshape(3, 9, 9)) == solutions[:3]).all()
    assert (ss.count_solutions(puzzles[:3]) == 1).all()
    assert ss.solve(puzzles[0].astype(np.int64)) is not None


def test_rate_matches_file(hard):
    puzzles, _, guesses = hard
    assert [ss.rate(p) for p in puzzles] == guesses.tolist()
    p17, _, g17 = read_lines("17-clue.txt", 50)
    assert (ss.rate(p17) == g17).all()


def test_empty_grid_has_many_solutions():
    empty = np.zeros(81, np.uint8)
    assert ss.count_solutions(empty, limit=2) == 2
    assert ss.count_solutions(empty, limit=5) == 5
    assert is_valid_solution(empty, ss.solve(empty))


@pytest.mark.parametrize("a,b", [(0, 8), (0, 72), (0, 20)])  # same row, column, box
def test_contradictory_givens(a, b):
    p = np.zeros(81, np.uint8)
    p[a] = p[b] = 5
    assert ss.count_solutions(p) == 0
    assert ss.solve(p) is None
    sols, counts, _ = ss.solve_batch(p[None])
    assert counts[0] == 0 and not sols.any()
    ss.rate(p)  # must not crash


def test_consistent_but_unsolvable(hard):
    # Row 0 holds 1..8 and column 0 a 9: no duplicate in any unit, yet cell 0 has no candidate.
    p = np.zeros(81, np.uint8)
    p[1:9] = np.arange(1, 9)
    p[27] = 9
    assert ss.count_solutions(p) == 0 and ss.solve(p) is None
    # A wrong digit in a blank of a unique puzzle that breaks no unit: only search can rule it out.
    puzzle, solution = hard[0][0], hard[1][0]
    grid = puzzle.reshape(9, 9)
    for c in np.flatnonzero(puzzle == 0):
        r, k = divmod(int(c), 9)
        seen = set(grid[r]) | set(grid[:, k]) | set(grid[r // 3 * 3:r // 3 * 3 + 3, k // 3 * 3:k // 3 * 3 + 3].ravel())
        free = [d for d in range(1, 10) if d not in seen and d != solution[c]]
        if free:
            bad = puzzle.copy()
            bad[c] = free[0]
            assert ss.count_solutions(bad) == 0
            break
    else:
        pytest.fail("no blank with a consistent wrong digit")


def test_bad_input():
    with pytest.raises(ValueError):
        ss.solve(np.zeros(80, np.uint8))
    with pytest.raises(ValueError):
        ss.solve(np.full(81, 10, np.uint8))
    with pytest.raises(ValueError):
        ss.count_solutions(np.zeros(81, np.uint8), limit=0)


def test_generator_unique_minimal_reproducible():
    p, s, g = ss.generate_many(123, 5)
    p2, s2, g2 = ss.generate_many(123, 5)
    assert (p == p2).all() and (s == s2).all() and (g == g2).all()
    assert p.dtype == np.uint8 and s.dtype == np.uint8 and g.dtype == np.int32
    assert (ss.count_solutions(p) == 1).all() and (ss.rate(p) == g).all()
    for puzzle, solution in zip(p, s):
        assert is_valid_solution(puzzle, solution)
        for c in np.flatnonzero(puzzle):  # minimal: every clue is needed
            q = puzzle.copy()
            q[c] = 0
            assert ss.count_solutions(q) == 2
    a = ss.generate(np.random.default_rng(7))
    b = ss.generate(np.random.default_rng(7))
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert not (ss.generate_many(124, 1)[0] == p[0]).all()


@pytest.mark.parametrize("level", ["easy", "medium", "hard", (4, 6)])
def test_generator_levels(level):
    lo, hi = ss.LEVELS[level] if isinstance(level, str) else level
    p, s, g = ss.generate_many(5, 4, difficulty=level)
    assert ((g >= lo) & (g <= hi)).all()
    assert (ss.rate(p) == g).all() and (ss.count_solutions(p) == 1).all()
    puzzle, solution = ss.generate(np.random.default_rng(1), level)
    assert lo <= ss.rate(puzzle) <= hi and (ss.solve(puzzle) == solution).all()


def test_generator_errors():
    with pytest.raises(ValueError):
        ss.generate_many(0, 1, difficulty="impossible")
    with pytest.raises(RuntimeError, match="attempts"):
        ss.generate_many(0, 1, difficulty=(5000, 6000), max_tries=2)


def test_repair_on_worker_processes_matches_one_process():
    """guided_search_many on 2 worker processes gives exactly the sequential searches' results."""
    from hrm_sdk.tasks.sudoku import exact
    from solvers.sudoku_search import PARALLEL_MIN, guided_search, guided_search_many

    puzzles, _, _ = exact.generate_many(seed=5, n=PARALLEL_MIN, difficulty="hard")
    rng = np.random.default_rng(0)
    jobs = [(p, rng.dirichlet(np.ones(9), size=81)) for p in puzzles]
    parallel = guided_search_many(jobs, max_nodes=300, workers=2)
    for (p, probs), (found, used) in zip(jobs, parallel):
        want, want_used = guided_search(p, probs, 300)
        assert used == want_used
        assert (found is None and want is None) or np.array_equal(found, want)
