"""Issue 26: one bad puzzle never sinks a batch. Contradictory Sudokus, Sudokus without a solution (found by
the exact solver before any search) and mazes without a path get their own error results; the rest are
solved; a Sudoku with several solutions is marked ambiguous. Uses the shipped models on ONNX Runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hrm_sdk.cli.main import app
from hrm_sdk.errors import InvalidPuzzleError
from hrm_sdk.tasks import maze as mz
from hrm_sdk.tasks.sudoku import exact

LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
CLASH = LINE[:2] + "5" + LINE[3:]  # two 5s in row 1
UNSOLVABLE = "." + "12345678" + "." * 18 + "9" + "." * 53  # r1c1 has no candidate, no unit repeats a digit


def ambiguous_puzzle() -> str:
    """SOLUTION with a 'deadly rectangle' (a b / b a over two boxes) blanked: exactly two solutions."""
    g = np.frombuffer(SOLUTION.encode(), np.uint8) - 48
    g = g.reshape(9, 9)
    for r1 in range(9):
        for r2 in range(r1 + 1, 9):
            if r1 // 3 != r2 // 3:
                continue
            for c1 in range(9):
                for c2 in range(c1 + 1, 9):
                    if c1 // 3 != c2 // 3 and g[r1, c1] == g[r2, c2] and g[r1, c2] == g[r2, c1]:
                        p = g.copy()
                        p[[r1, r1, r2, r2], [c1, c2, c1, c2]] = 0
                        text = "".join(map(str, p.reshape(81))).replace("0", ".")
                        if exact.count_solutions(p.reshape(81), limit=3) == 2:
                            return text
    raise AssertionError("no deadly rectangle in SOLUTION")


@pytest.fixture(scope="module")
def sudoku_solver():
    from hrm_sdk.solvers.sudoku import SudokuSolver

    return SudokuSolver(batch_size=8)


def test_bad_sudokus_get_their_own_errors(sudoku_solver, monkeypatch):
    from hrm_sdk.solvers import sudoku_search

    seen = []
    real_run, real_search = sudoku_solver.run, sudoku_search.guided_search
    monkeypatch.setattr(sudoku_solver, "run", lambda items, *a, **k: seen.extend(items) or real_run(items, *a, **k))

    def search(cells, probs, nodes):
        assert "".join(map(str, cells)).replace("0", ".") != UNSOLVABLE, "search budget spent on an unsolvable puzzle"
        return real_search(cells, probs, nodes)

    monkeypatch.setattr(sudoku_search, "guided_search", search)
    ambiguous = ambiguous_puzzle()
    results = sudoku_solver.solve_many([LINE, CLASH, UNSOLVABLE, ambiguous, SOLUTION[:-1] + "."])
    assert len(results) == 5 and len(seen) == 3  # the two bad puzzles never reached the network
    good, clash, unsolvable, amb, last = results
    assert good.solved and good.error is None and not good.ambiguous
    assert not clash.solved and clash.error.startswith("contradictory givens: 2 5s in row 1 (r1c1, r1c3)")
    assert not unsolvable.solved and unsolvable.error.startswith("no solution")
    assert amb.ambiguous and amb.error is None and (not amb.solved or amb.grid is not None)
    assert last.solved and not last.ambiguous
    d = clash.to_dict()
    assert d["error"] and d["solved"] is False and d["solution"] is None and d["network_answer"] is None
    assert good.to_dict()["error"] is None and amb.to_dict()["ambiguous"] is True


def test_puzzle_limit_per_call(sudoku_solver, monkeypatch):
    monkeypatch.setenv("HRM_MAX_PUZZLES", "2")
    with pytest.raises(InvalidPuzzleError, match="3 puzzles in one call, over the limit of 2"):
        sudoku_solver.solve_many([LINE] * 3)


def test_cli_prints_each_error_and_exits_1(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text(f"{LINE}\n{CLASH}\n{SOLUTION[:-1]}.\n")
    r = CliRunner().invoke(app, ["solve", "sudoku", str(path), "--format", "jsonl"])
    assert r.exit_code == 1, r.stdout + r.stderr  # was 2, with nothing solved
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["solved"] for x in records] == [True, False, True]
    assert records[1]["error"].startswith("contradictory givens") and records[1]["line"] == 2
    human = CliRunner().invoke(app, ["solve", "sudoku", str(path)])
    assert human.exit_code == 1 and f"{path}:2  error: contradictory givens" in human.stdout


def no_path_maze(base: mz.Maze) -> np.ndarray:
    grid = base.grid.copy()
    r, c = base.goal
    for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        if 0 <= r + dr < grid.shape[0] and 0 <= c + dc < grid.shape[1]:
            grid[r + dr, c + dc] = mz.WALL
    return grid


def test_bad_maze_gets_its_own_error():
    from hrm_sdk.solvers.maze import MazeSolver

    base = mz.parse_file(mz.__path__[0] + "/examples.txt")[0]
    blocked = no_path_maze(base)
    results = MazeSolver(batch_size=4).solve_many([base, mz.Maze(grid=blocked), base])
    assert len(results) == 3
    assert results[1].error == "the maze has no path from S to G" and not results[1].solved
    assert results[0].error is None and results[2].error is None
    assert results[0].to_dict()["error"] is None and results[1].to_dict()["error"]
