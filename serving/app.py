"""The Ray Serve application: ``POST /v1/{task}/solve``, ``GET /v1/stats``, ``GET /healthz``.

One deployment, ``HRMServer``; each replica holds a ``serving.engine.ServedSolver`` per task, whose ACT loops
are shared by all the requests the replica is serving at once (continuous batching). Requests are parsed and
checked in the replica: malformed JSON, wrong shapes and unknown fields answer 400, an unknown task 404, too
many puzzles or too large a body 413, each with ``{"error": "<one line>"}``; the replica keeps serving.

Metrics go through ``ray.serve.metrics`` to Ray's Prometheus endpoint: ``hrm_puzzles`` (by task and route),
``hrm_segments`` (puzzle-segments, by task), ``hrm_requests`` (by task and HTTP status) and the histogram
``hrm_request_seconds`` (by task). ``GET /v1/stats`` answers the replica's own counters as JSON (batch
occupancy included).

Started by ``hrm serve`` (``serving.run``) or by ``serve run serving/config.yaml`` (``app_builder``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from ray import serve
from ray.serve import metrics
from starlette.requests import Request
from starlette.responses import JSONResponse

from hrm_sdk.errors import HRMError

from .engine import TASKS, RequestError, ServedSolver, ServeOptions

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024 * 1024  # bytes; more answers 413
LATENCY_BOUNDARIES = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100]


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


@serve.deployment(max_ongoing_requests=256, health_check_period_s=10, graceful_shutdown_timeout_s=20)
class HRMServer:
    def __init__(self, options: dict):
        self.options = ServeOptions(**{**options, "tasks": tuple(options.get("tasks", ("sudoku",)))})
        self.solvers = {task: ServedSolver(task, self.options) for task in self.options.tasks}
        # Threads only wait on the shared batch (and run the solver's checks); the ACT loops have their own.
        self.pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="hrm-request")
        self.puzzles = metrics.Counter("hrm_puzzles", "Puzzles answered.", tag_keys=("task", "route"))
        self.segments = metrics.Counter("hrm_segments", "ACT segments run (per puzzle).", tag_keys=("task",))
        self.requests = metrics.Counter("hrm_requests", "Requests by status.", tag_keys=("task", "status"))
        self.latency = metrics.Histogram("hrm_request_seconds", "Request latency.", boundaries=LATENCY_BOUNDARIES,
                                         tag_keys=("task",))
        self.served = {"requests": 0, "errors": 0, "puzzles": 0, "cancelled": 0}
        for s in self.solvers.values():
            log.info("serving %s", s.describe())

    async def __call__(self, request: Request) -> JSONResponse:
        parts = [p for p in request.url.path.split("/") if p]
        if request.method == "GET" and parts in (["healthz"], ["v1", "healthz"]):
            return JSONResponse({"status": "ok", "tasks": list(self.solvers)})
        if request.method == "GET" and parts == ["v1", "stats"]:
            return JSONResponse({"served": self.served,
                                 "batch": {t: asdict(s.stats()) for t, s in self.solvers.items()}})
        if len(parts) == 3 and parts[0] == "v1" and parts[2] == "solve":
            if request.method != "POST":
                return _error("use POST for /v1/{task}/solve", 405)
            return await self._solve(parts[1], request)
        return _error(f"no route {request.method} {request.url.path}; try POST /v1/sudoku/solve", 404)

    async def _solve(self, task: str, request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        self.served["requests"] += 1
        status, response = 200, None
        try:
            if task not in self.solvers:
                known = ", ".join(self.solvers) if self.solvers else "none"
                raise RequestError(f"task {task!r} is not served here (serving: {known}; tasks: {', '.join(TASKS)})",
                                   404)
            body = await request.body()
            if len(body) > MAX_BODY:
                raise RequestError(f"request body of {len(body)} bytes; at most {MAX_BODY}", 413)
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestError(f"malformed JSON: {exc}") from None
            loop = asyncio.get_running_loop()
            cancelled = threading.Event()
            try:
                doc, counts = await loop.run_in_executor(self.pool, self.solvers[task].solve_request, payload,
                                                         cancelled)
            except asyncio.CancelledError:  # the client disconnected: its queued puzzles leave the batch
                cancelled.set()
                self.served["cancelled"] += 1
                raise
            for route, n in counts.routes.items():
                self.puzzles.inc(n, tags={"task": task, "route": route})
            if counts.segments:
                self.segments.inc(counts.segments, tags={"task": task})
            self.served["puzzles"] += counts.puzzles
            response = JSONResponse(doc)
        except RequestError as exc:
            status, response = exc.status, _error(str(exc), exc.status)
        except HRMError as exc:  # a puzzle that cannot be parsed, contradictory givens, a bad option
            status, response = 400, _error(str(exc), 400)
        except Exception as exc:  # noqa: BLE001 - one line to the client, the traceback to the replica's log
            log.exception("request failed")
            status, response = 500, _error(f"internal error: {type(exc).__name__}: {exc}; retry", 500)
        if status != 200:
            self.served["errors"] += 1
        self.requests.inc(tags={"task": task if task in TASKS else "unknown", "status": str(status)})
        if task in self.solvers:
            self.latency.observe(time.perf_counter() - t0, tags={"task": task})
        return response

    def check_health(self) -> None:
        """Ray calls this every health_check_period_s; a failed ACT loop thread marks the replica unhealthy."""
        for task, s in self.solvers.items():
            lanes = getattr(s.solver, "_lanes", {})
            for lane in list(lanes.values()):
                if not lane._thread.is_alive():
                    raise RuntimeError(f"{task}: the ACT loop thread died")

    def __del__(self):
        for s in getattr(self, "solvers", {}).values():
            s.close()


def build(options: ServeOptions, replicas: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0):
    """The bound application for ``serve.run``: ``replicas`` replicas of ``num_cpus`` CPUs and ``num_gpus`` GPUs."""
    opts = asdict(options)
    return HRMServer.options(num_replicas=replicas,
                             ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus}).bind(opts)


def app_builder(args: dict):
    """For ``serve run serving/config.yaml`` (``import_path: serving.app:app_builder``): ``args`` are
    ServeOptions fields plus ``replicas``, ``num_cpus`` and ``num_gpus`` (per replica)."""
    args = dict(args or {})
    replicas = int(args.pop("replicas", 1))
    num_cpus = float(args.pop("num_cpus", 1))
    num_gpus = float(args.pop("num_gpus", 0))
    if "tasks" in args and isinstance(args["tasks"], str):
        args["tasks"] = [t.strip() for t in args["tasks"].split(",")]
    return build(ServeOptions(**{**args, "tasks": tuple(args.get("tasks", ("sudoku",)))}), replicas, num_cpus,
                 num_gpus)
