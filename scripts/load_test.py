"""Load test of `hrm serve`: N concurrent clients against a local server, every answer checked, and the same
puzzles through the in-process solver for comparison.

    python -m scripts.load_test --clients 64 --max-requests 192 --out t.json       # throughput vs solve_many
    python -m scripts.load_test --clients 1 --max-requests 40 --one 1 --out l.json  # latency of one easy puzzle
    python -m scripts.load_test --clients 64 --max-requests 10000 --generate 10000 --no-in-process  # 10,000
    python -m scripts.load_test --url http://127.0.0.1:8000 --clients 8 --seconds 10  # a server already running

Loopback only (the URL must be 127.0.0.1, localhost or ::1) and bounded: at most ``--seconds`` of sending and
``--max-requests`` requests, each waiting at most ``--timeout`` seconds. Without ``--url`` a local server is
started (one solver replica of ``--num-cpus``, ``--backend``, ``--batch-size``) and stopped at the end.

Puzzles: the bundled Sudoku examples (mixed difficulty, 1 to 5 segments), ``--puzzles FILE``, or
``--generate N`` unique-solution puzzles from the exact generator (``--difficulty``, ``--seed``: reproducible);
``--one K`` sends puzzle K of the set in every request. Each client sends ``--per-request`` puzzles per
request in a loop over one keep-alive connection, with ``search_nodes: 0`` (the network's answer and its check,
as ``solve_many`` with ``Budget(0, 0)``); together the clients go through the set in order. Every answer is
checked against the puzzles sent: the echoed puzzle must be the one sent (else "mixed"), and an answer
reported solved must keep the givens and fill every unit (else "wrong"). A request with no HTTP answer
(connection lost, timed out, still out at the end) is "lost".

The in-process comparison (``SudokuSolver`` in this process, same backend and batch size; off with
``--no-in-process``) is made so that both sides see the same load from whatever else runs on the machine:
for throughput, ``solve_many`` over the same sequence of puzzles (at most ``--in-process-max``) right before
and right after the server run, the ratio taken against their mean; for latency (``--one`` with one client),
the single client solves the same puzzle in process after each request, so the two are sampled alternately.
Wall-clock figures on a machine shared with other jobs move with their load; so the report also gives CPU
seconds per puzzle: in process (``time.process_time``) and for the server (every process of the local Ray
instance, read from /proc: HTTP proxy, ingress, solver replica, Ray's own daemons), and their ratio.
The report (stdout, and ``--out``): requests, answered, lost, errors, mixed, wrong, solved, throughput, latency
p50/p95/p99, CPU seconds, the in-process figures and ratios, the load average before and after each part, the
server's batch counters; progress on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from hrm_sdk.errors import HRMError
from hrm_sdk.tasks import sudoku

log = logging.getLogger("load_test")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def puzzle_set(path: str | None, generate: int = 0, difficulty: str = "easy", seed: int = 0) -> list[str]:
    """81-character puzzles: generated, read from ``path``, or the bundled examples."""
    if generate:
        from hrm_sdk.tasks.sudoku import exact

        cells, _, _ = exact.generate_many(seed=seed, n=generate, difficulty=difficulty)
        return ["".join(map(str, c)).replace("0", ".") for c in cells]
    text = Path(path).read_text() if path else (Path(sudoku.__file__).parent / "examples.txt").read_text()
    return ["".join(map(str, p.cells)).replace("0", ".") for p in sudoku.parse_text(text)]


def check(sent: list[str], doc: dict) -> tuple[int, int]:
    """(mixed, wrong) in one answer: echoed puzzles that are not the ones sent, and 'solved' answers that
    fail the rules."""
    mixed = wrong = 0
    records = doc.get("puzzles", [])
    if len(records) != len(sent):
        return len(sent), 0
    for p, r in zip(sent, records):
        if r.get("puzzle") != p:
            mixed += 1
        elif r.get("solved"):
            cells = sudoku.as_cells(p)
            sol = r.get("solution") or ""
            if len(sol) != 81 or not sudoku.is_solution(cells, np.frombuffer(sol.encode(), np.uint8) - 48).all():
                wrong += 1
    return mixed, wrong


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: list[float] = []
        self.sent = self.answered = self.puzzles = self.solved = self.errors = self.lost = 0
        self.mixed = self.wrong = 0
        self.first_errors: list[str] = []

    def start(self) -> None:
        with self.lock:
            self.sent += 1

    def add(self, dt: float, sent: list[str], error: str | None = None, lost: bool = False, mixed: int = 0,
            wrong: int = 0, solved: int = 0):
        with self.lock:
            if error:
                self.errors += 1
                self.lost += lost
                if len(self.first_errors) < 5:
                    self.first_errors.append(error)
                return
            self.answered += 1
            self.latency.append(dt)
            self.puzzles += len(sent)
            self.solved += solved
            self.mixed += mixed
            self.wrong += wrong
            if self.answered % 500 == 0:
                log.info("%d requests answered (%d errors, %d mixed, %d wrong)", self.answered, self.errors,
                         self.mixed, self.wrong)


class Budget:
    def __init__(self, n: int):
        self.left, self.lock = n, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


class Client(threading.Thread):
    def __init__(self, k: int, url, puzzles: list[str], args, deadline: float, budget: Budget, stats: Stats,
                 paired=None):
        super().__init__(name=f"client-{k}", daemon=True)
        self.k, self.url, self.puzzles, self.args = k, url, puzzles, args
        self.deadline, self.budget, self.stats = deadline, budget, stats
        self.paired = paired  # called with the puzzles after each request (the in-process solve, timed)

    def _connect(self):
        return http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=self.args.timeout)

    def run(self) -> None:
        per = self.args.per_request
        conn = self._connect()
        i = self.k * per
        while time.monotonic() < self.deadline and self.budget.take():
            if self.args.one is not None:
                sent = [self.puzzles[self.args.one]] * per
            else:
                sent = [self.puzzles[(i + j) % len(self.puzzles)] for j in range(per)]
                i += self.args.clients * per  # the clients together go through the set in order
            body = json.dumps({"puzzles": sent, "search_nodes": 0})
            self.stats.start()
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/sudoku/solve", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read()
                dt = time.perf_counter() - t0
                if resp.status != 200:
                    self.stats.add(dt, sent, error=f"HTTP {resp.status}: {raw[:160]!r}")
                    continue
                doc = json.loads(raw)
                mixed, wrong = check(sent, doc)
                self.stats.add(dt, sent, mixed=mixed, wrong=wrong, solved=sum(r["solved"] for r in doc["puzzles"]))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.stats.add(time.perf_counter() - t0, sent, error=f"{type(exc).__name__}: {exc}", lost=True)
                conn.close()
                conn = self._connect()
            if self.paired is not None:
                self.paired(sent)
        conn.close()


def _percentiles(values) -> dict:
    a = np.asarray(values, dtype=float) if len(values) else np.array([np.nan])
    return {q: round(float(np.percentile(a, int(q[1:]))), 4) for q in ("p50", "p95", "p99")}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _children_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every process below this one (the local Ray instance and its workers:
    proxy, ingress, solver replica), read from /proc; {} where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    me, below = os.getpid(), {}
    for pid in cpu:
        p = parent.get(pid)
        while p and p != me:
            p = parent.get(p)
        if p == me:
            below[pid] = cpu[pid]
    return below


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots by the processes alive at the second (new ones in full)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


class InProcess:
    """The in-process solver (same backend and batch size, ``Budget(0, 0)`` as the requests' search_nodes 0)."""

    def __init__(self, backend: str, batch_size: int, warm: list[str]):
        from hrm_sdk.solvers.sudoku import Budget as SolveBudget, SudokuSolver

        self.solver = SudokuSolver(backend=backend, batch_size=batch_size, budget=SolveBudget(0, 0))
        self.solver.solve_many(warm)  # warm-up (and numba's compile of the solution counter)
        self.alone: list[float] = []

    def throughput(self, puzzles: list[str]) -> dict:
        load_before = _load()
        t0, c0 = time.perf_counter(), time.process_time()
        results = self.solver.solve_many(puzzles)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"puzzles": len(puzzles), "seconds": round(dt, 3), "puzzles_per_s": round(len(puzzles) / dt, 4),
                "cpu_seconds": round(cpu, 2), "cpu_seconds_per_puzzle": round(cpu / len(puzzles), 4),
                "solved": sum(r.solved for r in results), "segments": sum(r.steps for r in results),
                "load_before": load_before, "load_after": _load()}

    def solve_alone(self, sent: list[str]) -> None:
        t0 = time.perf_counter()
        self.solver.solve_many(sent)
        self.alone.append(time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running local server (else one is started: one replica)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3600, help="stop sending after this long")
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=900, help="seconds a request may wait for its answer")
    ap.add_argument("--per-request", type=int, default=1)
    ap.add_argument("--puzzles", help="Sudoku puzzle file (default: the bundled examples)")
    ap.add_argument("--generate", type=int, default=0, help="N generated puzzles instead (exact generator)")
    ap.add_argument("--difficulty", default="easy", help="of the generated puzzles")
    ap.add_argument("--seed", type=int, default=25, help="of the generated puzzles")
    ap.add_argument("--one", type=int, help="send puzzle K (0-based) of the set in every request")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--num-cpus", type=float, default=1)
    ap.add_argument("--port", type=int, default=18765)
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process comparison")
    ap.add_argument("--in-process-max", type=int, default=1024, help="most puzzles for the in-process run")
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # a run stopped from outside still reports and stops its server


    puzzles = puzzle_set(args.puzzles, args.generate, args.difficulty, args.seed)
    if args.one is not None and not 0 <= args.one < len(puzzles):
        ap.error(f"--one {args.one}: the set has {len(puzzles)} puzzles")
    local = None
    paired = args.one is not None and args.clients == 1  # latency: each request followed by the same solve here
    sequence = [puzzles[args.one]] * args.max_requests if args.one is not None else \
        [puzzles[i % len(puzzles)] for i in range(min(args.max_requests * args.per_request, args.in_process_max))]
    report: dict = {"clients": args.clients, "per_request": args.per_request,
                    "puzzle_set": {"size": len(puzzles), "source": (f"generated: {args.generate} {args.difficulty}, "
                                                                    f"seed {args.seed}" if args.generate else
                                                                    args.puzzles or "bundled examples"),
                                   "one": args.one},
                    "backend": args.backend, "batch_size": args.batch_size, "cpu_count": os.cpu_count()}
    if not args.no_in_process:
        local = InProcess(args.backend, args.batch_size, puzzles[:2])
        if not paired:
            log.info("in-process solve_many over %d puzzles (before the server) ...", len(sequence))
            report["in_process_before"] = local.throughput(sequence)
    started = False
    if args.url:
        url = urlparse(args.url)
        if url.hostname not in LOOPBACK:
            ap.error(f"loopback only: {url.hostname} is not 127.0.0.1, localhost or ::1")
        base = args.url.rstrip("/")
    else:
        from hrm_sdk.serving import server
        from hrm_sdk.serving.engine import ServeOptions

        log.info("starting a local server (%s, batch %d) ...", args.backend, args.batch_size)
        base = server.start(ServeOptions(backend=args.backend, batch_size=args.batch_size,
                                         max_puzzles=max(256, args.per_request)),
                            port=args.port, num_cpus=args.num_cpus)
        url = urlparse(base)
        started = True
    report["url"] = base
    stats = Stats()
    try:
        from hrm_sdk.serving.client import HRMClient

        HRMClient(base).solve_json("sudoku", puzzle=puzzles[0], search_nodes=0)  # the server's first segment
        budget = Budget(args.max_requests)
        log.info("%d clients against %s (at most %d requests, %.0f s) ...", args.clients, base,
                 args.max_requests, args.seconds)
        load_before, cpu_before, client_cpu = _load(), _children_cpu(), time.process_time()
        t0 = time.monotonic()
        clients = [Client(k, url, puzzles, args, t0 + args.seconds, budget, stats,
                          local.solve_alone if paired and local else None) for k in range(args.clients)]
        for c in clients:
            c.start()
        end = t0 + args.seconds + args.timeout + 60
        try:
            while time.monotonic() < end:
                alive = [c for c in clients if c.is_alive()]
                if not alive:
                    break
                alive[0].join(min(30.0, max(0.1, end - time.monotonic())))
                if args.out:  # what a run stopped from outside would otherwise lose
                    with stats.lock:
                        partial = {"seconds": round(time.monotonic() - t0, 1), "requests": stats.sent,
                                   "answered": stats.answered, "errors": stats.errors, "lost": stats.lost,
                                   "mixed": stats.mixed, "wrong": stats.wrong, "solved": stats.solved,
                                   "first_errors": stats.first_errors}
                    Path(args.out + ".partial").write_text(json.dumps(partial) + "\n")
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop sending, report what was answered so far
            log.warning("interrupted: reporting the requests answered so far")
            report["interrupted"] = True
            budget.left = 0
            for c in clients:
                c.join(min(args.timeout, 60))
        wall = time.monotonic() - t0
        server_cpu, client_cpu = _cpu_delta(cpu_before, _children_cpu()), time.process_time() - client_cpu
        with stats.lock:
            out_now = stats.sent - stats.answered - stats.errors  # no answer yet: still out at the end
            report["server"] = {
                "seconds": round(wall, 2), "requests": stats.sent, "answered": stats.answered,
                "lost": stats.lost + out_now, "errors": stats.errors + out_now, "mixed": stats.mixed,
                "wrong": stats.wrong, "puzzles": stats.puzzles, "solved": stats.solved,
                "first_errors": stats.first_errors, "puzzles_per_s": round(stats.puzzles / wall, 4),
                "latency_s": _percentiles(stats.latency), "load_before": load_before, "load_after": _load(),
                "cpu_seconds": round(server_cpu, 2), "client_cpu_seconds": round(client_cpu, 2)}
            if started and stats.puzzles:  # every process of the local Ray instance, HTTP proxy included
                report["server"]["cpu_seconds_per_puzzle"] = round(server_cpu / stats.puzzles, 4)
        try:
            report["server"]["batch"] = HRMClient(base).stats()["batch"]
        except HRMError as exc:
            log.warning("no batch counters from the server: %s", exc)
    finally:
        if started:
            from hrm_sdk.serving import server

            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - a server killed from outside: report what we have
                log.warning("stopping the server: %s", exc)
    if local is not None and paired:
        alone = report["in_process_alone"] = {"solves": len(local.alone), "latency_s": _percentiles(local.alone)}
        mine = report["server"]["latency_s"]
        report["server_p99_vs_in_process_p50_latency"] = round(mine["p99"] / alone["latency_s"]["p50"], 3)
        report["server_p99_vs_in_process_p99_latency"] = round(mine["p99"] / alone["latency_s"]["p99"], 3)
    elif local is not None:
        log.info("in-process solve_many over %d puzzles (after the server) ...", len(sequence))
        after = report["in_process_after"] = local.throughput(sequence)
        mean = (report["in_process_before"]["puzzles_per_s"] + after["puzzles_per_s"]) / 2
        report["server_vs_in_process_throughput"] = round(report["server"]["puzzles_per_s"] / mean, 3)
        if "cpu_seconds_per_puzzle" in report["server"]:  # CPU cost, less sensitive to other jobs' load
            cost = (report["in_process_before"]["cpu_seconds_per_puzzle"] + after["cpu_seconds_per_puzzle"]) / 2
            report["in_process_vs_server_cpu_per_puzzle"] = round(cost / report["server"]["cpu_seconds_per_puzzle"], 3)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    s = report["server"]
    return 1 if s["errors"] or s["mixed"] or s["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
