"""Issue 26: every malformed input ends in one ``HRMError`` with one short line, never another exception.
Each test here failed (a crash or a wrong answer) before the fix it names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm_sdk.errors import MAX_MESSAGE, ConfigError, HRMError, PuzzleParseError
from hrm_sdk.tasks import arc, maze, sudoku
from hrm_sdk.training.config import load_config

GRID = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
CSV_HEADER = "index,question,answer,shortest_path_steps,num_paths"
ROW = "0,S  ## G  ,Soo##oGoo,6,1"  # a 3x3 maze (question, answer, steps)
TASK = {"train": [{"input": [[1, 2]], "output": [[3]]}], "test": [{"input": [[4]]}]}


def one_line_error(fn, *args, kind=HRMError, **kwargs) -> str:
    with pytest.raises(kind) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message
    assert len(message) <= MAX_MESSAGE
    return message


# --- Maze CSV ---------------------------------------------------------------------------------------------

def test_maze_csv_parses():
    (m,) = maze.parse_text(f"{CSV_HEADER}\n{ROW}\n", "m.csv")
    assert m.shape == (3, 3) and m.steps == 6 and m.source_line == 2


def test_maze_csv_empty_question_field():  # was IndexError
    message = one_line_error(maze.parse_text, f"{CSV_HEADER}\n{ROW}\n1,,,3,1\n", "m.csv", kind=PuzzleParseError)
    assert message.startswith("m.csv:3: empty question field")


def test_maze_csv_carriage_return_ends_a_line():  # was csv.Error (new-line character seen in unquoted field)
    message = one_line_error(maze.parse_text, f"{CSV_HEADER}\n1,S #\r # G,x,3,1\n", "m.csv", kind=PuzzleParseError)
    assert message.startswith("m.csv:2: 2 fields")


def test_maze_csv_field_over_the_csv_limit():  # was csv.Error (field larger than field limit)
    message = one_line_error(maze.parse_text, f"{CSV_HEADER}\n{ROW}\n1,{'#' * 131_073},x,3,1\n", "m.csv",
                             kind=PuzzleParseError)
    assert message.startswith("m.csv:3: malformed CSV (field larger than field limit")


def test_maze_csv_long_steps_value_is_cut():
    message = one_line_error(maze.parse_text, f"{CSV_HEADER}\n0,S  ## G  ,Soo##oGoo,{'x' * 5000},1\n", "m.csv")
    assert "more characters" in message and len(message) < 200


def test_maze_lines_end_only_at_line_breaks():
    text = "#S#\n#\x85#\n#G#\n"  # \x85 is not a maze character, and not a line break either
    message = one_line_error(maze.parse_text, text, "m.txt", kind=PuzzleParseError)
    assert message.startswith("m.txt:2:2: unknown character '\\x85'")


# --- Sudoku -----------------------------------------------------------------------------------------------

def test_sudoku_form_feed_and_separators_keep_line_numbers():  # splitlines() broke at \x0c, \x1c, \x85, \u2028
    for sep in "\x0c\x1c\x1d\x1e\x85\u2028":
        text = f"{GRID}\n# a comment{sep} with a separator\nzz\n"
        message = one_line_error(sudoku.parse_text, text, "s.txt", kind=PuzzleParseError)
        assert message.startswith("s.txt:3:1: unexpected character 'z'"), (repr(sep), message)
    assert len(sudoku.parse_text(f"{GRID}\n\x0c\n{GRID}\n")) == 2


def test_sudoku_carriage_returns_end_lines():
    assert len(sudoku.parse_text(f"{GRID}\r{GRID}\r\n{GRID}")) == 3


def test_sudoku_utf8_bom(tmp_path):  # was "unexpected character '\ufeff'"
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + GRID.encode() + b"\n")
    (p,) = sudoku.parse_file(path)
    assert p.cells[0] == 5
    assert len(sudoku.parse_text("\ufeff" + GRID)) == 1


def test_sudoku_81_space_separated_cells():  # was "expected 81 cells ... found 81"
    (p,) = sudoku.parse_text(" ".join(GRID))
    np.testing.assert_array_equal(p.cells, sudoku.parse_text(GRID)[0].cells)
    message = one_line_error(sudoku.parse_text, " ".join(GRID + "1"), kind=PuzzleParseError)
    assert "found 82" in message


def test_sudoku_file_over_the_byte_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text((GRID + "\n") * 10)
    monkeypatch.setenv("HRM_MAX_FILE_BYTES", "100")
    message = one_line_error(sudoku.parse_file, path, kind=PuzzleParseError)
    assert "820 bytes, over the limit of 100" in message
    monkeypatch.setenv("HRM_MAX_FILE_BYTES", "lots")
    assert "HRM_MAX_FILE_BYTES" in one_line_error(sudoku.parse_file, path, kind=ConfigError)


# --- ARC JSON ---------------------------------------------------------------------------------------------

def test_arc_json_nested_deeply():  # was RecursionError
    message = one_line_error(arc.parse_task, "[" * 100_000 + "]" * 100_000, "t.json", kind=PuzzleParseError)
    assert "nested too deeply" in message


@pytest.mark.parametrize("digits", [4_300, 4_301, 20_000])
def test_arc_huge_colour(digits):  # 4,301 digits was ValueError; 4,300 gave a 4,350-character line
    text = json.dumps(TASK).replace("[[4]]", "[[" + "7" * digits + "]]")
    message = one_line_error(arc.parse_task, text, "t.json", kind=PuzzleParseError)
    assert len(message) < 200


def test_arc_long_non_integer_value_is_cut():
    text = json.dumps(TASK).replace("[[4]]", '[["' + "x" * 5000 + '"]]')
    message = one_line_error(arc.parse_task, text, "t.json", kind=PuzzleParseError)
    assert "is not an integer colour" in message and len(message) < 200


def test_arc_utf8_bom(tmp_path):  # was "invalid JSON: Unexpected UTF-8 BOM"
    assert arc.parse_task("\ufeff" + json.dumps(TASK), "t.json").train[0][0].tolist() == [[1, 2]]
    path = tmp_path / "t.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(TASK).encode())
    assert arc.load_task(path).id == "t"


# --- training configs -------------------------------------------------------------------------------------

BASE = '[data]\npath = "d"\n'


@pytest.mark.parametrize("text,overrides,match", [
    (BASE + "[train]\nlog_interval = 0\n", [], "train.log_interval must be >= 1, got 0"),  # ZeroDivisionError
    ("model = 5\n" + BASE, [], r"\[model\] must be a table, got 5"),  # TypeError
    ("run = 1\n" + BASE, ["run.seed=1"], "run is 1 in the file, not a \\[run\\] table"),  # TypeError
    (BASE + "[train]\nsteps = " + "[" * 2000 + "]" * 2000 + "\n", [], "nested too deeply"),  # RecursionError
    (BASE + "[train]\nsteps = " + "1" * 5000 + "\n", [], "invalid TOML"),  # ValueError
    (BASE + "[model]\nnum_heads = 0\n", [], "model.num_heads must be >= 1, got 0"),  # accepted, then crashed
    (BASE + "[model]\nnum_heads = -2\n", [], "model.num_heads must be >= 1, got -2"),
    (BASE + "[model]\nhidden_size = -32\n", [], "model.hidden_size must be >= 1, got -32"),
    (BASE + "[model]\nexpansion = -4.0\n", [], "model.expansion must be > 0, got -4.0"),
    (BASE + "[model]\nrms_norm_eps = nan\n", [], "model.rms_norm_eps must be a finite number"),
    (BASE, ["train.optimizer=" + "a" * 5000], "train.optimizer must be"),
])
def test_config_errors_are_one_line_naming_the_key(text, overrides, match):
    message = one_line_error(load_config, text=text, overrides=overrides, kind=ConfigError)
    assert __import__("re").search(match, message), message
    assert len(message) < 300


def test_config_not_utf8(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"[data]\npath = '\xff'\n")
    assert "not UTF-8" in one_line_error(load_config, path, kind=ConfigError)
