"""Maze input files: text blocks of ``# SGo`` rows, one-line mazes and the Maze-Hard CSV."""

from __future__ import annotations

import logging
import os

import numpy as np

from ...errors import PuzzleParseError, clip
from ..text import ItemError, check_mode, read_text, settle, split_lines, strip_bom
from .codec import Maze, CSV_HEADER, GOAL, OPEN, PATH, SEQ_LEN, SIZE, START, _CHAR_NAMES, _CHAR_TO_TOKEN, _codes, _square, encode
from .paths import shortest_path_lengths, valid_optimal

log = logging.getLogger(__name__)


Row = tuple[int, int, str]  # (line number, column offset, text) of one maze row


def _bad_column(text: str) -> int | None:
    """1-based column of the first character outside ``CHARSET``, or None."""
    codes = _codes(text)
    bad = np.flatnonzero((codes > 255) | (_CHAR_TO_TOKEN[np.minimum(codes, 255)] == 255))
    return int(bad[0]) + 1 if len(bad) else None


def _parse_rows(rows: list[Row], source: str, shape: tuple[int, int] | None) -> Maze:
    """One maze from its rows; checks characters, raggedness, ``shape`` and the single S and G."""
    first, _, first_text = rows[0]
    width = len(first_text)
    for lineno, offset, text in rows:
        if len(text) != width:
            raise PuzzleParseError(
                f"row has {len(text)} characters, expected {width} like the maze's first row (line {first});"
                " were trailing spaces (open cells) stripped?", source, lineno, offset + min(len(text), width) + 1)
        col = _bad_column(text)
        if col is not None:
            raise PuzzleParseError(f"unknown character {text[col - 1]!r} at column {offset + col}; expected"
                                   f" {_CHAR_NAMES}", source, lineno, offset + col)
    if shape is not None and (len(rows), width) != tuple(shape):
        raise PuzzleParseError(f"maze is {len(rows)} rows x {width} columns, expected {shape[0]} x {shape[1]}",
                               source, first)
    marked = _CHAR_TO_TOKEN[_codes("".join(t for _, _, t in rows))].reshape(len(rows), width)
    for token, name in ((START, "start 'S'"), (GOAL, "goal 'G'")):
        where = np.argwhere(marked == token)
        if len(where) == 0:
            raise PuzzleParseError(f"maze has no {name}; a maze needs exactly one", source, first)
        if len(where) > 1:
            (r0, c0), (r1, c1) = where[0], where[1]
            raise PuzzleParseError(f"second {name} at column {rows[r1][1] + c1 + 1} (the first is at line"
                                   f" {rows[r0][0]}, column {rows[r0][1] + c0 + 1}); a maze has exactly one",
                                   source, rows[r1][0], rows[r1][1] + int(c1) + 1)
    has_path = bool((marked == PATH).any())
    grid = np.where(marked == PATH, np.uint8(OPEN), marked)
    return Maze(grid=grid, source_line=first, marked=marked if has_path else None)


def _blocks(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Group lines into mazes: runs of rows separated by blank lines. A spaces-only line is a row (all open)
    when it has the width of the row before it (or, at the start of a maze, of the row after it)."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for i, text in enumerate(lines):
        if text.strip(" ") == "":
            width = len(current[-1][1]) if current else None
            if width is None and i + 1 < len(lines) and lines[i + 1].strip(" "):
                width = len(lines[i + 1])
            if not text or len(text) != width:
                if current:
                    blocks.append(current)
                current = []
                continue
        current.append((i + 1, text))
    if current:
        blocks.append(current)
    return blocks


def parse_text(text: str, source: str = "<input>", shape: tuple[int, int] | None = None,
               errors: str = "raise") -> list:
    """All mazes in ``text`` (formats in the module docstring). ``shape`` (rows, columns), when given, is
    required of every maze. ``errors="raise"``: a malformed maze raises PuzzleParseError naming source, line and
    column. ``errors="collect"``: a malformed maze (a block of rows, a one-line maze, a CSV record) becomes an
    ``ItemError`` in its place and parsing goes on; text in which no maze could be read is still refused
    (``hrm_sdk.tasks.text.settle``), and so are binary data and a CSV with a wrong header."""
    check_mode(errors)
    if "\x00" in text:
        raise PuzzleParseError("binary data, not a maze file", source)
    lines = split_lines(strip_bom(text)) or [""]
    if lines[0].startswith("index,question,answer"):
        mazes = _parse_csv(text, source, shape, errors)
    else:
        mazes = []
        for block in _blocks(lines):
            if all(len(t) == SEQ_LEN for _, t in block):
                for lineno, line in block:  # one 30x30 maze per line
                    mazes.append(_one(_line_maze, errors, lineno, line, source, shape))
            else:
                mazes.append(_one(_parse_rows, errors, [(lineno, 0, t) for lineno, t in block], source, shape))
        if not mazes:
            raise PuzzleParseError(f"no maze found; expected rows of {_CHAR_NAMES}", source, 1)
    return settle(mazes, "maze") if errors == "collect" else mazes


def _one(parse, errors: str, *args):
    """``parse(*args)``, or in collect mode the ItemError of the PuzzleParseError it raises."""
    try:
        return parse(*args)
    except PuzzleParseError as exc:
        if errors == "raise":
            raise
        return ItemError.of(exc)


def _line_maze(lineno: int, line: str, source: str, shape: tuple[int, int] | None) -> Maze:
    """A 30x30 maze written on one line of 900 characters."""
    col = _bad_column(line)
    if col is not None:
        raise PuzzleParseError(f"unknown character {line[col - 1]!r} at column {col}; expected"
                               f" {_CHAR_NAMES}", source, lineno, col)
    return _parse_rows([(lineno, r * SIZE, line[r * SIZE:(r + 1) * SIZE]) for r in range(SIZE)], source, shape)


def _csv_rows(text: str, source: str):
    """(line number, fields or the PuzzleParseError of a record the ``csv`` module refuses) of each CSV record
    after the header. A ``csv`` error (a line break inside an unquoted field, a field over the module's size
    limit, a stray quote) spoils that record only: the reader goes on at the next line."""
    import csv
    import io

    reader = csv.reader(io.StringIO(strip_bom(text), newline=""), strict=True)
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: report the record's first
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, PuzzleParseError(f"malformed CSV ({exc})", source, start)
            continue
        if start > 1:
            yield start, fields


def _parse_csv(text: str, source: str, shape: tuple[int, int] | None, errors: str = "raise") -> list:
    """The Maze-Hard CSV: the header, then ``index,question,answer,steps,num_paths`` rows; a bad record raises
    or, in collect mode, becomes an ItemError in its place (a wrong header always raises)."""
    header = split_lines(strip_bom(text))[0].strip()
    if header.split(",")[:4] != CSV_HEADER.split(",")[:4]:
        raise PuzzleParseError(f"CSV header {clip(header)}, expected {CSV_HEADER!r}", source, 1)
    mazes = []
    for lineno, fields in _csv_rows(text, source):
        if isinstance(fields, PuzzleParseError):  # a record the csv module refuses
            if errors == "raise":
                raise fields
            mazes.append(ItemError.of(fields))
        elif fields and fields != [""]:
            mazes.append(_one(_csv_maze, errors, lineno, fields, source, shape))
    if not mazes:
        raise PuzzleParseError("CSV has a header but no maze rows", source, 2)
    return mazes


def _csv_maze(lineno: int, fields: list[str], source: str, shape: tuple[int, int] | None) -> Maze:
    """One record of the Maze-Hard CSV."""
    if len(fields) < 4:
        raise PuzzleParseError(f"{len(fields)} fields, expected 5 ({CSV_HEADER})", source, lineno)
    _, question, answer, steps = fields[:4]
    if not question:
        raise PuzzleParseError("empty question field; expected the maze as one string of "
                               f"{SEQ_LEN} characters", source, lineno)
    if len(question) != len(answer):
        raise PuzzleParseError(f"question has {len(question)} characters but answer has {len(answer)}",
                               source, lineno)
    try:
        rows_n, cols_n = _square(len(question))
    except ValueError:
        raise PuzzleParseError(f"question has {len(question)} characters, expected a square grid"
                               f" ({SEQ_LEN} for {SIZE}x{SIZE})", source, lineno) from None
    for name, value in (("question", question), ("answer", answer)):
        col = _bad_column(value)
        if col is not None:
            raise PuzzleParseError(f"{name} has unknown character {value[col - 1]!r} at position {col};"
                                   f" expected {_CHAR_NAMES}", source, lineno)
    try:
        maze = _parse_rows([(lineno, r * cols_n, question[r * cols_n:(r + 1) * cols_n]) for r in range(rows_n)],
                           source, shape)
    except PuzzleParseError as exc:
        raise PuzzleParseError(f"question: {exc.reason}", source, lineno) from None
    q = encode(question).reshape(rows_n, cols_n)
    marked = encode(answer).reshape(rows_n, cols_n)
    differs = marked != q
    if (q == PATH).any() or (q[differs] != OPEN).any() or (marked[differs] != PATH).any():
        raise PuzzleParseError("answer must equal question except for 'o' marks on open cells", source, lineno)
    if not steps.strip().isdigit():
        raise PuzzleParseError(f"shortest_path_steps {clip(steps)} is not a whole number", source, lineno)
    return Maze(grid=maze.grid, source_line=lineno, marked=marked, steps=int(steps))


def parse_file(path: str | os.PathLike, shape: tuple[int, int] | None = None, errors: str = "raise") -> list:
    """All mazes in a text or Maze-Hard CSV file; PuzzleParseError names the file, line and column (``errors``
    as for ``parse_text``; the file's own problems always raise)."""
    return parse_text(read_text(path, "maze file"), str(path), shape, errors)


def read_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Maze-Hard CSV -> (inputs uint8[N, 900], labels uint8[N, 900], steps int16[N]).

    Each row's ``shortest_path_steps`` is checked against BFS and its answer must mark a shortest path;
    otherwise PuzzleParseError names the file and line.
    """
    mazes = parse_file(path)
    if any(m.marked is None for m in mazes):
        raise PuzzleParseError("expected the Maze-Hard CSV (header " + CSV_HEADER + ")", str(path), 1)
    shapes = {m.shape for m in mazes}
    if len(shapes) > 1:
        raise PuzzleParseError(f"mazes of several sizes {sorted(shapes)}", str(path), mazes[0].source_line)
    inputs = np.stack([m.grid.reshape(-1) for m in mazes])
    labels = np.stack([m.marked.reshape(-1) for m in mazes])
    steps = shortest_path_lengths(inputs)
    claimed = np.array([m.steps for m in mazes])
    bad = np.flatnonzero((steps != claimed) | ~valid_optimal(inputs, labels, steps))
    if len(bad):
        i = bad[0]
        what = (f"shortest_path_steps is {claimed[i]} but the shortest path has {steps[i]} moves"
                if steps[i] != claimed[i] else "answer does not mark a shortest path from S to G")
        raise PuzzleParseError(what, str(path), mazes[i].source_line)
    return inputs, labels, steps.astype(np.int16)
