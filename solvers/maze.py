"""MazeSolver: the network marks a path; the solver checks it is a valid and shortest path before calling it solved.

    solver = MazeSolver()
    r = solver.solve(open("maze.txt").read())     # a 30x30 grid of '# SG' characters
    r.solved, r.path, r.grid                      # path: [(row, col), ...] from S to G

Mazes of another size than the model's are refused with a clear message (the bundled model is 30x30).

Views (``views`` 2..8, ``hrm_sdk.runtime.views``): each maze also runs rotated and reflected
(``maze.view_transforms``), and the de-augmented answers vote. The model marks the benchmark's tie-break path
of the orientation it sees, so the views often mark different shortest paths and the vote splits; a path
from a rotated view is as short but is not the benchmark's label. So the answer is the identity view's when
it is a valid shortest path (exactly what one view answers), else the best-ranked candidate that is one, else
the top-voted (``choose``; ``extra["views"]["rank"]`` is the taken candidate's rank, 0 = the top-voted). ``steps`` stays the identity view's segments;
``extra["views"]`` also has ``k``, the ``segments`` of all views, the taken answer's ``votes`` and the number of
distinct ``candidates``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hrm_sdk.tasks import maze as mz
from hrm_sdk.tasks.text import ItemError, settle
from hrm_sdk.errors import InvalidPuzzleError, PuzzleParseError
from hrm_sdk.limits import current as current_limits

from .base import Solver, task_views


@dataclass
class MazeResult:
    maze: np.ndarray | None  # tokens [H, W]; None when the maze could not be read (see error)
    solved: bool  # True only for a valid path of the shortest length
    valid: bool  # the marked cells form one 4-connected path from S to G through open cells
    optimal: bool  # valid and as short as breadth-first search finds
    path: list | None  # [(row, col), ...] from S to G, when valid
    grid: list[str] | None  # the network's answer as rows of '# SGo' characters (None: not read)
    length: int | None  # moves of the marked path
    shortest: int | None  # moves of a shortest path (BFS)
    reason: str  # why the answer failed the check, or ""
    steps: int
    confidence: float
    seconds: float
    source: str = "<input>"
    line: int | None = None
    extra: dict = field(default_factory=dict)
    error: str | None = None  # why this maze was refused (unreadable, no path from S to G, wrong size) or None

    @classmethod
    def unreadable(cls, item: ItemError) -> "MazeResult":
        """The result of a maze that could not be read: ``error`` says where (file:line:column) and what."""
        return cls(maze=None, solved=False, valid=False, optimal=False, path=None, grid=None, length=None,
                   shortest=None, reason=item.message, steps=0, confidence=0.0, seconds=0.0, source=item.source,
                   line=item.line, error=item.message)

    def to_dict(self) -> dict:
        return {"source": self.source, "line": self.line, "solved": self.solved, "error": self.error, "valid": self.valid,
                "optimal": self.optimal, "length": self.length, "shortest": self.shortest,
                "path": [list(p) for p in self.path] if self.path else None, "grid": self.grid,
                "reason": self.reason, "steps": self.steps, "confidence": round(self.confidence, 4),
                "seconds": round(self.seconds, 4), **({"views": self.extra["views"]} if "views" in self.extra else {})}


class MazeSolver(Solver):
    task = "maze"

    def __init__(self, model=None, backend: str = "auto", device: str | None = None, batch_size: int = 64,
                 max_steps: int | None = None, min_steps: int = 1, halting: str = "q", views: int = 1,
                 precision: str | None = None):
        self.views = task_views(self.task, views) if views != 1 else None  # validated before loading a model
        super().__init__(model, backend, device, batch_size, max_steps, min_steps, halting, precision)

    result_key = "mazes"

    @classmethod
    def parse_text(cls, text: str, source: str = "<input>") -> list[mz.Maze]:
        return mz.parse_text(text, source)

    @classmethod
    def check_item(cls, item, where: str):
        if not isinstance(item, str):
            raise InvalidPuzzleError(f"{where}: expected the maze's text (rows of '# SG'), got {type(item).__name__}")
        return item

    def solve_items(self, items: list, options: dict, source: str = "<request>") -> list[MazeResult]:
        return self.solve_many(items, source)

    def solve(self, maze) -> MazeResult:
        return self.solve_many([maze])[0]

    def solve_many(self, mazes, source: str = "<input>") -> list[MazeResult]:
        """Solve mazes: the text of a maze file, or an iterable of Maze objects / texts / arrays. Maze objects
        parsed from a file (they carry `source_line`) are reported as `source`:line. A maze that cannot be read
        (``error``: file:line:column and what), that the model cannot take (another size) or that has no path
        from S to G gets a result of its own with ``error`` set; the rest are solved. Only input of which not
        one maze can be read is refused with PuzzleParseError."""
        t0 = time.perf_counter()
        parsed = self._parse(mazes, source)
        limit = current_limits().max_puzzles
        if len(parsed) > limit:
            raise InvalidPuzzleError(f"{len(parsed):,} mazes in one call, over the limit of {limit:,} (set "
                                     "HRM_MAX_PUZZLES to raise it, or solve the file in parts)")
        side = int(round(self.meta.seq_len ** 0.5))
        errors: list[str | None] = []
        for m, _ in parsed:
            if isinstance(m, ItemError):
                errors.append(m.message)
            elif m.shape != (side, side):
                errors.append(f"the maze is {m.shape[0]}x{m.shape[1]}, but this model solves {side}x{side} mazes only")
            elif mz.shortest_path_length(m.grid) is None:
                errors.append("the maze has no path from S to G")
            else:
                errors.append(None)
        good = [i for i, e in enumerate(errors) if e is None]
        solved = self._solve_parsed([parsed[i] for i in good], t0) if good else []
        out = [MazeResult.unreadable(m) if isinstance(m, ItemError) else
               MazeResult(maze=m.grid, solved=False, valid=False, optimal=False, path=None,
                          grid=mz.decode(m.tokens.reshape(-1), m.shape), length=None, shortest=None, reason=e,
                          steps=0, confidence=0.0, seconds=0.0, source=src, line=m.source_line, error=e)
               for (m, src), e in zip(parsed, errors)]
        for i, r in zip(good, solved):
            out[i] = r
        return out

    def _solve_parsed(self, parsed: list[tuple[mz.Maze, str]], t0: float) -> list[MazeResult]:
        """The network and the path check, for mazes that passed the checks of ``solve_many``."""
        if self.views is None:
            results = self.run([(m.tokens, 0) for m, _ in parsed])
            picks = [(r.prediction, float(r.confidence.min()), {}) for r in results]
        else:
            voted = self.run_views(np.stack([m.tokens for m, _ in parsed]), self.views)
            results = [v.identity for v in voted]
            picks = [self.pick(m.grid, v) for (m, _), v in zip(parsed, voted)]
        seconds = (time.perf_counter() - t0) / len(parsed)
        out = []
        for (m, src), r, (answer, confidence, extra) in zip(parsed, results, picks):
            pred = answer.astype(np.uint8).reshape(m.shape)
            check = mz.check_path(m.grid, pred)
            out.append(MazeResult(
                maze=m.grid, solved=check.valid and check.optimal, valid=check.valid, optimal=check.optimal,
                path=mz.path_from_grid(pred) if check.valid else None, grid=mz.decode(pred.reshape(-1), m.shape),
                length=check.length, shortest=check.shortest, reason=check.reason, steps=r.steps,
                confidence=confidence, seconds=seconds, source=src, line=m.source_line, extra=extra))
        return out

    def pick(self, maze, voted) -> tuple[np.ndarray, float, dict]:
        """(answer, its confidence, extra) of one maze's vote (``choose``); ``maze`` a grid or its tokens."""
        grid = mz.as_grid(maze)
        rank = choose(grid, voted)
        c = voted.candidates[rank]
        return c.answer, float(voted.confidence[c.views[0]]), {
            "views": {"k": self.views.k, "segments": voted.segments, "rank": rank, "votes": c.votes,
                      "candidates": len(voted.candidates)}}

    @staticmethod
    def _parse(mazes, source: str) -> list[tuple]:
        """-> (maze, where it came from) pairs; an ItemError in place of a maze that cannot be read (``settle``:
        unless none can). ItemErrors in a list (``maze.parse_text(..., errors="collect")``) pass through."""
        if isinstance(mazes, str):
            return [(m, source) for m in mz.parse_text(mazes, source, errors="collect")]
        out = []
        for k, m in enumerate(mazes):
            if isinstance(m, ItemError):
                out.append((m, m.source))
                continue
            from_file = isinstance(m, mz.Maze) and m.source_line is not None
            name = source if from_file else f"maze {k + 1}"
            try:
                if isinstance(m, str):
                    found = mz.parse_text(m, name)
                    if len(found) != 1:
                        raise PuzzleParseError(f"expected one maze, found {len(found)}", name)
                    m = found[0]
                elif not isinstance(m, mz.Maze):
                    try:
                        m = mz.Maze(grid=mz.as_grid(np.asarray(m)))
                    except ValueError as exc:  # not one maze: a wrong shape, an unknown character
                        raise PuzzleParseError(str(exc), name) from None
            except PuzzleParseError as exc:
                m = ItemError.of(exc)
            out.append((m, name))
        if not out:
            raise InvalidPuzzleError("no mazes given")
        settle([m for m, _ in out], "maze")
        return out


def choose(grid: np.ndarray, voted) -> int:
    """The rank of the candidate to answer with: the identity view's if it is a valid shortest path, else the
    best-ranked candidate that is one, else 0 (the top-voted)."""
    def shortest(c) -> bool:
        return mz.check_path(grid, c.answer.astype(np.uint8).reshape(grid.shape)).optimal

    first = next(k for k, c in enumerate(voted.candidates) if c.views[0] == 0)
    if shortest(voted.candidates[first]):
        return first
    return next((k for k, c in enumerate(voted.candidates) if shortest(c)), 0)
