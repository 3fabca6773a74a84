"""Maze-Hard: codec, parser, path checks, dihedral augmentation, generator and dataset build.

A maze is a grid of ``# SGo`` characters (wall, open, start, goal, path), row-major. The benchmark mazes are
30x30 (``SEQ_LEN`` 900); parsing and checking work for any size, and ``Maze.shape`` tells the solver layer
what it got.

Tokens: PAD=0, ``#``=1, `` ``=2, ``S``=3, ``G``=4, ``o``=5 (``VOCAB_SIZE`` 6). The input is the maze, the label
is the same grid with one shortest path's cells marked ``o``; every cell is supervised.

Which shortest path. Maze-Hard's ``answer`` marks the path that breadth-first search from S finds when it
visits neighbours in the order down, left, right, up and keeps the first parent that reaches a cell;
equivalently, the lexicographically smallest move sequence from S with down < left < right < up. This rule
reproduces all 2,000 answers of train.csv and test.csv (``scripts/analyze_maze_tiebreak.py``).
``canonical_answer`` marks it, the generator labels with it, and ``augment_batch(..., relabel=True)`` re-marks
it after a rotation or reflection, so every label a model sees follows one rule.

Usage::

    mazes = parse_file("my.maze")                    # list[Maze]; PuzzleParseError names line and column
    tokens = encode(mazes[0].grid)                   # uint8 [900]
    answer = canonical_answer(mazes[0])              # the benchmark's path, tokens [900]
    check = check_path(mazes[0], model_output)       # PathCheck(valid, optimal, length, shortest, reason)
    seen = apply_dihedral(tokens, 1)                 # rot90; invert_dihedral undoes it (test-time views)
    build("data/maze", "../shared/data/maze-hard", generate=10_000)

Input files: a maze is consecutive rows of ``# SGo`` characters; an empty line separates mazes; a line of
exactly 900 characters is a whole 30x30 maze (so one maze per line also works); a file starting with the
dataset header ``index,question,answer,...`` is read as the Maze-Hard CSV. Path marks ``o`` in an input are
tolerated: the maze (``Maze.grid``) treats them as open cells and ``Maze.marked`` keeps the marked grid, so a
solved maze can be checked. A row of only spaces is an all-open row when it has the maze's width; any other
blank line separates mazes.

numba compiles the generator and the batch relabelling on first use (``_kernels``); parsing, encoding and the
checks are plain numpy.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import HRMError, PuzzleParseError

log = logging.getLogger(__name__)

TASK = "maze"
CHARSET = "# SGo"  # token i+1 is CHARSET[i]
PAD, WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4, 5
VOCAB_SIZE = 6
SIZE = 30
SEQ_LEN = SIZE * SIZE
CSV_HEADER = "index,question,answer,shortest_path_steps,num_shortest_paths"
MIN_PATH = 110  # Maze-Hard's threshold, in path cells counting S and G: shortest paths of >= 109 moves
WALL_FRACTION = (0.25, 0.45)  # wall count uniform in [0.25, 0.45] x cells, fitted to train/test.csv
ACCEPT_CAP = 0.02  # see generate_many
MAX_LAYOUTS = (200_000, 50_000)  # a chunk of k mazes gives up after a + b * k layouts (30x30 needs ~1,100 per maze)

# Dihedral transforms of a square grid: id, rot90, rot180, rot270, fliplr, flipud, transpose, anti-transpose.
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
_DIHEDRAL = (
    lambda g: g,
    lambda g: np.rot90(g, 1),
    lambda g: np.rot90(g, 2),
    lambda g: np.rot90(g, 3),
    np.fliplr,
    np.flipud,
    lambda g: g.T,
    lambda g: np.rot90(g, 2).T,
)

# Moves in the benchmark's tie-break order: down, left, right, up.
MOVES = ((1, 0), (0, -1), (0, 1), (-1, 0))

_CHAR_TO_TOKEN = np.full(256, 255, dtype=np.uint8)
for _i, _ch in enumerate(CHARSET, start=1):
    _CHAR_TO_TOKEN[ord(_ch)] = _i
_TOKEN_TO_CHAR = np.array(list("?" + CHARSET), dtype="<U1")  # PAD and unknown tokens print as '?'
_CHAR_NAMES = "'#' wall, ' ' open, 'S' start, 'G' goal, 'o' path"


# -----------------------------------------------------------------------------
# Codec


def _codes(text: str) -> np.ndarray:
    """Unicode code points of a string as uint32."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def _tokens_of_codes(codes: np.ndarray) -> np.ndarray:
    """Code points -> tokens; ValueError naming the first character outside ``CHARSET``."""
    codes = np.asarray(codes)
    tokens = _CHAR_TO_TOKEN[np.minimum(codes, 255)]
    bad = (tokens == 255) | (codes > 255)
    if bad.any():
        pos = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), codes.shape)
        raise ValueError(f"unknown maze character {chr(int(codes[pos]))!r} at index {tuple(int(p) for p in pos)};"
                         f" expected {_CHAR_NAMES}")
    return tokens


def encode(grid) -> np.ndarray:
    """Maze characters -> uint8 tokens ``[..., H*W]``.

    ``grid`` is a ``Maze``; a string (row-major, or rows joined by newlines); a list of row strings; a list of
    such grids (a batch); or a numpy array of single characters ``[..., H, W]`` or of whole row-major strings
    ``[...]``. Token arrays pass through unchanged.
    """
    if isinstance(grid, Maze):
        return grid.grid.reshape(-1).copy()
    if isinstance(grid, str):
        rows = grid.replace("\r", "").rstrip("\n").split("\n")
        if len({len(r) for r in rows}) > 1:
            raise ValueError(f"rows of different lengths {sorted({len(r) for r in rows})}")
        return _tokens_of_codes(_codes("".join(rows)))
    if isinstance(grid, (list, tuple)):
        if grid and all(isinstance(r, str) for r in grid):
            return encode("\n".join(grid))
        return np.stack([encode(g) for g in grid])
    arr = np.asarray(grid)
    if arr.dtype.kind in "US":
        if arr.dtype.itemsize // (4 if arr.dtype.kind == "U" else 1) == 1:  # single characters [..., H, W]
            codes = arr.view("<u4" if arr.dtype.kind == "U" else np.uint8)
            return _tokens_of_codes(codes).reshape(*arr.shape[:-2], -1)
        return np.stack([encode(str(s)) for s in arr.reshape(-1)]).reshape(*arr.shape, -1)
    if arr.dtype.kind in "ui":
        return arr.astype(np.uint8, copy=False)
    raise TypeError(f"cannot encode a {type(grid).__name__} as a maze")


def to_chars(tokens: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Tokens ``[..., H*W]`` -> characters ``[..., H, W]`` (dtype ``<U1``); PAD and unknown tokens are '?'."""
    tokens = np.asarray(tokens)
    h, w = shape or _square(tokens.shape[-1])
    chars = _TOKEN_TO_CHAR[np.minimum(tokens, len(_TOKEN_TO_CHAR) - 1)]
    return chars.reshape(*tokens.shape[:-1], h, w)


def to_string(tokens: np.ndarray) -> str:
    """One maze's tokens (any shape) -> its row-major character string (900 characters for 30x30)."""
    flat = np.asarray(tokens).reshape(-1)
    return "".join(_TOKEN_TO_CHAR[np.minimum(flat, len(_TOKEN_TO_CHAR) - 1)])


def decode(tokens: np.ndarray, shape: tuple[int, int] | None = None) -> list[str] | list[list[str]]:
    """Tokens -> rows of characters: ``list[str]`` for one maze ``[H*W]``, a list of those for ``[B, H*W]``.
    Mazes are square unless ``shape`` says otherwise."""
    chars = to_chars(tokens, shape)
    if chars.ndim == 2:
        return ["".join(row) for row in chars]
    return [["".join(row) for row in grid] for grid in chars.reshape(-1, *chars.shape[-2:])]


def _square(n: int) -> tuple[int, int]:
    side = int(round(n ** 0.5))
    if side * side != n:
        raise ValueError(f"{n} cells is not a square maze; pass its shape")
    return side, side


def as_grid(maze, shape: tuple[int, int] | None = None) -> np.ndarray:
    """One maze as tokens ``[H, W]``: from a ``Maze``, a string (row-major, or rows joined by newlines), a
    list of row strings, a character array ``[H, W]``, or tokens ``[H, W]`` or flat (square unless ``shape``)."""
    if isinstance(maze, Maze):
        return maze.grid
    if isinstance(maze, str) and "\n" in maze:
        maze = maze.replace("\r", "").rstrip("\n").split("\n")
    if isinstance(maze, (list, tuple)) and maze and all(isinstance(r, str) for r in maze):
        return encode(list(maze)).reshape(len(maze), -1)
    arr = np.asarray(maze)
    if arr.dtype.kind in "US":
        arr = encode(arr).reshape(arr.shape) if arr.ndim == 2 else encode(str(arr.reshape(-1)[0]))
    arr = arr.astype(np.uint8, copy=False)
    if arr.ndim == 1:
        return arr.reshape(shape or _square(arr.size))
    if arr.ndim != 2:
        raise ValueError(f"expected one maze, got an array of shape {arr.shape}")
    return arr


# -----------------------------------------------------------------------------
# Parsing


@dataclass(eq=False)
class Maze:
    """A parsed maze. ``grid`` holds tokens ``[H, W]`` (WALL/OPEN/START/GOAL; path marks become OPEN);
    ``marked`` the grid as written when it marked a path (the CSV's ``answer``), else None; ``steps`` the
    CSV's ``shortest_path_steps`` when read from the dataset CSV; ``source_line`` the maze's first line."""

    grid: np.ndarray
    source_line: int | None = None
    marked: np.ndarray | None = None
    steps: int | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.grid.shape)

    @property
    def tokens(self) -> np.ndarray:
        return self.grid.reshape(-1)

    @property
    def start(self) -> tuple[int, int]:
        r, c = np.argwhere(self.grid == START)[0]
        return int(r), int(c)

    @property
    def goal(self) -> tuple[int, int]:
        r, c = np.argwhere(self.grid == GOAL)[0]
        return int(r), int(c)

    def text(self) -> str:
        return "\n".join(decode(self.grid.reshape(-1), self.shape))

    def __str__(self) -> str:
        return self.text()


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


def parse_text(text: str, source: str = "<input>", shape: tuple[int, int] | None = None) -> list[Maze]:
    """All mazes in ``text`` (formats in the module docstring). ``shape`` (rows, columns), when given, is
    required of every maze. Raises PuzzleParseError naming source, line and column."""
    if "\x00" in text:
        raise PuzzleParseError("binary data, not a maze file", source)
    lines = [line.rstrip("\r") for line in text.lstrip("\ufeff").split("\n")]
    if lines[0].startswith("index,question,answer"):
        return _parse_csv(lines, source, shape)
    mazes: list[Maze] = []
    for block in _blocks(lines):
        if all(len(t) == SEQ_LEN for _, t in block):
            for lineno, line in block:  # one 30x30 maze per line
                col = _bad_column(line)
                if col is not None:
                    raise PuzzleParseError(f"unknown character {line[col - 1]!r} at column {col}; expected"
                                           f" {_CHAR_NAMES}", source, lineno, col)
                rows = [(lineno, r * SIZE, line[r * SIZE:(r + 1) * SIZE]) for r in range(SIZE)]
                mazes.append(_parse_rows(rows, source, shape))
        else:
            mazes.append(_parse_rows([(lineno, 0, t) for lineno, t in block], source, shape))
    if not mazes:
        raise PuzzleParseError(f"no maze found; expected rows of {_CHAR_NAMES}", source, 1)
    return mazes


def _parse_csv(lines: list[str], source: str, shape: tuple[int, int] | None) -> list[Maze]:
    """The Maze-Hard CSV: the header, then ``index,question,answer,steps,num_paths`` rows."""
    import csv

    header = lines[0].strip()
    if header.split(",")[:4] != CSV_HEADER.split(",")[:4]:
        raise PuzzleParseError(f"CSV header {header!r}, expected {CSV_HEADER!r}", source, 1)
    mazes = []
    reader = csv.reader(lines[1:])
    for fields in reader:
        lineno = reader.line_num + 1
        if not fields or fields == [""]:
            continue
        if len(fields) < 4:
            raise PuzzleParseError(f"{len(fields)} fields, expected 5 ({CSV_HEADER})", source, lineno)
        _, question, answer, steps = fields[:4]
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
            raise PuzzleParseError(f"shortest_path_steps {steps!r} is not a whole number", source, lineno)
        mazes.append(Maze(grid=maze.grid, source_line=lineno, marked=marked, steps=int(steps)))
    if not mazes:
        raise PuzzleParseError("CSV has a header but no maze rows", source, 2)
    return mazes


def parse_file(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> list[Maze]:
    """All mazes in a text or Maze-Hard CSV file; PuzzleParseError names the file, line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PuzzleParseError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from None
    except OSError as exc:
        raise PuzzleParseError(f"cannot read: {exc.strerror}", str(path)) from None
    return parse_text(text, str(path), shape)


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


# -----------------------------------------------------------------------------
# Breadth-first search and checks (plain numpy, batched over mazes)


def _shift_or(frontier: np.ndarray) -> np.ndarray:
    """Cells 4-adjacent to any frontier cell, for a batch ``[B, H, W]``."""
    out = np.zeros_like(frontier)
    out[:, 1:, :] |= frontier[:, :-1, :]
    out[:, :-1, :] |= frontier[:, 1:, :]
    out[:, :, 1:] |= frontier[:, :, :-1]
    out[:, :, :-1] |= frontier[:, :, 1:]
    return out


def bfs_distances(passable: np.ndarray, sources: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """Moves from the nearest source through passable cells, for a batch ``[B, H, W]``; -1 where unreachable.
    With ``targets``, stops once every maze's target is reached (farther cells stay -1)."""
    dist = np.where(sources, 0, -1).astype(np.int32)
    visited = sources.copy()
    frontier = sources.copy()
    d = 0
    while frontier.any():
        if targets is not None and (visited | ~targets).all():
            break
        d += 1
        frontier = _shift_or(frontier) & passable & ~visited
        visited |= frontier
        dist[frontier] = d
    return dist


def _batch_grids(mazes) -> np.ndarray:
    """Token rows ``[B, H*W]`` (square) or ``[B, H, W]`` -> ``[B, H, W]`` with path marks cleared."""
    arr = np.asarray(mazes)
    if arr.ndim == 2:
        arr = arr.reshape(len(arr), *_square(arr.shape[1]))
    return np.where(arr == PATH, np.uint8(OPEN), arr).astype(np.uint8)


def shortest_path_lengths(mazes: np.ndarray) -> np.ndarray:
    """BFS moves from S to G for a batch of mazes (tokens ``[B, H*W]`` or ``[B, H, W]``); -1 when G is
    unreachable or S/G is missing."""
    grids = _batch_grids(mazes)
    start, goal = grids == START, grids == GOAL
    dist = bfs_distances((grids != WALL) & (grids != PAD), start, goal)
    at_goal = np.where(goal, dist, -1).max(axis=(1, 2))  # one goal per maze
    return np.where(start.any(axis=(1, 2)), at_goal, -1)


def shortest_path_length(maze) -> int | None:
    """Moves on a shortest 4-neighbour path from S to G through non-wall cells (Maze-Hard's
    ``shortest_path_steps``); None when G is unreachable."""
    steps = int(shortest_path_lengths(as_grid(maze)[None])[0])
    return None if steps < 0 else steps


def count_shortest_paths(maze) -> int:
    """How many distinct shortest S->G paths the maze has (Maze-Hard's ``num_shortest_paths``); 0 when none.
    Dynamic programming over BFS layers from S, in int64 while the counts are small, else exact Python ints."""
    grid = np.where(as_grid(maze) == PATH, OPEN, as_grid(maze))
    start, goal = grid == START, grid == GOAL
    dist = bfs_distances(((grid != WALL) & (grid != PAD))[None], start[None], goal[None])[0]
    if not (goal & (dist >= 0)).any():
        return 0
    target = int(dist[goal][0])
    counts = start.astype(np.int64)
    for d in range(1, target + 1):
        prev = np.where(dist == d - 1, counts, 0)
        if prev.dtype == np.int64 and prev.max() > 2 ** 60:
            prev = prev.astype(object)  # four neighbours summed must stay below 2**63
        total = np.zeros_like(prev)
        total[1:, :] += prev[:-1, :]
        total[:-1, :] += prev[1:, :]
        total[:, 1:] += prev[:, :-1]
        total[:, :-1] += prev[:, 1:]
        counts = np.where(dist == d, total, counts)
    return int(counts[goal][0])


def canonical_answers(mazes: np.ndarray) -> np.ndarray:
    """The benchmark's answer for a batch of mazes (tokens ``[B, H*W]`` or ``[B, H, W]``, same shape out):
    the lexicographically first shortest path from S in move order down, left, right, up, marked ``o``.
    Mazes whose goal is unreachable come back unmarked."""
    arr = np.asarray(mazes)
    grids = _batch_grids(arr)
    b, h, w = grids.shape
    out = grids.copy()
    goal = grids == GOAL
    dist = bfs_distances((grids != WALL) & (grids != PAD), goal)  # moves to G
    rows = np.arange(b)
    has_start = (grids == START).any(axis=(1, 2))
    flat_start = (grids == START).reshape(b, -1).argmax(1)
    r, c = flat_start // w, flat_start % w
    active = has_start & (dist[rows, r, c] > 1)
    while active.any():
        here = dist[rows, r, c]
        nr, nc = r.copy(), c.copy()
        chosen = ~active
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            ok = ~chosen & inside
            ok[ok] = dist[rows[ok], rr[ok], cc[ok]] == here[ok] - 1
            nr[ok], nc[ok] = rr[ok], cc[ok]
            chosen |= ok
        r, c = nr, nc
        out[rows[active], r[active], c[active]] = PATH
        active &= dist[rows, r, c] > 1
    return out.reshape(arr.shape)


def canonical_answer(maze) -> np.ndarray:
    """The benchmark's answer (tokens ``[H*W]``) for one maze; see ``canonical_answers``."""
    return canonical_answers(as_grid(maze)[None])[0].reshape(-1)


def shortest_path(maze) -> list[tuple[int, int]] | None:
    """The benchmark's shortest path from S to G as (row, col) cells, S and G included; None if unreachable."""
    grid = as_grid(maze)
    if shortest_path_length(grid) is None:
        return None
    return path_from_grid(canonical_answer(grid).reshape(grid.shape))


@dataclass
class PathCheck:
    """Verdict on a predicted grid: ``valid`` (the ``o`` cells with S and G form one simple 4-connected path
    through open cells, walls/S/G unchanged), ``optimal`` (valid and as short as BFS), the path's ``length``
    in moves (None if not a path), the maze's ``shortest`` (None if unsolvable), and ``reason`` for a failure."""

    valid: bool
    optimal: bool
    length: int | None
    shortest: int | None
    reason: str = ""


def _trace(grid: np.ndarray) -> tuple[list[tuple[int, int]] | None, str]:
    """Follow the marked path of a token grid from S to G: (cells, "") or (None, why it is not one path)."""
    on = (grid == PATH) | (grid == START) | (grid == GOAL)
    starts, goals = np.argwhere(grid == START), np.argwhere(grid == GOAL)
    if len(starts) != 1 or len(goals) != 1:
        return None, f"expected one S and one G, found {len(starts)} S and {len(goals)} G"
    h, w = grid.shape
    goal = tuple(int(x) for x in goals[0])

    def marked_neighbours(cell):
        r, c = cell
        return [(r + dr, c + dc) for dr, dc in MOVES
                if 0 <= r + dr < h and 0 <= c + dc < w and on[r + dr, c + dc]]

    path = [tuple(int(x) for x in starts[0])]
    seen = {path[0]}
    while path[-1] != goal:
        nxt = [n for n in marked_neighbours(path[-1]) if n not in seen]
        if len(path) > 1 and len(nxt) + 1 < len(marked_neighbours(path[-1])):
            return None, f"path touches itself at {path[-1]}"
        if not nxt:
            return None, f"path breaks off at {path[-1]}" if len(path) > 1 else "no path cell next to S"
        if len(nxt) > 1:
            return None, f"path branches at {path[-1]}"
        path.append(nxt[0])
        seen.add(nxt[0])
    if len(marked_neighbours(goal)) != 1:
        return None, f"path touches G {goal} more than once"
    stray = on.copy()
    stray[tuple(np.array(path).T)] = False
    if stray.any():
        r, c = np.argwhere(stray)[0]
        return None, f"stray path cell at {(int(r), int(c))}"
    return path, ""


def path_from_grid(pred_grid) -> list[tuple[int, int]] | None:
    """The path marked in a (predicted) grid as (row, col) cells from S to G inclusive, or None when the
    ``o`` cells with S and G are not exactly one simple path (gaps, branches, stray cells, a path touching
    itself). Walls are not checked here; see ``check_path``."""
    path, _ = _trace(as_grid(pred_grid))
    return path


def check_path(maze, predicted) -> PathCheck:
    """Check a predicted grid (tokens, characters or a ``Maze``) against the maze.

    A path that touches itself (two non-consecutive cells adjacent) is ambiguous on a grid and is counted
    invalid; an optimal path never does.
    """
    grid = as_grid(maze)
    grid = np.where(grid == PATH, np.uint8(OPEN), grid)
    shortest = shortest_path_length(grid)
    if isinstance(predicted, Maze) and predicted.marked is not None:
        predicted = predicted.marked
    pred = np.asarray(predicted)
    if pred.dtype.kind in "ui" and pred.size == grid.size:
        pred = pred.reshape(grid.shape)
    pred = as_grid(pred, grid.shape)

    def fail(reason: str, length: int | None = None) -> PathCheck:
        return PathCheck(False, False, length, shortest, reason)

    if pred.shape != grid.shape:
        return fail(f"prediction is {pred.shape}, the maze is {grid.shape}")
    bad = np.argwhere((pred == PAD) | (pred > PATH))
    if len(bad):
        return fail(f"token {int(pred[tuple(bad[0])])} at {tuple(int(x) for x in bad[0])} is not a maze cell")
    changed = np.argwhere((pred != grid) & ~((grid == OPEN) & (pred == PATH)))
    if len(changed):
        at = tuple(int(x) for x in changed[0])
        return fail(f"cell {at} is {CHARSET[pred[at] - 1]!r} in the prediction but {CHARSET[grid[at] - 1]!r}"
                    " in the maze")
    if shortest is None:
        return fail("the maze has no path from S to G")
    path, reason = _trace(pred)
    if path is None:
        return fail(reason)
    length = len(path) - 1
    if length != shortest:
        return PathCheck(True, False, length, shortest, f"path has {length} moves, the shortest has {shortest}")
    return PathCheck(True, True, length, shortest)


def valid_optimal(inputs: np.ndarray, predictions: np.ndarray, shortest: np.ndarray | None = None) -> np.ndarray:
    """Vectorised: does each predicted grid mark a shortest S->G path of its maze? (bool ``[B]``)

    Walls, S and G must be unchanged, ``o`` only on open cells, S and G with one marked neighbour, every ``o``
    with two, and exactly ``shortest - 1`` of them. Such cells form an S-G path plus possibly cycles; the path
    has at least ``shortest - 1`` cells, so the count leaves no cycles and the path is a shortest one.
    """
    grids = _batch_grids(inputs)
    pred = np.asarray(predictions).reshape(grids.shape)
    if shortest is None:
        shortest = shortest_path_lengths(grids)
    same = ((pred == grids) | ((grids == OPEN) & (pred == PATH))).all(axis=(1, 2))
    on = (pred == PATH) | (pred == START) | (pred == GOAL)
    deg = np.zeros(pred.shape, np.int8)
    deg[:, 1:, :] += on[:, :-1, :]
    deg[:, :-1, :] += on[:, 1:, :]
    deg[:, :, 1:] += on[:, :, :-1]
    deg[:, :, :-1] += on[:, :, 1:]
    ends = (pred == START) | (pred == GOAL)
    degrees_ok = (~on | (ends & (deg == 1)) | ((pred == PATH) & (deg == 2))).all(axis=(1, 2))
    count_ok = (pred == PATH).sum(axis=(1, 2)) == np.asarray(shortest) - 1
    return same & degrees_ok & count_ok & (np.asarray(shortest) > 0)


# -----------------------------------------------------------------------------
# Dihedral augmentation


@functools.lru_cache(maxsize=None)
def _perm_table(size: int) -> np.ndarray:
    """Gather indices ``[8, size*size]``: ``x[..., table[t]]`` is transform t of a flattened square grid."""
    idx = np.arange(size * size).reshape(size, size)
    table = np.stack([np.ascontiguousarray(f(idx)).reshape(-1) for f in _DIHEDRAL])
    table.flags.writeable = False
    return table


def dihedral_permutation(t: int, size: int = SIZE) -> np.ndarray:
    """Transform ``t`` (0 id, 1 rot90, 2 rot180, 3 rot270, 4 fliplr, 5 flipud, 6 transpose, 7 anti-transpose,
    as numpy's rot90/fliplr/flipud/.T) as gather indices over the flattened grid."""
    return _perm_table(size)[t]


def apply_dihedral(tokens: np.ndarray, t) -> np.ndarray:
    """Transform ``t`` of flattened square grids ``[..., size*size]``; ``t`` is an int or one per row
    (shape ``tokens.shape[:-1]``)."""
    tokens = np.asarray(tokens)
    table = _perm_table(_square(tokens.shape[-1])[0])
    t = np.asarray(t)
    if t.ndim == 0:
        return tokens[..., table[int(t)]]
    return np.take_along_axis(tokens, table[t], axis=-1)


def invert_dihedral(tokens: np.ndarray, t) -> np.ndarray:
    """Undo ``apply_dihedral(tokens, t)``."""
    return apply_dihedral(tokens, np.asarray(DIHEDRAL_INVERSE)[np.asarray(t)])


def view_transforms(k: int) -> list[int]:
    """The K test-time views (``hrm_sdk.runtime.views``): dihedral transforms 0..k-1, identity first; apply
    with ``apply_dihedral``, undo with ``invert_dihedral``. A view's de-augmented answer is the tie-break path
    of the transformed maze, so it can be another shortest path than the benchmark's label."""
    if not 1 <= k <= len(_DIHEDRAL):
        raise HRMError(f"views must be 1..{len(_DIHEDRAL)} (the rotations and reflections of a maze), got {k}")
    return list(range(k))


def augment_batch(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                  relabel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A random dihedral transform per row, the same for its input and label.

    The transformed label is still a shortest path of the transformed maze, but not the one the benchmark's
    tie-break rule would mark there. ``relabel=True`` re-marks the rule's path (numba, ~5 ms per 1,000 rows),
    so that the augmented labels stay consistent with the test set's.
    """
    t = rng.integers(0, 8, size=len(inputs))
    inputs, labels = apply_dihedral(inputs, t), apply_dihedral(labels, t)
    if relabel:
        labels = relabel_batch(inputs)
    return inputs, labels


def make_sampler(split):
    """The training sampler: ``augment_batch``, relabelling when the split was built with ``relabel``."""
    from .dataset import ArraySampler

    relabel = bool(split.meta.extra.get("relabel", False))
    return ArraySampler(split, functools.partial(augment_batch, relabel=True) if relabel else augment_batch)


# -----------------------------------------------------------------------------
# numba kernels. Written as plain Python over flat arrays; ``_kernels()`` replaces these module globals with
# compiled versions on first use, so they can call one another and numba is imported only then. Grids are
# padded with a wall border (index (r + 1) * (w + 2) + c + 1), so neighbours need no bounds checks, and a BFS
# marks the cells it reached with its own ``stamp`` instead of clearing arrays, so it costs what it reaches.


def _k_bfs(passable, w2, src, dist, parent, queue, stamp, mark):
    """BFS from ``src``, neighbours in the tie-break order down, left, right, up; the first parent wins.
    Reached cells get ``stamp == mark``; returns how many, listed by distance in ``queue`` (farthest last)."""
    stamp[src] = mark
    dist[src] = 0
    parent[src] = -1
    queue[0] = src
    head, tail = 0, 1
    while head < tail:
        p = queue[head]
        head += 1
        d = dist[p] + 1
        q = p + w2  # down
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
        q = p - 1  # left
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
        q = p + 1  # right
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
        q = p - w2  # up
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
    return tail


def _k_pair_counts(passable, n_open, w2, m, order, da, dc, parent, queue, stamp, bound, counts, cells):
    """counts[s] = how many cells are >= m moves from s; returns their sum (ordered pairs >= m apart).

    Exact, but BFS runs from few cells. Components are visited from the cell nearest the grid's centre
    (``order``) outwards; one with at most m cells, or whose first BFS root r has 2 * ecc(r) < m, holds no
    such pair, and the search stops when the unvisited cells are too few to hold one. In the others,
    ``bound[v] >= ecc(v)`` starts at d(r, v) + ecc(r) and tightens with ecc(u) + d(u, v) for each further
    root u: the far end a of r's longest shortest path, the midpoint of a's (central, so a tight bound), then
    every cell whose bound still reaches m, which gets its count."""
    stamp[:] = 0
    counts[:] = 0
    mark = 0
    total = 0
    unvisited = n_open
    for i in range(len(order)):
        if unvisited <= m:
            break
        root = order[i]
        if not passable[root] or stamp[root] != 0:
            continue
        mark += 1
        size = _k_bfs(passable, w2, root, da, parent, queue, stamp, mark)
        unvisited -= size
        e0 = da[queue[size - 1]]
        if size <= m or 2 * e0 < m:
            continue
        for j in range(size):
            v = queue[j]
            cells[j] = v
            bound[v] = da[v] + e0
        mark += 1
        t = _k_bfs(passable, w2, queue[size - 1], da, parent, queue, stamp, mark)
        ea = da[queue[t - 1]]
        centre = queue[t - 1]
        for _ in range(ea // 2):
            centre = parent[centre]
        for j in range(t):
            v = queue[j]
            bound[v] = min(bound[v], da[v] + ea)
        mark += 1
        t = _k_bfs(passable, w2, centre, dc, parent, queue, stamp, mark)
        ec = dc[queue[t - 1]]
        for j in range(t):
            v = queue[j]
            bound[v] = min(bound[v], dc[v] + ec)
        for j in range(size):
            u = cells[j]
            if bound[u] < m:
                continue
            mark += 1
            t = _k_bfs(passable, w2, u, da, parent, queue, stamp, mark)
            ecc = da[queue[t - 1]]
            k = 0
            while da[queue[t - 1 - k]] >= m:
                k += 1
            counts[u] = k
            total += k
            for jj in range(t):
                v = queue[jj]
                bound[v] = min(bound[v], da[v] + ecc)
            bound[u] = -1
    return total


def _k_mark(passable, h, w, s, g, parent, row_in, row_label):
    """Write one maze's input and label rows (unpadded tokens); the label marks the parent chain g -> s."""
    w2 = w + 2
    for r in range(h):
        for c in range(w):
            row_in[r * w + c] = 2 if passable[(r + 1) * w2 + c + 1] else 1
    row_in[(s // w2 - 1) * w + s % w2 - 1] = 3
    row_in[(g // w2 - 1) * w + g % w2 - 1] = 4
    row_label[:] = row_in
    p = parent[g]
    while p != s:
        row_label[(p // w2 - 1) * w + p % w2 - 1] = 5
        p = parent[p]


def _k_generate(seed, count, h, w, m, walls_lo, walls_hi, cap, max_layouts, inputs, labels, steps):
    """Up to ``count`` mazes with S and G >= m moves apart; returns (made, layouts tried).

    Per layout: a wall count uniform in [walls_lo, walls_hi] placed uniformly; the layout is kept with
    probability min(1, f / cap), f = the fraction of ordered (S, G) pairs of open cells >= m apart, and then
    (S, G) is drawn uniformly among those pairs. For f <= cap this is exactly drawing a layout, S and G
    uniformly and rejecting short pairs (the Maze-Hard recipe), without paying for the rejected draws."""
    np.random.seed(seed)
    n = h * w
    w2 = w + 2
    size2 = (h + 2) * w2
    passable = np.zeros(size2, np.bool_)
    perm = np.arange(n)
    da = np.empty(size2, np.int32)
    dc = np.empty(size2, np.int32)
    parent = np.empty(size2, np.int32)
    queue = np.empty(size2, np.int32)
    stamp = np.zeros(size2, np.int32)
    bound = np.empty(size2, np.int32)
    counts = np.empty(size2, np.int64)
    cells = np.empty(size2, np.int32)
    order = np.empty(n, np.int32)  # padded cells by distance from the grid's centre
    near = np.argsort(np.abs(2 * (np.arange(n) // w) - (h - 1)) + np.abs(2 * (np.arange(n) % w) - (w - 1)))
    for i in range(n):
        order[i] = (near[i] // w + 1) * w2 + near[i] % w + 1
    made = 0
    layouts = 0
    while made < count and layouts < max_layouts:
        layouts += 1
        k = np.random.randint(walls_lo, walls_hi + 1)
        for r in range(h):
            passable[(r + 1) * w2 + 1:(r + 1) * w2 + 1 + w] = True
        for i in range(k):  # partial Fisher-Yates: a uniform k-subset whatever order perm is in
            j = i + np.random.randint(n - i)
            cell = perm[j]
            perm[j] = perm[i]
            perm[i] = cell
            passable[(cell // w + 1) * w2 + cell % w + 1] = False
        n_open = n - k
        if n_open < 2:
            continue
        total = _k_pair_counts(passable, n_open, w2, m, order, da, dc, parent, queue, stamp, bound, counts, cells)
        if total == 0 or np.random.random() * cap >= total / (n_open * (n_open - 1.0)):
            continue
        j = np.random.randint(total)
        s = 0
        while j >= counts[s]:
            j -= counts[s]
            s += 1
        t = _k_bfs(passable, w2, s, da, parent, queue, stamp, -1)
        g = queue[t - 1 - j]
        _k_mark(passable, h, w, s, g, parent, inputs[made], labels[made])
        steps[made] = da[g]
        made += 1
    return made, layouts


def _k_relabel(inputs, h, w, labels):
    """Labels marking the tie-break rule's shortest path for each row of ``inputs``; rows without a path
    from S to G are copied unmarked. Returns how many rows had no path."""
    w2 = w + 2
    size2 = (h + 2) * w2
    passable = np.zeros(size2, np.bool_)
    dist = np.empty(size2, np.int32)
    parent = np.empty(size2, np.int32)
    queue = np.empty(size2, np.int32)
    stamp = np.zeros(size2, np.int32)
    missing = 0
    for b in range(inputs.shape[0]):
        s = -1
        g = -1
        for r in range(h):
            for c in range(w):
                x = inputs[b, r * w + c]
                i = (r + 1) * w2 + c + 1
                passable[i] = x != 1 and x != 0
                labels[b, r * w + c] = 2 if x == 5 else x
                if x == 3:
                    s = i
                elif x == 4:
                    g = i
        if s < 0 or g < 0:
            missing += 1
            continue
        _k_bfs(passable, w2, s, dist, parent, queue, stamp, b + 1)
        if stamp[g] != b + 1:
            missing += 1
            continue
        p = parent[g]
        while p != s:
            labels[b, (p // w2 - 1) * w + p % w2 - 1] = 5
            p = parent[p]
    return missing


_KERNELS = ("_k_bfs", "_k_pair_counts", "_k_mark", "_k_generate", "_k_relabel")
_kernel_lock = threading.Lock()
_compiled = False


def _kernels():
    """Compile the ``_k_*`` functions with numba (once per process; cached on disk between processes)."""
    global _compiled
    with _kernel_lock:
        if not _compiled:
            from ..errors import require

            numba = require("numba", "data", "maze generation")
            g = globals()
            for name in _KERNELS:
                g[name] = numba.njit(cache=True, nogil=True)(g[name])
            _compiled = True
    return globals()


def relabel_batch(inputs: np.ndarray) -> np.ndarray:
    """``canonical_answers`` for token rows ``[B, H*W]``, compiled (numba); rows without a path stay unmarked."""
    inputs = np.ascontiguousarray(inputs, dtype=np.uint8)
    h, w = _square(inputs.shape[-1])
    labels = np.empty_like(inputs)
    _kernels()["_k_relabel"](inputs.reshape(-1, h * w), h, w, labels.reshape(-1, h * w))
    return labels


# -----------------------------------------------------------------------------
# Generator


def _wall_range(size: int, wall_prob: tuple[float, float]) -> tuple[int, int]:
    lo, hi = wall_prob
    if not 0 <= lo <= hi < 1:
        raise ValueError(f"wall_prob must be (lo, hi) with 0 <= lo <= hi < 1, got {wall_prob}")
    return int(round(lo * size * size)), int(round(hi * size * size))


def _generate_chunk(seed: int, count: int, size: int, min_steps: int, walls: tuple[int, int], cap: float,
                    max_layouts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    inputs = np.empty((count, size * size), np.uint8)
    labels = np.empty((count, size * size), np.uint8)
    steps = np.empty(count, np.int16)
    made, layouts = _kernels()["_k_generate"](seed, count, size, size, min_steps, walls[0], walls[1], cap,
                                              max_layouts, inputs, labels, steps)
    if made < count:
        raise ValueError(f"found {made} of {count} mazes with a path of >= {min_steps + 1} cells in {layouts} random "
                         f"{size}x{size} layouts; lower min_path or change wall_prob")
    return inputs, labels, steps, layouts


def generate_many(seed: int, n: int, size: int = SIZE, min_path: int = MIN_PATH,
                  wall_prob: tuple[float, float] = WALL_FRACTION, cap: float = ACCEPT_CAP,
                  workers: int | None = None, chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` random mazes following the Maze-Hard recipe, reproducible for ``seed`` (any ``workers``).

    Recipe (Lehnert et al., "Beyond A*", with Maze-Hard's length filter): place a uniform number of walls
    between ``wall_prob[0]`` and ``wall_prob[1]`` of the cells at random, pick S and G uniformly among the open
    cells, keep the maze when its shortest path has at least ``min_path`` cells counting S and G (110: at
    least 109 moves, the benchmark's minimum). Rejecting short pairs one by one would need ~70,000 layouts
    per maze; instead each layout is kept with probability min(1, f / ``cap``), f = its fraction of qualifying
    (S, G) pairs, which is the same distribution for layouts with f <= ``cap`` (all but the rare richest ones).

    With the defaults the output matches Maze-Hard: 8,000 generated vs test.csv, walls 334.6 +- 22.9 vs
    335.3 +- 24.1, moves 113.5 +- 4.6 vs 113.5 +- 4.6, 17% vs 17% at the minimum of 109 (Kolmogorov-Smirnov
    distances 0.037 and 0.014; train.csv vs test.csv: 0.037 and 0.047). About 1,100 layouts per maze, ~50
    mazes/s per CPU core.

    Returns (inputs uint8[n, size*size], labels uint8[n, size*size] marking the benchmark's tie-break path,
    steps int16[n]). Runs ``workers`` threads (default: all CPUs), one seeded chunk of ``chunk`` mazes each.
    """
    if n < 0 or size < 2 or min_path < 2 or cap <= 0:
        raise ValueError(f"need n >= 0, size >= 2, min_path >= 2, cap > 0; got {n}, {size}, {min_path}, {cap}")
    walls = _wall_range(size, wall_prob)
    chunks = [min(chunk, n - i) for i in range(0, n, chunk)]
    seeds = np.random.SeedSequence(seed).generate_state(max(len(chunks), 1), dtype=np.uint32)
    _kernels()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        parts = list(pool.map(lambda a: _generate_chunk(int(a[0]), a[1], size, min_path - 1, walls, cap,
                                                        MAX_LAYOUTS[0] + MAX_LAYOUTS[1] * a[1]),
                              zip(seeds, chunks)))
    dt = time.perf_counter() - t0
    if not parts:
        return np.zeros((0, size * size), np.uint8), np.zeros((0, size * size), np.uint8), np.zeros(0, np.int16)
    layouts = sum(p[3] for p in parts)
    log.info("generated %d mazes in %.1f s (%.0f/s, %.0f layouts per maze)", n, dt, n / max(dt, 1e-9), layouts / n)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def generate(rng: np.random.Generator, size: int = SIZE, min_path: int = MIN_PATH,
             wall_prob: tuple[float, float] = WALL_FRACTION, cap: float = ACCEPT_CAP) -> tuple[str, str, int]:
    """One maze as in ``generate_many`` (seed drawn from ``rng``): (question, answer, steps), the strings
    row-major like the CSV's."""
    inputs, labels, steps = generate_many(int(rng.integers(2 ** 32)), 1, size, min_path, wall_prob, cap, workers=1)
    return to_string(inputs[0]), to_string(labels[0]), int(steps[0])


# -----------------------------------------------------------------------------
# Dataset build


def _find_sources(source_dir: Path) -> tuple[Path, Path]:
    for folder in (source_dir, source_dir / "maze-hard"):
        if (folder / "train.csv").is_file() and (folder / "test.csv").is_file():
            return folder / "train.csv", folder / "test.csv"
    raise FileNotFoundError(f"{source_dir}: no train.csv and test.csv; expected the shared maze-hard folder")


def _seen_in(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Which ``rows`` equal one of the 8 dihedral transforms of a ``reference`` row (bool ``[N]``)."""
    seen = {r.tobytes() for t in range(8) for r in apply_dihedral(reference, t)}
    return np.array([r.tobytes() in seen for r in rows], dtype=bool)


def build(out_dir: str | os.PathLike, source_dir: str | os.PathLike, seed: int = 0, generate: int = 0,
          augment: bool = True, relabel: bool = True, workers: int | None = None) -> list[Path]:
    """Build ``train`` (train.csv + ``generate`` generated mazes) and ``test`` (test.csv, never augmented or
    mixed with generated data) under ``out_dir``; returns the split paths. Train mazes equal to a test maze
    up to rotation or reflection are dropped.

    ``augment`` lets the trainer apply random dihedral transforms on the fly; ``relabel`` makes it re-mark
    the tie-break rule's path after each transform (see ``augment_batch``). Each split also stores
    ``steps.npy`` (int16 shortest-path moves).
    """
    from .dataset import DatasetMeta, source_record, write_split

    train_csv, test_csv = _find_sources(Path(source_dir))
    args = dict(seed=seed, generate=generate, augment=augment, relabel=relabel, min_path=MIN_PATH,
                wall_prob=list(WALL_FRACTION), cap=ACCEPT_CAP)
    train_in, train_lab, train_steps = read_csv(train_csv)
    sources = [source_record(train_csv, len(train_in))]
    if generate:
        gen_in, gen_lab, gen_steps = generate_many(seed, generate, workers=workers)
        train_in = np.concatenate([train_in, gen_in])
        train_lab = np.concatenate([train_lab, gen_lab])
        train_steps = np.concatenate([train_steps, gen_steps])
        sources.append({"path": f"generator(seed={seed}, min_path={MIN_PATH})", "sha256": None, "count": generate})
    test_in, test_lab, test_steps = read_csv(test_csv)
    keep = ~_seen_in(train_in, test_in)
    if not keep.all():
        log.warning("dropped %d train mazes that equal a test maze up to rotation/reflection", int((~keep).sum()))
        train_in, train_lab, train_steps = train_in[keep], train_lab[keep], train_steps[keep]
    out = []
    for split, x, y, steps, src, aug in (
            ("train", train_in, train_lab, train_steps, sources, augment),
            ("test", test_in, test_lab, test_steps, [source_record(test_csv, len(test_in))], False)):
        meta = DatasetMeta(task=TASK, split=split, vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN, num_puzzle_ids=1,
                           size=len(x), augment=aug, seed=seed, sources=src, build=args,
                           extra={"relabel": bool(aug and relabel), "generated": generate if split == "train" else 0})
        arrays = {"inputs": x, "labels": y, "puzzle_ids": np.zeros(len(x), np.int32), "steps": steps.astype(np.int16)}
        out.append(write_split(out_dir, meta, arrays))
        log.info("wrote %s: %d mazes", out[-1], len(x))
    return out
