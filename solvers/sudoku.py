"""SudokuSolver: the network answers, every answer is checked, and failed answers get a bounded repair.

    solver = SudokuSolver()                       # the bundled model, best backend available
    r = solver.solve("53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79")
    r.solved, r.route, r.grid                     # route: "network", "views", "more_steps" or "search"
    results = solver.solve_many(open("puzzles.txt").read())
    SudokuSolver(views=4)                         # test-time augmentation: vote over 4 symmetric views

Inputs: an 81-character string, a text grid, a list of lists or a numpy array (0/None/'.' for blanks), or a
whole file's text for ``solve_many``. An answer is ``solved`` only if it keeps every given and fills all 27
units with 1..9; otherwise, within the caller's ``Budget``, the solver runs more ACT segments and then a search
over the network's least confident cells.

Bad puzzles in a batch: each puzzle that cannot be read (a malformed line or grid of a file's text, an item
of a list that is no Sudoku), whose givens contradict each other, or (solutions are counted up to 2 first: by
``hrm_sdk.tasks.sudoku.count`` in plain Python for a few puzzles, by numba's ``exact`` for more) that has no
solution at all, gets a
result of its own with ``error`` set (for an unreadable one: ``file:line:column: what is wrong``, and
``puzzle`` None) and no compute spent on it; the rest are solved. Only input of which not one puzzle can be
read is refused with PuzzleParseError. A puzzle with several solutions is solved as usual and marked
``ambiguous``.

Views (``views`` > 1, ``hrm_sdk.runtime.views``): each puzzle also runs under K - 1 fixed symmetries
(``sudoku.view_transforms``), and the de-augmented answers vote. The network answer (route "network") is the
top-voted one; if it fails the check, the other candidates are tried in rank order and the first that passes
is taken with route "views"; then the repair routes follow, which rerun and search from the identity view as
with one view. ``steps`` stays the identity view's segments (comparable with one view); ``extra["views"]`` has
``k``, the ``segments`` of all views, the ``rank`` of the candidate taken by route "views" (else 0: the
top-voted), its ``votes``, and the number of distinct ``candidates``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hrm_sdk.tasks import sudoku
from hrm_sdk.tasks.text import ItemError, settle
from hrm_sdk.errors import InvalidPuzzleError, PuzzleParseError
from hrm_sdk.limits import current as current_limits
from hrm_sdk.runtime import ACTPolicy

from .base import Solver, task_views


@dataclass
class Budget:
    """Extra compute allowed for an answer that fails the check (0 disables a route)."""

    extra_steps: int = 0  # rerun with halting off for halt_max_steps + extra_steps segments (costly on a CPU)
    search_nodes: int = 2000  # network-guided search nodes


@dataclass
class SudokuResult:
    puzzle: np.ndarray | None  # uint8 [9, 9], 0 = blank; None when the puzzle could not be read (see error)
    solved: bool  # True only when `grid` was checked against the givens and all 27 units
    grid: np.ndarray | None  # uint8 [9, 9]: the checked solution, or None
    network_grid: np.ndarray | None  # uint8 [9, 9]: the network's own answer (may be invalid); None on error
    route: str | None  # "network", "views", "more_steps", "search", or None when unsolved
    steps: int  # ACT segments of the network answer (with views: of the identity view)
    confidence: float  # lowest per-cell probability of the network answer
    seconds: float  # wall time, amortised over the batch for solve_many
    search_nodes: int = 0
    source: str = "<input>"
    line: int | None = None
    extra: dict = field(default_factory=dict)
    error: str | None = None  # why this puzzle was refused (unreadable, contradictory givens, no solution) or None
    ambiguous: bool = False  # the puzzle has several solutions (the exact solver found a second one)

    @classmethod
    def unreadable(cls, item: ItemError) -> "SudokuResult":
        """The result of a puzzle that could not be read: ``error`` says where and what."""
        return cls(puzzle=None, solved=False, grid=None, network_grid=None, route=None, steps=0, confidence=0.0,
                   seconds=0.0, source=item.source, line=item.line, error=item.message)

    def to_dict(self) -> dict:
        def s(g):
            return None if g is None else "".join(map(str, g.reshape(81)))

        puzzle = s(self.puzzle)
        return {"source": self.source, "line": self.line, "puzzle": puzzle and puzzle.replace("0", "."),
                "solved": self.solved, "solution": s(self.grid), "route": self.route, "steps": self.steps,
                "confidence": round(self.confidence, 4), "network_answer": s(self.network_grid),
                "search_nodes": self.search_nodes, "seconds": round(self.seconds, 4), "ambiguous": self.ambiguous,
                "error": self.error, **({"views": self.extra["views"]} if "views" in self.extra else {})}


class SudokuSolver(Solver):
    task = "sudoku"

    def __init__(self, model=None, backend: str = "auto", device: str | None = None, batch_size: int = 64,
                 max_steps: int | None = None, min_steps: int = 1, halting: str = "q", budget: Budget | None = None,
                 views: int = 1, precision: str | None = None):
        self.views = task_views(self.task, views) if views != 1 else None  # validated before loading a model
        super().__init__(model, backend, device, batch_size, max_steps, min_steps, halting, precision)
        self.budget = budget or Budget()

    request_options = {**Solver.request_options, "extra_steps": int, "search_nodes": int}  # + its Budget

    @classmethod
    def parse_text(cls, text: str, source: str = "<input>") -> list[sudoku.SudokuPuzzle]:
        return sudoku.parse_text(text, source)

    @classmethod
    def check_item(cls, item, where: str):
        if not isinstance(item, (str, list)):
            raise InvalidPuzzleError(f"{where}: expected a string or a 9x9 list, got {type(item).__name__}")
        sudoku.as_cells(item, where)
        return item

    def solve_items(self, items: list, options: dict, source: str = "<request>") -> list[SudokuResult]:
        return self.solve_many(items, Budget(options.get("extra_steps", self.budget.extra_steps),
                                             options.get("search_nodes", self.budget.search_nodes)))

    def evaluation_extras(self, inputs, labels, repair: bool = True) -> dict:
        """``hrm eval``'s ``with_repair`` section: the solver's routes on the test set, and the same search
        with the same budget but no network (digits in plain order)."""
        if not repair:
            return {}
        from .sudoku_search import guided_search

        cells = sudoku.decode(inputs)
        results = self.solve_many(list(cells))
        truth = sudoku.decode(labels)
        correct = [r.solved and np.array_equal(r.grid.reshape(81), t) for r, t in zip(results, truth)]
        routes = {}
        for r in results:
            routes[r.route or "unsolved"] = routes.get(r.route or "unsolved", 0) + 1
        uniform = np.full((81, 9), 1 / 9)
        blind = [guided_search(c, uniform, self.budget.search_nodes)[0] is not None for c in cells]
        return {"with_repair": {"solved": float(np.mean([r.solved for r in results])),
                                "correct": float(np.mean(correct)), "routes": routes,
                                "budget": {"extra_steps": self.budget.extra_steps,
                                           "search_nodes": self.budget.search_nodes},
                                "search_without_network": float(np.mean(blind))}}

    def solve(self, puzzle, budget: Budget | None = None) -> SudokuResult:
        return self.solve_many([puzzle], budget)[0]

    def solve_many(self, puzzles, budget: Budget | None = None) -> list[SudokuResult]:
        """Solve an iterable of puzzles (or the text of a puzzle file); results in input order. A puzzle that
        cannot be solved by anyone (contradictory givens, no solution) gets a result with ``error`` set."""
        t0 = time.perf_counter()
        parsed = self._parse(puzzles)
        limit = current_limits().max_puzzles
        if len(parsed) > limit:
            raise InvalidPuzzleError(f"{len(parsed):,} puzzles in one call, over the limit of {limit:,} (set "
                                     "HRM_MAX_PUZZLES to raise it, or solve the file in parts)")
        readable = [not isinstance(p, ItemError) for p in parsed]
        cells = np.stack([p.cells if ok else np.zeros(81, np.uint8) for p, ok in zip(parsed, readable)])
        errors: list[str | None] = []
        for p, ok in zip(parsed, readable):  # unreadable and contradictory puzzles are refused before any compute
            conflicts = sudoku.find_conflicts(p.cells) if ok else []
            if not ok:
                errors.append(p.message)
            elif conflicts:
                more = f" (+{len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
                errors.append(f"contradictory givens: {conflicts[0]}{more}")
            else:
                errors.append(None)
        counts = _count_solutions(cells, [e is None for e in errors])
        for i in np.flatnonzero(counts == 0):
            errors[i] = "no solution: the givens do not contradict each other directly, but no grid completes them"
        good = [i for i, e in enumerate(errors) if e is None]
        solved = self._solve_parsed([parsed[i] for i in good], budget or self.budget, t0) if good else []
        out = [SudokuResult(puzzle=p.cells.reshape(9, 9), solved=False, grid=None, network_grid=None, route=None,
                            steps=0, confidence=0.0, seconds=0.0, source=p.source, line=p.line, error=e)
               if ok else SudokuResult.unreadable(p) for p, ok, e in zip(parsed, readable, errors)]
        for i, r in zip(good, solved):
            r.ambiguous = bool(counts[i] >= 2)
            out[i] = r
        return out

    def _solve_parsed(self, parsed: list[sudoku.SudokuPuzzle], budget: Budget, t0: float) -> list[SudokuResult]:
        """The network, then the repair routes, for puzzles that passed the checks of ``solve_many``."""
        cells = np.stack([p.cells for p in parsed])
        voted = None
        if self.views is None:
            results = self.run([(sudoku.encode(c), 0) for c in cells], keep_logits=True)
            answers = sudoku.decode(np.stack([r.prediction for r in results]))
        else:
            voted = self.run_views(sudoku.encode(cells), self.views, keep_logits=True)
            results = [v.identity for v in voted]
            answers = sudoku.decode(np.stack([v.answer for v in voted]))
        ok = sudoku.is_solution(cells, answers)
        route = np.where(ok, "network", "").astype(object)
        final = np.where(ok[:, None], answers, 0)
        nodes = np.zeros(len(cells), dtype=np.int64)
        taken = np.zeros(len(cells), dtype=np.int64)  # rank of the candidate taken by route "views"
        if voted is not None:
            for i in np.flatnonzero(~ok):
                for rank, c in enumerate(voted[i].candidates[1:], start=1):
                    grid = sudoku.decode(c.answer)
                    if sudoku.is_solution(cells[i], grid).all():
                        final[i], route[i], taken[i] = grid, "views", rank
                        break

        todo = np.flatnonzero(route == "")
        if len(todo) and budget.extra_steps > 0:
            more = ACTPolicy(max_steps=self.meta.halt_max_steps + budget.extra_steps, halting="max")
            rerun = self.run([(sudoku.encode(cells[i]), 0) for i in todo], policy=more)
            again = sudoku.decode(np.stack([r.prediction for r in rerun]))
            good = sudoku.is_solution(cells[todo], again)
            final[todo[good]] = again[good]
            route[todo[good]] = "more_steps"
            todo = todo[~good]
        if budget.search_nodes > 0 and len(todo):
            from .sudoku_search import guided_search_many

            searched = guided_search_many([(cells[i], _digit_probs(results[i].logits)) for i in todo],
                                          budget.search_nodes)
            for i, (found, used) in zip(todo, searched):
                nodes[i] = used
                if found is not None and sudoku.is_solution(cells[i], found).all():
                    final[i] = found
                    route[i] = "search"
        seconds = (time.perf_counter() - t0) / len(cells)
        out = []
        for i, (p, r) in enumerate(zip(parsed, results)):
            solved = bool(route[i])
            confidence, extra = float(r.confidence.min()), {}
            if voted is not None:
                v = voted[i]
                confidence = float(v.confidence[v.candidates[0].views[0]])
                extra["views"] = {"k": self.views.k, "segments": v.segments, "rank": int(taken[i]),
                                  "votes": v.candidates[taken[i]].votes, "candidates": len(v.candidates)}
            out.append(SudokuResult(
                puzzle=cells[i].reshape(9, 9), solved=solved, grid=final[i].reshape(9, 9) if solved else None,
                network_grid=answers[i].reshape(9, 9), route=route[i] or None, steps=r.steps,
                confidence=confidence, seconds=seconds, search_nodes=int(nodes[i]), source=p.source,
                line=p.line, extra=extra))
        return out

    @staticmethod
    def _parse(puzzles) -> list:
        """SudokuPuzzles, and ItemErrors in place of the puzzles that cannot be read (``settle``: unless none
        can). ItemErrors in a list (``sudoku.parse_text(..., errors="collect")``) pass through."""
        if isinstance(puzzles, str):
            return sudoku.parse_text(puzzles, errors="collect")
        out = []
        for k, p in enumerate(puzzles):
            if isinstance(p, (sudoku.SudokuPuzzle, ItemError)):
                out.append(p)
                continue
            try:
                out.append(sudoku.SudokuPuzzle(sudoku.as_cells(p, f"puzzle {k + 1}"), source=f"puzzle {k + 1}"))
            except PuzzleParseError as exc:
                out.append(ItemError.of(exc))
        if not out:
            raise InvalidPuzzleError("no puzzles given")
        return settle(out)


PY_COUNT_ROWS = 4  # up to this many puzzles are counted in plain Python (ms each) instead of loading numba (~0.4 s)


def _count_solutions(cells: np.ndarray, mask: list[bool]) -> np.ndarray:
    """Solutions of each puzzle counted up to 2 for the rows where ``mask`` holds, -1 elsewhere: a few puzzles (or
    any number when numba is not installed, the ``[train]`` extra) in plain Python, more by the compiled exact
    solver."""
    import importlib.util

    counts = np.full(len(cells), -1, dtype=np.int64)
    rows = np.flatnonzero(mask)
    if len(rows) <= PY_COUNT_ROWS or importlib.util.find_spec("numba") is None:
        from hrm_sdk.tasks.sudoku.count import count_solutions

        counts[rows] = [count_solutions(cells[r], limit=2) for r in rows]
    else:
        from hrm_sdk.tasks.sudoku import exact

        _, found, _ = exact.solve_batch(cells[rows], limit=2)
        counts[rows] = found
    return counts


def _digit_probs(logits: np.ndarray) -> np.ndarray:
    """[81, vocab] logits -> [81, 9] probabilities of digits 1..9 (tokens 2..10)."""
    z = logits[:, 2:11].astype(np.float64)
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)
