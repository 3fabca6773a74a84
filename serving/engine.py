"""What a server replica runs, without Ray: the solvers with their ACT loops shared across requests.

``ServedSolver(task)`` opens one solver of a task (``solvers``) and routes its ACT loop through a
``hrm_sdk.runtime.batcher.Batcher``, so that every request's puzzles (and views) join one running batch. The
solver's own checks, votes and repair routes run in the caller's thread as in ``solve_many``; only the network
segments are shared, so each puzzle's answer is the in-process solver's.

A request is a JSON object (``solve_request``): ``puzzle`` (one), ``puzzles`` (a list) or ``text`` (the text
of a puzzle file, with an optional ``source`` name), plus the task's per-request options (``OPTIONS``). The
answer is the document ``hrm solve TASK --format json`` prints: ``{"puzzles"|"mazes": [...], "solved", "total"}``
(ARC: the ``--format jsonl`` object of its one task). Anything wrong with a request raises ``RequestError``
with an HTTP status and a one-line message.

Puzzles under one ACT policy share a lane (one backend, one batch); a request with another ``max_steps`` (or
Sudoku's ``extra_steps`` repair rerun) uses a lane of its own, opened on first use, at most ``MAX_LANES``.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field

from hrm_sdk import runtime
from hrm_sdk.errors import HRMError
from hrm_sdk.runtime import ACTPolicy, run_views
from hrm_sdk.runtime.batcher import Batcher, BatcherStats

from hrm_sdk.solvers.base import solver_class, task_views

log = logging.getLogger(__name__)

TASKS = ("sudoku", "maze", "arc")
RESULT_KEY = {"sudoku": "puzzles", "maze": "mazes"}  # the list's key in `hrm solve TASK --format json`
OPTIONS = {  # per-request options: name -> type
    "sudoku": {"views": int, "max_steps": int, "extra_steps": int, "search_nodes": int},
    "maze": {"views": int, "max_steps": int},
    "arc": {},
}
MAX_LANES = 4


class RequestError(HRMError):
    """A request the server refuses: ``status`` (400, 413, 404) and a one-line message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class ServeOptions:
    """How a replica opens its solvers."""

    tasks: tuple[str, ...] = ("sudoku",)
    model: str | None = None  # a bundled name or path (one task only); None: each task's bundled model
    backend: str = "auto"
    device: str | None = None
    batch_size: int = 64  # slots of each lane's batch
    max_puzzles: int = 256  # most puzzles in one request (more: HTTP 413)


@dataclass
class SolveCounts:
    """What one request did, for the metrics."""

    puzzles: int = 0
    segments: int = 0
    routes: dict = field(default_factory=dict)  # route ("network", "search", ... or "unsolved") -> puzzles


class _SharedLoop:
    """Mixed into a solver class: its ``run`` and ``run_views`` go through shared batchers (one per policy)."""

    _lanes: dict
    _lanes_lock: threading.Lock

    def _lane(self, policy: ACTPolicy) -> Batcher:
        key = (policy.max_steps or self.meta.halt_max_steps, policy.min_steps, policy.halting)
        with self._lanes_lock:
            lane = self._lanes.get(key)
            if lane is None:
                if len(self._lanes) >= MAX_LANES:
                    raise RequestError(f"too many distinct ACT policies in use (at most {MAX_LANES}); "
                                       f"use the server's max_steps")
                backend = self.backend if not self._lanes else runtime.open(self.model_path, *self._open_args)
                lane = Batcher(backend, self.config.batch_size, policy, name=f"hrm-{self.task}-{key}")
                self._lanes[key] = lane
                log.info("%s: lane %s on %s", self.task, key, backend.describe())
            return lane

    def run(self, items, policy: ACTPolicy | None = None, keep_logits: bool = False):
        lane = self._lane(policy or self.policy)
        results = []
        for r in lane.run_act(None, items, policy=lane.policy, keep_logits=keep_logits, cancelled=_cancel_event()):
            results.append(r)
            if self.on_result is not None:
                self.on_result()
        results.sort(key=lambda r: r.index)
        return results

    def run_views(self, inputs, views, keep_logits: bool = False):
        lane = self._lane(self.policy)
        cancelled = _cancel_event()

        def act(backend, items, batch_size, policy, keep_logits):
            return lane.run_act(backend, items, batch_size, policy, keep_logits, cancelled=cancelled)

        return run_views(self.backend, inputs, views, batch_size=self.config.batch_size, policy=lane.policy,
                         keep_logits=keep_logits, on_puzzle=self.on_result, act=act)

    def lane_stats(self) -> BatcherStats:
        total = BatcherStats()
        with self._lanes_lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            for name in ("puzzles", "segments", "steps", "rows", "failures"):
                setattr(total, name, getattr(total, name) + getattr(lane.stats, name))
            total.max_rows = max(total.max_rows, lane.stats.max_rows)
        return total

    def close(self) -> None:
        with self._lanes_lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.close()


_request = threading.local()  # .cancelled: the Event of the request this thread is solving (set: client gone)


def _cancel_event() -> threading.Event | None:
    return getattr(_request, "cancelled", None)


def shared_solver(task: str, model=None, backend: str = "auto", device: str | None = None, batch_size: int = 64):
    """A solver of ``task`` whose ACT loop is shared by every thread that calls it."""
    cls = solver_class(task)
    served = type(f"Served{cls.__name__}", (_SharedLoop, cls), {})  # names no task: the registry keeps cls
    solver = served(model, backend=backend, device=device, batch_size=batch_size)
    solver._lanes, solver._lanes_lock = {}, threading.Lock()
    solver._open_args = (backend, device)
    return solver


class ServedSolver:
    """One task's solver behind the JSON API; thread-safe, one shared batch per ACT policy."""

    def __init__(self, task: str, options: ServeOptions | None = None):
        if task not in TASKS:
            raise RequestError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", 404)
        self.task = task
        self.options = options or ServeOptions(tasks=(task,))
        o = self.options
        if task == "arc":  # fitted per task on the GPU or CPU: no shared ACT batch, one task at a time
            self.solver = solver_class("arc")(o.model, device=o.device)
            self._arc_lock = threading.Lock()
        else:
            self.solver = shared_solver(task, o.model, o.backend, o.device, o.batch_size)

    def describe(self) -> str:
        return f"{self.task}: {self.solver.model_path} on {self.solver.backend.describe()}"

    def stats(self) -> BatcherStats:
        return self.solver.lane_stats() if hasattr(self.solver, "lane_stats") else BatcherStats()

    def close(self) -> None:
        if hasattr(self.solver, "close"):
            self.solver.close()

    # -- requests --------------------------------------------------------------------------------------------
    def solve_request(self, body, cancelled: threading.Event | None = None) -> tuple[dict, SolveCounts]:
        """A parsed JSON request -> (the response document, counts). Raises RequestError or HRMError; when
        ``cancelled`` is set (the client went away), the request's puzzles not yet running leave the queue and
        ``hrm_sdk.runtime.batcher.Cancelled`` is raised."""
        _request.cancelled = cancelled
        try:
            return self._solve_request(body)
        finally:
            _request.cancelled = None

    def _solve_request(self, body) -> tuple[dict, SolveCounts]:
        if not isinstance(body, dict):
            raise RequestError(f"expected a JSON object, got {type(body).__name__}")
        if self.task == "arc":
            return self._solve_arc(body)
        given = [k for k in ("puzzle", "puzzles", "text") if k in body]
        if len(given) != 1:
            raise RequestError("give exactly one of 'puzzle', 'puzzles' or 'text'")
        allowed = OPTIONS[self.task]
        unknown = sorted(set(body) - set(allowed) - {"puzzle", "puzzles", "text", "source"})
        if unknown:
            raise RequestError(f"unknown field(s) {', '.join(unknown)}; {self.task} options: "
                               f"{', '.join(allowed) or 'none'}")
        opts = {}
        for name, kind in allowed.items():
            if name in body:
                value = body[name]
                if not isinstance(value, kind) or isinstance(value, bool) or value < 0:
                    raise RequestError(f"'{name}' must be a non-negative integer, got {value!r}")
                opts[name] = value
        source = body.get("source", "<request>")
        if not isinstance(source, str):
            raise RequestError("'source' must be a string")
        puzzles = self._puzzles(body, given[0], source)
        solver = self._configured(opts)
        t0 = time.perf_counter()
        if self.task == "sudoku":
            from hrm_sdk.solvers.sudoku import Budget

            budget = Budget(opts.get("extra_steps", solver.budget.extra_steps),
                            opts.get("search_nodes", solver.budget.search_nodes))
            results = solver.solve_many(puzzles, budget)
        else:
            results = solver.solve_many(puzzles, source)
        log.debug("%s: %d puzzles in %.3f s", self.task, len(results), time.perf_counter() - t0)
        counts = SolveCounts(puzzles=len(results), segments=sum(r.steps for r in results))
        for r in results:
            route = getattr(r, "route", None) or ("network" if r.solved else "unsolved")
            counts.routes[route] = counts.routes.get(route, 0) + 1
        records = [r.to_dict() for r in results]
        return {RESULT_KEY[self.task]: records, "solved": sum(r.solved for r in results),
                "total": len(results)}, counts

    def _puzzles(self, body: dict, key: str, source: str):
        value = body[key]
        if key == "text":
            if not isinstance(value, str) or not value.strip():
                raise RequestError("'text' must be the non-empty text of a puzzle file")
            puzzles = self._parse_text(value, source)
        elif key == "puzzle":
            puzzles = [value]
        else:
            if not isinstance(value, list) or not value:
                raise RequestError("'puzzles' must be a non-empty list")
            puzzles = value
        if len(puzzles) > self.options.max_puzzles:
            raise RequestError(f"{len(puzzles)} puzzles in one request; this server takes at most "
                               f"{self.options.max_puzzles}", 413)
        if self.task == "sudoku" and key != "text":  # shapes and values checked before any compute
            from hrm_sdk.tasks import sudoku

            for k, p in enumerate(puzzles):
                if not isinstance(p, (str, list)):
                    raise RequestError(f"puzzle {k + 1}: expected a string or a 9x9 list, got {type(p).__name__}")
                sudoku.as_cells(p, f"puzzle {k + 1}")
        if self.task == "maze" and key != "text":
            for k, p in enumerate(puzzles):
                if not isinstance(p, str):
                    raise RequestError(f"maze {k + 1}: expected the maze's text (30 lines of '# SG'), "
                                       f"got {type(p).__name__}")
        return puzzles

    def _parse_text(self, text: str, source: str):
        if self.task == "sudoku":
            from hrm_sdk.tasks import sudoku

            return sudoku.parse_text(text, source)
        from hrm_sdk.tasks import maze

        return maze.parse_text(text, source)

    def _configured(self, opts: dict):
        """The shared solver, or a shallow copy with this request's views or max_steps (same lanes)."""
        views, max_steps = opts.get("views"), opts.get("max_steps")
        if views in (None, 0) and not max_steps:
            return self.solver
        solver = copy.copy(self.solver)
        if views not in (None, 0):
            solver.views = task_views(self.task, views) if views != 1 else None
        if max_steps:
            solver.policy = ACTPolicy(max_steps=max_steps, min_steps=solver.policy.min_steps,
                                      halting=solver.policy.halting)
            solver.policy.resolve(solver.meta.halt_max_steps)
        return solver

    def _solve_arc(self, body: dict) -> tuple[dict, SolveCounts]:
        from hrm_sdk.tasks import arc

        unknown = sorted(set(body) - {"task", "task_id"})
        if unknown or "task" not in body:
            raise RequestError("an ARC request is {'task': {'train': [...], 'test': [...]}, 'task_id': name}")
        import json

        task = arc.parse_task(json.dumps(body["task"]), "<request>", task_id=str(body.get("task_id", "task")))
        with self._arc_lock:
            r = self.solver.solve(task)
        return r.to_dict(), SolveCounts(puzzles=1, routes={"arc": 1})
