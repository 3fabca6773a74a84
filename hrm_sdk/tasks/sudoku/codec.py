"""Sudoku: parsing the usual text formats, token encoding, invertible augmentations, answer checking, and
the dataset build.

Formats accepted by ``parse_text`` (auto-detected, several puzzles per file, ``#`` lines are comments):

- one puzzle per line: 81 cells, blanks as ``.``, ``0`` or ``_`` (``53..7....6..195...``); anything after
  the first whitespace-separated field is ignored, so the collections' ``puzzle solution guesses`` lines work;
- a 9x9 grid: nine rows of nine cells, with or without separators (``|``, ``-``, ``+``, spaces) and rule
  lines such as ``------+-------+------``.

Tokens: PAD=0, blank=1, digit d -> d+1. Labels are the solution's tokens on all 81 cells (givens included).

Augmentation: ``SudokuTransform`` (cell permutation + digit relabelling) works on digits (``apply``/``invert``)
and on tokens (``apply_tokens``/``invert_tokens``); ``augment_batch`` draws one per training row, and
``view_transforms(k)`` gives the fixed test-time views (identity first) that ``hrm_sdk.runtime.views`` votes over.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import HRMError, InvalidPuzzleError, PuzzleParseError
from ..text import ItemError, check_mode, read_text, settle, split_lines, strip_bom

log = logging.getLogger(__name__)

TASK = "sudoku"
VOCAB_SIZE = 11
SEQ_LEN = 81
BLANKS = frozenset(".0_")
RULE_CHARS = frozenset("-+|=*")

# -----------------------------------------------------------------------------
# Parsing


@dataclass
class SudokuPuzzle:
    cells: np.ndarray  # uint8 [81], 0 = blank
    source: str = "<input>"
    line: int | None = None  # first line of the puzzle in its source

    @property
    def grid(self) -> np.ndarray:
        return self.cells.reshape(9, 9)


def _cells_of(text: str, source: str, line: int, offset: int = 0) -> list[tuple[int, int]]:
    """The (column, digit) cells of one content line (or of a field of it that starts after ``offset``
    characters); separators and spaces are skipped."""
    cells = []
    for col, ch in enumerate(text, start=offset + 1):
        if ch in "123456789":
            cells.append((col, int(ch)))
        elif ch in BLANKS:
            cells.append((col, 0))
        elif ch == "|" or ch.isspace():
            continue
        else:
            raise PuzzleParseError(f"unexpected character {ch!r}; expected a digit 1-9 or a blank ('.', '0')",
                                   source, line, col)
    return cells


def _cell_chars(line: str) -> int:
    """How many characters of a line would be cells (all but spaces and '|'): tells a (bad) grid row from a
    (bad) one-line puzzle."""
    return sum(1 for ch in line if not (ch.isspace() or ch == "|"))


def parse_text(text: str, source: str = "<input>", errors: str = "raise") -> list:
    """All puzzles in `text`. Lines end at ``\n``, ``\r\n`` or ``\r`` only; a leading byte-order mark is ignored.

    ``errors="raise"`` (the default): a malformed line or grid raises PuzzleParseError naming source, line and
    column. ``errors="collect"``: a malformed one-line puzzle or grid becomes an ``ItemError`` in its place and
    parsing goes on (a bad grid row spoils its grid only: the grid's other rows are read with it), so the list
    holds ``SudokuPuzzle``s and ``ItemError``s in input order; text in which no puzzle could be read is still
    refused (``hrm_sdk.tasks.text.settle``). Binary data refuses the whole text in both modes."""
    check_mode(errors)
    if "\x00" in text:
        raise PuzzleParseError("binary data, not a text puzzle file", source)
    lines = split_lines(strip_bom(text))
    items: list = []
    grid_rows: list[list[int]] = []  # the cells of the grid being read
    grid_start, grid_seen = 0, 0  # its first line, and its rows read so far (good or bad)
    grid_bad: PuzzleParseError | None = None  # the first error in it (collect mode reads on to its end)

    def fail(exc: PuzzleParseError) -> None:
        if errors == "raise":
            raise exc
        items.append(ItemError.of(exc))

    def end_grid(at_line: int) -> None:
        nonlocal grid_rows, grid_seen, grid_bad
        if grid_seen:
            fail(grid_bad or PuzzleParseError(f"grid ends after {grid_seen} row(s) (it starts at line {grid_start});"
                                              " expected 9 rows of 9 cells", source, at_line))
        grid_rows, grid_seen, grid_bad = [], 0, None

    def grid_row(lineno: int, cells: list[int] | None, exc: PuzzleParseError | None) -> None:
        nonlocal grid_start, grid_seen, grid_bad
        if exc is not None and errors == "raise":
            raise exc
        if not grid_seen:
            grid_start = lineno
        grid_seen += 1
        grid_bad = grid_bad or exc
        if cells is not None:
            grid_rows.append(cells)
        if grid_seen == 9:
            if grid_bad is None:
                items.append(SudokuPuzzle(np.array(grid_rows, np.uint8).reshape(81), source, grid_start))
                grid_seen = 0
            end_grid(lineno)  # records a bad grid's error, and starts afresh

    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            end_grid(lineno)
            continue
        if stripped.startswith("#"):
            continue
        if set(stripped) <= RULE_CHARS | {" ", "\t"}:
            continue  # a rule line of a boxed grid, such as ------+-------+------
        first = stripped.split()[0]
        if len(first) == SEQ_LEN:  # one puzzle per line; it ends a grid left unfinished above it
            end_grid(lineno)
            offset = line.index(first)
            try:
                cells = _cells_of(first, source, lineno)
                if len(cells) != SEQ_LEN:  # separators inside an 81-char field
                    raise PuzzleParseError(f"separator '|' inside an 81-character puzzle; expected 81 cells, found "
                                           f"{len(cells)}", source, lineno, offset + first.index("|") + 1)
            except PuzzleParseError as exc:
                fail(exc)
                continue
            items.append(SudokuPuzzle(np.array([d for _, d in cells], np.uint8), source, lineno))
            continue
        body, offset = line, 0
        if _cell_chars(first) > 20 and first != stripped:  # '<puzzle> <solution> ...' with a puzzle field that
            body, offset = first, line.index(first)         # is not 81 characters: only that field is the puzzle
        long = _cell_chars(body) > 20  # a one-line puzzle (with separators: '5 3 . . 7 ...'), never a grid row
        if long:
            end_grid(lineno)
        try:
            cells = _cells_of(body, source, lineno, offset)
        except PuzzleParseError as exc:
            fail(exc) if long else grid_row(lineno, None, exc)  # a bad row spoils its grid
            continue
        if len(cells) == SEQ_LEN:
            items.append(SudokuPuzzle(np.array([d for _, d in cells], np.uint8), source, lineno))
        elif long or len(cells) != 9:
            # Point at the first surplus cell, or just past the end when cells are missing.
            target = 81 if long else 9
            col = cells[target][0] if len(cells) > target else offset + len(body) + 1
            what = "9 cells (a grid row)" if grid_seen else "81 cells (one puzzle per line) or 9 cells (a grid row)"
            exc = PuzzleParseError(f"expected {what}, found {len(cells)}", source, lineno, col)
            fail(exc) if long else grid_row(lineno, None, exc)
        else:
            grid_row(lineno, [d for _, d in cells], None)
    end_grid(len(lines) + 1)
    if not items:
        raise PuzzleParseError("no puzzles found (expected 81-cell lines or 9x9 grids)", source)
    return settle(items) if errors == "collect" else items


def parse_file(path: str | os.PathLike, errors: str = "raise") -> list:
    """All puzzles of a text file (UTF-8, a BOM allowed, at most ``hrm_sdk.limits`` bytes); ``errors`` as for
    ``parse_text`` (the file's own problems always raise)."""
    path = Path(path)
    try:
        text = read_text(path)
    except PuzzleParseError as exc:
        if "not UTF-8" in exc.reason:
            raise PuzzleParseError(f"binary data, not a UTF-8 text puzzle file ({exc.reason})", str(path)) from None
        raise
    if not text.strip():
        raise PuzzleParseError("empty file; expected 81-cell lines or 9x9 grids", str(path))
    return parse_text(text, str(path), errors)


def as_cells(puzzle, source: str = "<input>") -> np.ndarray:
    """Any natural form of one puzzle -> uint8 [81] with 0 for blanks.

    Accepts a SudokuPuzzle, an 81-char string or a text grid, a 9x9 list of lists, or a numpy array of 81 or 9x9
    values (0 or None for blanks).
    """
    if isinstance(puzzle, SudokuPuzzle):
        return puzzle.cells
    if isinstance(puzzle, str):
        found = parse_text(puzzle, source)
        if len(found) != 1:
            raise PuzzleParseError(f"expected one puzzle, found {len(found)}", source)
        return found[0].cells
    try:
        arr = np.array([[0 if v is None else v for v in row] for row in puzzle], dtype=np.int64) \
            if isinstance(puzzle, (list, tuple)) and puzzle and isinstance(puzzle[0], (list, tuple)) \
            else np.asarray(puzzle, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise PuzzleParseError(f"cannot read a Sudoku grid from {type(puzzle).__name__}: {exc}", source) from exc
    if arr.size != SEQ_LEN or arr.shape not in ((81,), (9, 9)):
        raise PuzzleParseError(f"expected 81 cells or a 9x9 grid, got shape {tuple(arr.shape)}", source)
    bad = np.argwhere((arr < 0) | (arr > 9))
    if len(bad):
        r, c = (bad[0] if arr.ndim == 2 else divmod(int(bad[0][0]), 9))
        raise PuzzleParseError(f"cell r{r + 1}c{c + 1} holds {arr[tuple(bad[0])]}; expected 0-9", source)
    return arr.reshape(81).astype(np.uint8)


# -----------------------------------------------------------------------------
# Checking

UNITS = np.array(
    [[r * 9 + c for c in range(9)] for r in range(9)]
    + [[r * 9 + c for r in range(9)] for c in range(9)]
    + [[(br * 3 + r) * 9 + bc * 3 + c for r in range(3) for c in range(3)] for br in range(3) for bc in range(3)],
    dtype=np.int64,
)  # [27, 9]: 9 rows, 9 columns, 9 boxes
UNIT_NAMES = [f"row {i + 1}" for i in range(9)] + [f"column {i + 1}" for i in range(9)] + [f"box {i + 1}" for i in range(9)]


def cell_name(index: int) -> str:
    return f"r{index // 9 + 1}c{index % 9 + 1}"


def find_conflicts(cells: np.ndarray) -> list[str]:
    """Descriptions of every pair of equal givens in one unit, e.g. 'two 7s in row 1 (r1c3, r1c8)'."""
    cells = np.asarray(cells).reshape(81)
    out = []
    for name, unit in zip(UNIT_NAMES, UNITS):
        vals = cells[unit]
        for d in range(1, 10):
            where = unit[vals == d]
            if len(where) > 1:
                out.append(f"{len(where)} {d}s in {name} ({', '.join(cell_name(i) for i in where)})")
    return out


def check_givens(cells: np.ndarray, source: str = "<input>") -> None:
    """Raise InvalidPuzzleError naming the cells when givens contradict each other."""
    conflicts = find_conflicts(cells)
    if conflicts:
        more = f" (+{len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise InvalidPuzzleError(f"{source}: contradictory givens: {conflicts[0]}{more}")


def is_solution(puzzle: np.ndarray, solution: np.ndarray) -> np.ndarray:
    """Vectorised check: every cell 1-9, givens kept, all 27 units hold 1..9. [..., 81] -> bool [...]."""
    puzzle = np.asarray(puzzle).reshape(-1, 81)
    solution = np.asarray(solution).reshape(-1, 81)
    in_range = ((solution >= 1) & (solution <= 9)).all(-1)
    givens_kept = ((puzzle == 0) | (puzzle == solution)).all(-1)
    units = np.sort(solution[:, UNITS], axis=-1)  # [N, 27, 9]
    units_ok = (units == np.arange(1, 10)).all((-1, -2))
    return in_range & givens_kept & units_ok


# -----------------------------------------------------------------------------
# Encoding


def encode(cells: np.ndarray) -> np.ndarray:
    """Digits (0 = blank) [..., 81] -> tokens [..., 81]."""
    return (np.asarray(cells, dtype=np.uint8) + 1).astype(np.uint8)


def decode(tokens: np.ndarray) -> np.ndarray:
    """Tokens -> digits; PAD and blank both decode to 0."""
    t = np.asarray(tokens).astype(np.int16)
    return np.clip(t - 1, 0, 9).astype(np.uint8)


# -----------------------------------------------------------------------------
# Augmentation


@dataclass
class SudokuTransform:
    """A validity-preserving symmetry: cell permutation (band/row/stack/column moves, transpose) + relabelling."""

    cell_perm: np.ndarray  # int [81]: out[i] = in[cell_perm[i]]
    digit_map: np.ndarray  # uint8 [10]: digit d -> digit_map[d], 0 -> 0

    def apply(self, cells: np.ndarray) -> np.ndarray:
        return self.digit_map[np.asarray(cells)[..., self.cell_perm]]

    def invert(self, cells: np.ndarray) -> np.ndarray:
        inv_perm = np.argsort(self.cell_perm)
        inv_map = np.argsort(self.digit_map).astype(np.uint8)
        return inv_map[np.asarray(cells)][..., inv_perm]

    @property
    def token_map(self) -> np.ndarray:
        """uint8 [VOCAB_SIZE]: the relabelling on tokens (PAD and blank kept), as ``augment_batch`` applies it."""
        return np.concatenate([[0], np.asarray(self.digit_map, np.uint8) + 1]).astype(np.uint8)

    def apply_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """The transform of token rows ``[..., 81]`` (a puzzle or an answer)."""
        return self.token_map[np.asarray(tokens)[..., self.cell_perm]]

    def invert_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Undo ``apply_tokens``; any token 0..10 maps back (a predicted blank stays blank)."""
        inv_map = np.argsort(self.token_map).astype(np.uint8)
        return inv_map[np.asarray(tokens)][..., np.argsort(self.cell_perm)]


def _grouped_perm(rng: np.random.Generator, n: int) -> np.ndarray:
    """[n, 9] maps from new line to old line: a permutation of the 3 groups and of the 3 lines in each."""
    groups = np.argsort(rng.random((n, 3)), axis=1)
    within = np.argsort(rng.random((n, 3, 3)), axis=2)
    return (3 * groups[:, :, None] + within).reshape(n, 9)


def random_transforms(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n random symmetries as (cell_perm [n, 81], digit_map [n, 10])."""
    rows, cols = _grouped_perm(rng, n), _grouped_perm(rng, n)
    perm = rows[:, :, None] * 9 + cols[:, None, :]  # [n, 9, 9]
    transpose = rng.random(n) < 0.5
    perm[transpose] = perm[transpose].transpose(0, 2, 1)
    digits = np.zeros((n, 10), dtype=np.uint8)
    digits[:, 1:] = 1 + np.argsort(rng.random((n, 9)), axis=1)
    return perm.reshape(n, 81), digits


def view_transforms(k: int, seed: int = 0) -> list[SudokuTransform]:
    """The K test-time views (``hrm_sdk.runtime.views``): the identity, then k - 1 symmetries drawn by
    ``random_transforms`` from a generator seeded with ``seed`` (the same views on every call)."""
    if k < 1:
        raise HRMError(f"views must be >= 1 (1 = the puzzle as given), got {k}")
    views = [SudokuTransform(np.arange(SEQ_LEN), np.arange(10, dtype=np.uint8))]
    perm, digits = random_transforms(np.random.default_rng(seed), k - 1)
    return views + [SudokuTransform(p, d) for p, d in zip(perm, digits)]


def augment_batch(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random symmetry applied to each row's tokens and labels."""
    perm, digits = random_transforms(rng, len(inputs))
    token_map = np.zeros((len(inputs), VOCAB_SIZE), dtype=np.uint8)
    token_map[:, 1:] = digits + 1  # blank (1) -> 1, digit token d+1 -> map[d]+1
    rows = np.arange(len(inputs))[:, None]
    return token_map[rows, inputs[rows, perm]], token_map[rows, labels[rows, perm]]


# -----------------------------------------------------------------------------
# Dataset build


def read_collection(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shared-data file of '<puzzle> <solution> <guesses>' lines -> (puzzles, solutions, guesses)."""
    puzzles, solutions, guesses = [], [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 2 or len(parts[0]) != 81 or len(parts[1]) != 81:
                raise PuzzleParseError("expected '<81-char puzzle> <81-digit solution> [guesses]'", str(path), lineno)
            puzzles.append(parts[0])
            solutions.append(parts[1])
            guesses.append(int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else -1)
    p = np.frombuffer("".join(puzzles).encode("ascii", "replace"), dtype=np.uint8).reshape(-1, 81).copy()
    s = np.frombuffer("".join(solutions).encode("ascii", "replace"), dtype=np.uint8).reshape(-1, 81) - ord("0")
    p[(p == ord(".")) | (p == ord("0")) | (p == ord("_"))] = ord("0")
    p -= ord("0")
    bad_rows = np.flatnonzero((p > 9).any(1) | (s > 9).any(1))
    if len(bad_rows):
        raise PuzzleParseError("puzzle or solution has a character other than 1-9 and '.'", str(path),
                               int(bad_rows[0]) + 1)
    bad = np.flatnonzero(~is_solution(p, s))
    if len(bad):
        raise PuzzleParseError(f"solution does not solve the puzzle ({len(bad)} such rows)", str(path), int(bad[0]) + 1)
    return p, s.astype(np.uint8), np.asarray(guesses, dtype=np.int32)


def build(out_dir: str | os.PathLike, source_dir: str | os.PathLike, seed: int = 0, generate: int = 0,
          difficulty: str = "any", include_17clue: bool = True, augment: bool = True) -> list[Path]:
    """Build ``train`` (hard-train [+ 17-clue] [+ generated]) and ``test`` (hard-test, never augmented).

    Any train puzzle that also occurs in the test file is dropped, so nothing derived from the test set is
    trained on.
    """
    from ...data.dataset import DatasetMeta, source_record, write_split

    source_dir = Path(source_dir)
    files = ["hard-train.txt"] + (["17-clue.txt"] if include_17clue else [])
    test_file = source_dir / "hard-test.txt"
    for name in files + ["hard-test.txt"]:
        if not (source_dir / name).is_file():
            raise FileNotFoundError(f"{source_dir / name}: missing; expected the shared Sudoku collections there")
    parts, sources = [], []
    for name in files:
        p, s, g = read_collection(source_dir / name)
        parts.append((p, s, g))
        sources.append(source_record(source_dir / name, len(p)))
    if generate:
        from . import exact as sudoku_solver

        log.info("generating %d puzzles at difficulty %s", generate, difficulty)
        p, s, g = sudoku_solver.generate_many(seed, generate, difficulty=difficulty)
        parts.append((p, s, g))
        sources.append({"path": f"generator(seed={seed}, difficulty={difficulty})", "sha256": None, "count": generate})
    train_p = np.concatenate([p for p, _, _ in parts])
    train_s = np.concatenate([s for _, s, _ in parts])
    train_g = np.concatenate([g for _, _, g in parts])

    test_p, test_s, test_g = read_collection(test_file)
    test_keys = {row.tobytes() for row in test_p}
    keep = np.array([row.tobytes() not in test_keys for row in train_p])
    if (~keep).any():
        log.warning("dropped %d train puzzles that also occur in the test set", int((~keep).sum()))
    train_p, train_s, train_g = train_p[keep], train_s[keep], train_g[keep]

    args = dict(seed=seed, generate=generate, difficulty=difficulty, include_17clue=include_17clue, augment=augment)
    out = []
    for split, p, s, g, src, aug in (("train", train_p, train_s, train_g, sources, augment),
                                     ("test", test_p, test_s, test_g, [source_record(test_file, len(test_p))], False)):
        meta = DatasetMeta(task=TASK, split=split, vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN, num_puzzle_ids=1,
                           size=len(p), augment=aug, seed=seed, sources=src, build=args)
        arrays = {"inputs": encode(p), "labels": encode(s), "puzzle_ids": np.zeros(len(p), np.int32), "guesses": g}
        out.append(write_split(out_dir, meta, arrays))
        log.info("wrote %s: %d puzzles", out[-1], len(p))
    return out
