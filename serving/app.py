"""The Ray Serve application: ``POST /v1/{task}/solve``, ``GET /v1/stats``, ``GET /healthz``.

Two deployments. ``HRMSolver`` replicas hold a ``serving.engine.ServedSolver`` per task, whose ACT loops are
shared by all the requests a replica is serving at once (continuous batching). ``HRMIngress`` (no CPU of its
own) takes the HTTP requests, reads and parses them, and calls a solver replica through a deployment handle,
so that what happens to a solver replica is answered in HTTP terms:

- a solver replica that dies mid-request (killed, out of memory, a crashed node) fails its requests in flight
  with **503 and a Retry-After header** and the one-line message that the request was lost and is safe to
  send again; Ray restarts the replica and the ingress routes new requests to the replicas alive (no answer is
  ever made up for a lost request);
- a client that disconnects cancels its request: the cancellation goes down the handle to the solver replica,
  whose puzzles of that request leave the shared batch at the next segment (``runtime.batcher``);
- bad input answers 400 (malformed JSON, wrong shapes, unknown fields), 404 (a task not served), 413 (too
  many puzzles, too large a body), each with ``{"error": "<one line>"}``; the server keeps serving.

Metrics go through ``ray.serve.metrics`` to Ray's Prometheus endpoint: ``hrm_puzzles`` (by task and route),
``hrm_segments`` (puzzle-segments, by task), ``hrm_requests`` (by task and HTTP status) and the histogram
``hrm_request_seconds`` (by task). ``GET /v1/stats`` answers one solver replica's counters as JSON (batch
occupancy included) and the ingress's.

Started by ``hrm serve`` (``serving.server``) or by ``serve run serving/config.yaml`` (``app_builder``).
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
from ray.exceptions import RayActorError
from ray.serve import metrics
from starlette.requests import Request
from starlette.responses import JSONResponse

from hrm_sdk.errors import HRMError

from .engine import RequestError, ServedSolver, ServeOptions, task_names

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024 * 1024  # bytes; more answers 413
RETRY_AFTER_S = 2  # the Retry-After of a 503: about the time Ray needs to notice a dead replica
LATENCY_BOUNDARIES = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100]


def _error(message: str, status: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


@serve.deployment(max_ongoing_requests=256, health_check_period_s=10, graceful_shutdown_timeout_s=20)
class HRMSolver:
    """A solving replica: ``solve(task, payload) -> (status, document)``, errors answered in the document."""

    def __init__(self, options: dict):
        self.options = ServeOptions(**{**options, "tasks": tuple(options.get("tasks", ("sudoku",)))})
        self.solvers = {task: ServedSolver(task, self.options) for task in self.options.tasks}
        # Threads only wait on the shared batch (and run the solver's checks); the ACT loops have their own.
        self.pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="hrm-request")
        self.puzzles = metrics.Counter("hrm_puzzles", "Puzzles answered.", tag_keys=("task", "route"))
        self.segments = metrics.Counter("hrm_segments", "ACT segments run (per puzzle).", tag_keys=("task",))
        self.served = {"requests": 0, "errors": 0, "puzzles": 0, "cancelled": 0}
        for s in self.solvers.values():
            log.info("serving %s", s.describe())

    async def solve(self, task: str, payload) -> tuple[int, dict]:
        self.served["requests"] += 1
        try:
            if task not in self.solvers:
                raise RequestError(f"task {task!r} is not served here (serving: {', '.join(self.solvers)})", 404)
            loop = asyncio.get_running_loop()
            cancelled = threading.Event()
            try:
                doc, counts = await loop.run_in_executor(self.pool, self.solvers[task].solve_request, payload,
                                                         cancelled)
            except asyncio.CancelledError:  # the client disconnected: the request's puzzles leave the batch
                cancelled.set()
                self.served["cancelled"] += 1
                raise
            for route, n in counts.routes.items():
                self.puzzles.inc(n, tags={"task": task, "route": route})
            if counts.segments:
                self.segments.inc(counts.segments, tags={"task": task})
            self.served["puzzles"] += counts.puzzles
            return 200, doc
        except RequestError as exc:
            status, message = exc.status, str(exc)
        except HRMError as exc:  # a puzzle that cannot be parsed, contradictory givens, a bad option
            status, message = 400, str(exc)
        except Exception as exc:  # noqa: BLE001 - one line to the client, the traceback to the replica's log
            log.exception("request failed")
            status, message = 500, f"internal error: {type(exc).__name__}: {exc}; retry"
        self.served["errors"] += 1
        return status, {"error": " ".join(message.split())}

    def stats(self) -> dict:
        return {"served": self.served,
                "batch": {t: {**asdict(s.stats()), "pending": s.pending()} for t, s in self.solvers.items()}}

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


@serve.deployment(max_ongoing_requests=1024, ray_actor_options={"num_cpus": 0}, graceful_shutdown_timeout_s=20)
class HRMIngress:
    """The HTTP side: routes, reading and parsing the body, status codes, request metrics."""

    def __init__(self, solver, tasks: list[str]):
        self.solver = solver  # a DeploymentHandle of HRMSolver
        self.tasks = list(tasks)
        self.requests = metrics.Counter("hrm_requests", "Requests by status.", tag_keys=("task", "status"))
        self.latency = metrics.Histogram("hrm_request_seconds", "Request latency.", boundaries=LATENCY_BOUNDARIES,
                                         tag_keys=("task",))
        self.counts = {"requests": 0, "unavailable": 0, "disconnected": 0}

    async def __call__(self, request: Request) -> JSONResponse:
        parts = [p for p in request.url.path.split("/") if p]
        if request.method == "GET" and parts in (["healthz"], ["v1", "healthz"]):
            return JSONResponse({"status": "ok", "tasks": self.tasks})
        if request.method == "GET" and parts == ["v1", "stats"]:
            try:
                stats = await self.solver.stats.remote()
            except RayActorError as exc:
                return self._unavailable(exc)
            return JSONResponse({**stats, "ingress": self.counts})
        if len(parts) == 3 and parts[0] == "v1" and parts[2] == "solve":
            if request.method != "POST":
                return _error("use POST for /v1/{task}/solve", 405)
            t0 = time.perf_counter()
            response = await self._solve(parts[1], request)
            task = parts[1] if parts[1] in self.tasks else "unknown"
            self.requests.inc(tags={"task": task, "status": str(response.status_code)})
            if task != "unknown":
                self.latency.observe(time.perf_counter() - t0, tags={"task": task})
            return response
        return _error(f"no route {request.method} {request.url.path}; try POST /v1/{self.tasks[0]}/solve", 404)

    async def _solve(self, task: str, request: Request) -> JSONResponse:
        self.counts["requests"] += 1
        if task not in self.tasks:
            return _error(f"task {task!r} is not served here (serving: {', '.join(self.tasks)}; tasks: "
                          f"{', '.join(task_names())})", 404)
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(f"request body of {len(body)} bytes; at most {MAX_BODY}", 413)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(f"malformed JSON: {exc}", 400)
        call = self.solver.solve.remote(task, payload)
        try:
            status, doc = await call
        except asyncio.CancelledError:  # the client went away: cancel the solver's side too
            self.counts["disconnected"] += 1
            call.cancel()
            raise
        except RayActorError as exc:  # the solver replica died (or became unreachable) with the request
            return self._unavailable(exc)
        return JSONResponse(doc, status_code=status)

    def _unavailable(self, exc: Exception) -> JSONResponse:
        self.counts["unavailable"] += 1
        log.warning("a solver replica was lost: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return _error(f"the server replica handling this request was lost ({type(exc).__name__}); no answer "
                      f"was given for it: retry in {RETRY_AFTER_S} s", 503, {"Retry-After": str(RETRY_AFTER_S)})


def build(options: ServeOptions, replicas: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0):
    """The bound application for ``serve.run``: an ingress and ``replicas`` solver replicas of ``num_cpus``
    CPUs and ``num_gpus`` GPUs each."""
    solver = HRMSolver.options(num_replicas=replicas,
                               ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus}).bind(asdict(options))
    return HRMIngress.bind(solver, list(options.tasks))


def app_builder(args: dict):
    """For ``serve run serving/config.yaml`` (``import_path: hrm_sdk.serving.app:app_builder``): ``args`` are
    ServeOptions fields plus ``replicas``, ``num_cpus`` and ``num_gpus`` (per solver replica)."""
    args = dict(args or {})
    replicas = int(args.pop("replicas", 1))
    num_cpus = float(args.pop("num_cpus", 1))
    num_gpus = float(args.pop("num_gpus", 0))
    if "tasks" in args and isinstance(args["tasks"], str):
        args["tasks"] = [t.strip() for t in args["tasks"].split(",")]
    return build(ServeOptions(**{**args, "tasks": tuple(args.get("tasks", ("sudoku",)))}), replicas, num_cpus,
                 num_gpus)
