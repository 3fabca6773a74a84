"""Issue 26: one bad puzzle never sinks a batch. Malformed lines, grids, mazes, CSV records and ARC tasks,
contradictory Sudokus, Sudokus without a solution (found by the exact solver before any search) and mazes
without a path get their own error results, in input order; the rest are solved; a Sudoku with several
solutions is marked ambiguous. Uses the shipped models on ONNX Runtime (ARC: a tiny untrained model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hrm_sdk.cli.main import app
from hrm_sdk.errors import InvalidPuzzleError, PuzzleParseError
from hrm_sdk.tasks import maze as mz
from hrm_sdk.tasks import sudoku
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


# --- Malformed entries of a batch file: their own errors, the rest answered ----------------------------------

def grid_rows(line: str) -> str:
    return "\n".join(line[i:i + 9] for i in range(0, 81, 9))


MIXED = "\n".join([
    LINE,  # 1
    LINE[:80],  # 2: a cell short
    f"{LINE[:40]}x{LINE[41:]} {SOLUTION} 3",  # 3: a letter, in the collections' '<puzzle> <solution> n' format
    "",
    grid_rows(LINE),  # 5-13
    "",
    grid_rows(LINE).replace("6..195...", "6..1?5..."),  # 15-23: one bad row spoils its grid, and only it
    "",
    "\n".join(grid_rows(LINE).splitlines()[:8]),  # 25-32: a grid of 8 rows, ended by the next puzzle
    LINE,  # 33
])
MIXED_ERRORS = {2: "f.txt:2:81: expected 81 cells", 3: "f.txt:3:41: unexpected character 'x'",
                16: "f.txt:16:5: unexpected character '?'",
                33: "f.txt:33: grid ends after 8 row(s) (it starts at line 25)"}


def test_sudoku_parser_collects_bad_entries_in_order():
    items = sudoku.parse_text(MIXED, "f.txt", errors="collect")
    assert [(type(x).__name__, x.line) for x in items] == [
        ("SudokuPuzzle", 1), ("ItemError", 2), ("ItemError", 3), ("SudokuPuzzle", 5), ("ItemError", 16),
        ("ItemError", 33), ("SudokuPuzzle", 33)]
    for x in items:
        if type(x).__name__ == "ItemError":
            assert x.message.startswith(MIXED_ERRORS[x.line]) and "\n" not in x.message, x.message
    with pytest.raises(PuzzleParseError, match="^f.txt:2:81: expected 81 cells"):
        sudoku.parse_text(MIXED, "f.txt")  # the default still refuses the text at its first bad line


def test_a_file_with_no_readable_puzzle_is_still_refused(tmp_path):
    with pytest.raises(PuzzleParseError, match=r"^f.txt:1:81: .*\(and 1 more bad entries; no puzzle could be read\)"):
        sudoku.parse_text(f"{LINE[:80]}\n{LINE}x\n", "f.txt", errors="collect")
    for name, data in (("empty.txt", b" \n"), ("binary.txt", b"\x00\x01"), ("latin1.txt", b"\xe9\n")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(PuzzleParseError, match=name):
            sudoku.parse_file(tmp_path / name, errors="collect")


def test_cli_answers_the_readable_puzzles_of_a_file_with_bad_lines(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text(MIXED)
    r = CliRunner().invoke(app, ["solve", "sudoku", str(path), "--format", "jsonl"])
    assert r.exit_code == 1, r.stdout + r.stderr  # was 2: one bad line refused the whole file
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["line"] for x in records] == [1, 2, 3, 5, 16, 33, 33]
    assert [x["solved"] for x in records] == [True, False, False, True, False, False, True]
    for x in records:
        if x["error"]:
            assert x["error"].startswith(MIXED_ERRORS[x["line"]].replace("f.txt", str(path)))
            assert x["puzzle"] is None and x["solution"] is None
    assert "4 of 7 puzzles not solved (4 of them refused with an error" in r.stderr
    doc = json.loads(CliRunner().invoke(app, ["solve", "sudoku", str(path), "--format", "json"]).stdout)
    assert (doc["solved"], doc["total"]) == (3, 7) and sum(bool(x["error"]) for x in doc["puzzles"]) == 4
    human = CliRunner().invoke(app, ["solve", "sudoku", str(path)])
    assert human.exit_code == 1 and f"\n{path}:3:41: unexpected character 'x'" in human.stdout


@pytest.mark.parametrize("task", ["sudoku", "maze", "arc"])
def test_cli_refuses_a_file_that_cannot_be_read_as_a_whole(tmp_path, monkeypatch, task):
    for name, data, what in (("big.txt", LINE * 60, "over the limit of 4,096"),
                             ("latin1.txt", b"\xe9t\xe9\n", "not UTF-8"), ("empty.txt", b" \n", "empty"),
                             ("missing.txt", None, "cannot read")):
        if data is not None:
            (tmp_path / name).write_bytes(data.encode() if isinstance(data, str) else data)
        monkeypatch.setenv("HRM_MAX_FILE_BYTES", "4096")
        r = CliRunner().invoke(app, ["solve", task, str(tmp_path / name)])
        assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, (name, r.output)
        assert what in r.stderr and name in r.stderr, r.stderr


def test_sudoku_solver_lists_take_unreadable_items(sudoku_solver):
    results = sudoku_solver.solve_many([LINE, LINE[:80], np.zeros((9, 8))])
    assert results[0].solved and results[1].puzzle is None and results[2].puzzle is None
    assert results[1].error.startswith("puzzle 2:1:81: expected 81 cells")
    assert results[2].error.startswith("puzzle 3: expected 81 cells or a 9x9 grid")
    with pytest.raises(PuzzleParseError):
        sudoku_solver.solve(LINE[:80])  # one puzzle that cannot be read: refused, as before


def maze_text(*mazes: str) -> str:
    return "\n\n".join(mazes) + "\n"


def test_maze_parser_collects_bad_mazes_and_csv_records():
    base = "\n".join(mz.decode(mz.parse_file(mz.EXAMPLES)[0].tokens, (30, 30)))
    rows = base.split("\n")
    bad = "\n".join(rows[:3] + [rows[3][:5] + "x" + rows[3][6:]] + rows[4:])
    items = mz.parse_text(maze_text(base, bad, base), "m.txt", errors="collect")
    assert [type(x).__name__ for x in items] == ["Maze", "ItemError", "Maze"]
    assert items[1].message.startswith("m.txt:35:6: unknown character 'x'") and items[2].source_line == 63
    header = "index,question,answer,shortest_path_steps,num_paths"
    good = "0,S  ## G  ,Soo##oGoo,6,1"
    csv = "\n".join([header, good, "1,,,3,1", good, "2," + "#" * 131_073 + ",x,3,1", good]) + "\n"
    items = mz.parse_text(csv, "m.csv", errors="collect")
    assert [getattr(x, "source_line", None) or x.line for x in items] == [2, 3, 4, 5, 6]
    assert items[1].message.startswith("m.csv:3: empty question field")
    assert items[3].message.startswith("m.csv:5: malformed CSV (field larger than field limit")


def test_cli_answers_the_readable_mazes_of_a_file_with_a_bad_one(tmp_path):
    base = mz.parse_file(mz.EXAMPLES)[0]
    rows = mz.decode(base.tokens, (30, 30))
    bad = rows[:3] + [rows[3][:5] + "x" + rows[3][6:]] + rows[4:]
    path = tmp_path / "m.txt"
    path.write_text(maze_text("\n".join(bad), "\n".join(rows)))
    r = CliRunner().invoke(app, ["solve", "maze", str(path), "--format", "jsonl"])
    assert r.exit_code == 1, r.stdout + r.stderr  # was 2
    first, second = (json.loads(line) for line in r.stdout.splitlines())
    assert first["error"].startswith(f"{path}:4:6: unknown character 'x'") and first["grid"] is None
    assert second["error"] is None and second["solved"] and second["line"] == 32


# --- ARC batches -------------------------------------------------------------------------------------------

def arc_tasks() -> list[dict]:
    from hrm_sdk.tasks.arc import EXAMPLES

    return [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("arc-*.json"))]


def test_arc_collection_gives_each_bad_task_its_own_error():
    from hrm_sdk.tasks import arc

    good, other = arc_tasks()
    bad = json.loads(json.dumps(good))
    bad["train"][1]["output"][0][0] = 12
    text = "{\n" + ",\n".join(f'  "{k}": {json.dumps(t)}' for k, t in
                               (("a", good), ("b", bad), ("c", other), ("a", other), ("d", [1]))) + "\n}\n"
    items = arc.parse_tasks(text, "challenges.json", errors="collect")
    assert [getattr(x, "id", None) or x.name for x in items] == ["a", "b", "c", "a", "d"]
    assert isinstance(items[0], arc.ArcTask) and isinstance(items[2], arc.ArcTask)
    assert items[1].message == "challenges.json:3: task 'b': train[1].output[0][0]: colour 12 outside 0-9"
    assert items[3].message == "challenges.json:5: task 'a': the id appears again (first at line 2)"
    assert items[4].message.startswith("challenges.json:6: task 'd': task: expected an object")
    with pytest.raises(PuzzleParseError, match="task 'b'"):
        arc.parse_tasks(text, "challenges.json")
    (one,) = arc.parse_tasks(json.dumps(good), "dir/t1.json")  # one task per file, as before
    assert one.id == "t1"


@pytest.fixture(scope="module")
def tiny_arc_model(tmp_path_factory):
    import torch

    from hrm_sdk.checkpoint import save_model
    from hrm_sdk.model import HRM, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(arch="trm", vocab_size=12, seq_len=900, num_puzzle_ids=5, hidden_size=32, num_heads=2,
                      L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=2, halt_max_steps=2)
    path = tmp_path_factory.mktemp("arc") / "arc"
    save_model(path, HRM(cfg), {"task": "arc"})
    return path


def test_cli_answers_the_readable_tasks_of_an_arc_batch(tmp_path, tiny_arc_model):
    good, other = arc_tasks()
    bad = json.loads(json.dumps(good))
    del bad["test"]
    files = {"t1.json": json.dumps(good), "broken.json": '{"train": [', "t2.json": json.dumps(bad),
             "many.json": json.dumps({"t3": other, "t4": {"train": []}})}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = ["solve", "arc", *(str(tmp_path / n) for n in files), "--model", str(tiny_arc_model),
            "--fit-steps", "2", "--versions", "1"]
    r = CliRunner().invoke(app, args + ["--format", "jsonl"])
    assert r.exit_code == 1, r.stdout + r.stderr  # was a usage error: one file only, and one bad task refused it
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["task"] for x in records] == ["t1", "broken", "t2", "t3", "t4"]
    assert [x["error"] is None for x in records] == [True, False, False, True, False]
    assert records[1]["error"].startswith(f"{tmp_path / 'broken.json'}:1:12: invalid JSON")
    assert records[2]["error"] == f'{tmp_path / "t2.json"}: test: missing (a task needs "train" and "test" lists)'
    assert records[4]["error"] == f"{tmp_path / 'many.json'}:1: task 't4': train: empty list"
    assert records[0]["attempts"] and records[3]["attempts"] and records[1]["attempts"] == []
    assert "3 of 5 tasks not read" in r.stderr
    sub = json.loads(CliRunner().invoke(app, args + ["--format", "json"]).stdout)
    assert list(sub) == ["t1", "broken", "t2", "t3", "t4"] and set(sub["t2"]) == {"error"}
    assert set(sub["t1"][0]) == {"attempt_1", "attempt_2"}
    r = CliRunner().invoke(app, ["solve", "arc", str(tmp_path / "broken.json"), str(tmp_path / "t2.json"),
                                 "--model", str(tiny_arc_model)])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "no task could be read" in r.stderr, r.stderr
