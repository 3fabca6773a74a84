"""Maze tokens: the character set, constants and the codec between ``# SGo`` text and token rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np


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
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # a lone surrogate is a bad char too


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
