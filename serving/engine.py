"""What a server replica runs, without Ray: the solvers with their ACT loops shared across requests.

``ServedSolver(task)`` opens one solver of a task (``hrm_sdk.solvers.base.solver_class``) and routes its ACT loop
through a ``hrm_sdk.runtime.batcher.Batcher``, so that every request's puzzles (and views) join one running
batch. The solver's own checks, votes and repair routes run in the caller's thread as in ``solve_many``; only
the network segments are shared, so each puzzle's answer is the in-process solver's.

Nothing here names a task: a request is read and answered through the solver's JSON API (``Solver.result_key``,
``request_item``, ``request_options``, ``parse_text``, ``check_item``, ``solve_items``, ``shared_loop``), so a
new puzzle type needs no change in serving. A request is a JSON object: the solver's ``request_item`` (one,
e.g. ``puzzle``), its plural (a list, e.g. ``puzzles``) or ``text`` (the text of a puzzle file, with an optional
``source`` name), plus the solver's per-request options. The answer is the document ``hrm solve TASK --format
json`` prints: ``{result_key: [...], "solved", "total"}`` (a solver without ``result_key``, ARC: the
``--format jsonl`` object of its one item). Anything wrong with a request raises ``RequestError`` with an HTTP
status and a one-line message.

Puzzles under one ACT policy share a lane (one backend, one batch); a request with another ``max_steps`` (or
Sudoku's ``extra_steps`` repair rerun) uses a lane of its own, opened on first use, at most ``MAX_LANES``.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field, fields

from hrm_sdk import runtime, tasks
from hrm_sdk.errors import HRMError
from hrm_sdk.runtime import ACTPolicy, run_views
from hrm_sdk.runtime.batcher import Batcher, BatcherStats

from hrm_sdk.solvers.base import solver_class, task_views

log = logging.getLogger(__name__)

MAX_LANES = 4


def task_names() -> tuple[str, ...]:
    """Every puzzle type with a solver class (``hrm_sdk.tasks.names()`` that ``solver_class`` finds)."""
    found = []
    for name in tasks.names():
        try:
            solver_class(name)
        except HRMError:
            continue
        found.append(name)
    return tuple(found)


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
    precision: str | None = None  # PyTorch backend (Sudoku, Maze): fp32 | bf16; None: the backend's choice
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
                backend = self.backend if not self._lanes else runtime.open(self.model_path, **self._open_kwargs)
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
            for f in fields(BatcherStats):
                merge = max if f.name == "max_rows" else int.__add__
                setattr(total, f.name, merge(getattr(total, f.name), getattr(lane.stats, f.name)))
        return total

    def lane_pending(self) -> int:
        """Puzzles queued or running in all lanes."""
        with self._lanes_lock:
            lanes = list(self._lanes.values())
        return sum(lane.pending() for lane in lanes)

    def close(self) -> None:
        with self._lanes_lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.close()


_request = threading.local()  # .cancelled: the Event of the request this thread is solving (set: client gone)


def _cancel_event() -> threading.Event | None:
    return getattr(_request, "cancelled", None)


def shared_solver(task: str, model=None, backend: str = "auto", device: str | None = None, batch_size: int = 64,
                  precision: str | None = None):
    """A solver of ``task`` whose ACT loop is shared by every thread that calls it."""
    cls = solver_class(task)
    served = type(f"Served{cls.__name__}", (_SharedLoop, cls), {})  # names no task: the registry keeps cls
    extra = {"precision": precision} if precision else {}  # a task's own solver class may not take it
    solver = served(model, backend=backend, device=device, batch_size=batch_size, **extra)
    solver._lanes, solver._lanes_lock = {}, threading.Lock()
    solver._open_kwargs = {"backend": backend, "device": device, **extra}
    return solver


class ServedSolver:
    """One task's solver behind the JSON API; thread-safe, one shared batch per ACT policy."""

    def __init__(self, task: str, options: ServeOptions | None = None):
        try:
            cls = solver_class(task)
        except HRMError:
            raise RequestError(f"unknown task {task!r}; expected one of {', '.join(task_names())}", 404) from None
        self.task, self.cls = task, cls
        self.options = options or ServeOptions(tasks=(task,))
        o = self.options
        if cls.shared_loop:
            self.solver = shared_solver(task, o.model, o.backend, o.device, o.batch_size, o.precision)
            self._lock = None
        else:  # one request at a time, on the solver's own default backend (no shared ACT batch)
            self.solver = cls(o.model, device=o.device)
            self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.task}: {self.solver.model_path} on {self.solver.backend.describe()}"

    def stats(self) -> BatcherStats:
        return self.solver.lane_stats() if hasattr(self.solver, "lane_stats") else BatcherStats()

    def pending(self) -> int:
        """Puzzles queued or running in this solver's shared batches (0 for a solver without one)."""
        return self.solver.lane_pending() if hasattr(self.solver, "lane_pending") else 0

    def close(self) -> None:
        if hasattr(self.solver, "close"):
            self.solver.close()

    # -- requests --------------------------------------------------------------------------------------------
    def solve_request(self, body, cancelled: threading.Event | None = None) -> tuple[dict, SolveCounts]:
        """A parsed JSON request -> (the response document, counts). Raises RequestError or HRMError; when
        ``cancelled`` is set (the client went away), the request's puzzles leave the batch (queued or running)
        and ``hrm_sdk.runtime.batcher.Cancelled`` is raised."""
        _request.cancelled = cancelled
        try:
            return self._solve_request(body)
        finally:
            _request.cancelled = None

    def _solve_request(self, body) -> tuple[dict, SolveCounts]:
        if not isinstance(body, dict):
            raise RequestError(f"expected a JSON object, got {type(body).__name__}")
        cls = self.cls
        keys = [cls.request_item, "text"] + ([cls.request_item + "s"] if cls.result_key else [])
        given = [k for k in keys if k in body]
        if len(given) != 1:
            raise RequestError(f"give exactly one of {', '.join(repr(k) for k in keys)}")
        opts = checked_options(cls, {k: v for k, v in body.items() if k not in keys and k != "source"})
        source = body.get("source", "<request>")
        if not isinstance(source, str):
            raise RequestError("'source' must be a string")
        items = self._items(body, given[0], source)
        solver = self._configured(opts)
        t0 = time.perf_counter()
        if self._lock is None:
            results = solver.solve_items(items, opts, source)
        else:
            with self._lock:
                results = solver.solve_items(items, opts, source)
        log.debug("%s: %d puzzles in %.3f s", self.task, len(results), time.perf_counter() - t0)
        counts = SolveCounts(puzzles=len(results), segments=sum(getattr(r, "steps", 0) for r in results))
        for r in results:
            route = getattr(r, "route", None) or ("network" if getattr(r, "solved", False) else "unsolved")
            counts.routes[route] = counts.routes.get(route, 0) + 1
        if cls.result_key is None:
            if len(results) != 1:
                raise RequestError(f"{self.task}: one {cls.request_item} per request; the text held {len(results)}")
            return results[0].to_dict(), counts
        return {cls.result_key: [r.to_dict() for r in results], "solved": sum(r.solved for r in results),
                "total": len(results)}, counts

    def _items(self, body: dict, key: str, source: str) -> list:
        value, cls = body[key], self.cls
        if key == "text":
            if not isinstance(value, str) or not value.strip():
                raise RequestError("'text' must be the non-empty text of a puzzle file")
            items = cls.parse_text(value, source)  # parsed and checked here, before any compute
        else:
            if key == cls.request_item:
                value = [value]
            elif not isinstance(value, list) or not value:
                raise RequestError(f"'{key}' must be a non-empty list")
            if len(value) > self.options.max_puzzles:
                raise RequestError(f"{len(value)} puzzles in one request; this server takes at most "
                                   f"{self.options.max_puzzles}", 413)
            items = [cls.check_item(v, f"{cls.request_item} {k + 1}") for k, v in enumerate(value)]
        if len(items) > self.options.max_puzzles:
            raise RequestError(f"{len(items)} puzzles in one request; this server takes at most "
                               f"{self.options.max_puzzles}", 413)
        return items

    def _configured(self, opts: dict):
        return configured(self.solver, self.task, opts)


def checked_options(cls, given: dict) -> dict:
    """A request's options for solver class ``cls`` (its ``request_options``), checked; RequestError names the
    first one wrong."""
    allowed = cls.request_options
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(unknown)}; {cls.task} options: {', '.join(allowed) or 'none'}")
    for name, value in given.items():
        kind = allowed[name]
        if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise RequestError(f"'{name}' must be a non-negative integer, got {value!r}")
        if kind is not int and not isinstance(value, kind):
            raise RequestError(f"'{name}' must be a {kind.__name__}, got {value!r}")
    return dict(given)


def configured(solver, task: str, opts: dict):
    """``solver``, or a shallow copy with the ``views`` or ``max_steps`` of ``opts`` (it shares the lanes)."""
    views, max_steps = opts.get("views"), opts.get("max_steps")
    if views in (None, 0) and not max_steps:
        return solver
    solver = copy.copy(solver)
    if views not in (None, 0):
        solver.views = task_views(task, views) if views != 1 else None
    if max_steps:
        solver.policy = ACTPolicy(max_steps=max_steps, min_steps=solver.policy.min_steps,
                                  halting=solver.policy.halting)
        solver.policy.resolve(solver.meta.halt_max_steps)
    return solver
