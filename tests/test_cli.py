"""The command line: every bad input gives one line naming where, exit codes, and the JSON shapes."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import REPO, shared
from hrm_sdk.cli.main import app

LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
runner = CliRunner()


def solve(args, tiny_model=None):
    model = ["--model", str(tiny_model)] if tiny_model else []
    return runner.invoke(app, ["solve", *args[:2], *model, *args[2:]])


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(p)


@pytest.mark.parametrize("name,data,where,what", [
    ("empty.txt", "", "empty.txt", "empty"),
    ("bin.txt", bytes(range(256)), "bin.txt", "binary"),
    ("short.txt", LINE[:80] + "\n", "short.txt:1:81", "expected 81 cells"),
    ("letters.txt", "\n".join(LINE[i:i + 9] for i in range(0, 81, 9)).replace("7....", "7..x.", 1),
     "letters.txt:1:8", "unexpected character 'x'"),
    ("ten.txt", "\n".join((LINE[i:i + 9] + "1") for i in range(0, 90, 9)), "ten.txt:1:10", "expected"),
])
def test_sudoku_bad_input_is_one_line_exit_2(tmp_path, tiny_model, name, data, where, what):
    r = solve(["sudoku", write(tmp_path, name, data)], tiny_model)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and what in r.stderr and f"{where}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("text,what", [
    ("#" * 30 + "\n" + (" " * 29 + "G") + "\n", "no S"),
    (" S" + " " * 28 + "\n" + " " * 30 + "\n", "no G"),
    ("S" + " " * 28 + "G\n" + " " * 29 + "x\n", "column 30"),
])
def test_maze_bad_input(tmp_path, text, what):
    r = runner.invoke(app, ["solve", "maze", write(tmp_path, "m.txt", text)])
    assert r.exit_code == 2 and "m.txt:" in r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("task,what", [
    ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]]}]}, "ragged"),
    ({"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]]}]}, "outside 0-9"),
    ({"train": []}, "test"),
])
def test_arc_bad_json(tmp_path, task, what):
    r = runner.invoke(app, ["solve", "arc", write(tmp_path, "t.json", json.dumps(task))])
    assert r.exit_code == 2 and what in r.stderr and "t.json" in r.stderr, r.stderr
    r = runner.invoke(app, ["solve", "arc", write(tmp_path, "bad.json", '{"train": [\n  {"input": ]}')])
    assert r.exit_code == 2 and "bad.json:2:" in r.stderr, r.stderr


def test_exit_codes_and_json_shapes(tmp_path, tiny_model):
    easy = SOLUTION[:-1] + "."  # one blank: the repair search solves it whatever the tiny network says
    f = write(tmp_path, "p.txt", f"# two puzzles\n{easy}\n{LINE}\n")
    r = solve(["sudoku", write(tmp_path, "e.txt", easy), "--format", "json"], tiny_model)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["solved"] == 1 and doc["total"] == 1 and doc["puzzles"][0]["solution"] == SOLUTION
    r = solve(["sudoku", f, "--format", "jsonl", "--search-nodes", "0", "--extra-steps", "0"], tiny_model)
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [x["line"] for x in rows] == [2, 3]
    assert r.exit_code == (0 if all(x["solved"] for x in rows) else 1)
    for x in rows:
        assert (x["solution"] is None) == (not x["solved"])
    r = solve(["sudoku", f], tiny_model)
    assert "+-------+-------+-------+" in r.stdout and "p.txt:2" in r.stdout


def test_stdin_and_usage_errors(tiny_model):
    r = runner.invoke(app, ["solve", "sudoku", "-", "--model", str(tiny_model), "--format", "json"], input=LINE)
    assert r.exit_code in (0, 1) and json.loads(r.stdout)["total"] == 1
    r = solve(["sudoku", "-", "--backend", "fast"], tiny_model)
    assert r.exit_code == 2
    r = runner.invoke(app, ["solve", "sudoku", "x.txt", "--format", "yaml"])
    assert r.exit_code == 2


def test_models_and_info_json():
    r = runner.invoke(app, ["info", "--format", "json"])
    assert r.exit_code == 0 and {"onnxruntime", "gpu", "tensorrt", "formats"} <= set(json.loads(r.stdout))
    r = runner.invoke(app, ["models", "--format", "json"])
    assert r.exit_code == 0 and isinstance(json.loads(r.stdout), list)


def test_no_traceback_unless_debug(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "hrm_sdk.cli.main", "solve", "sudoku", str(tmp_path / "missing.txt")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "missing.txt" in r.stderr
    r = subprocess.run(cmd, env=dict(env, HRM_DEBUG="1"), capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr
