"""Load test of `hrm serve`: N concurrent clients for T seconds against a local server, every answer checked.

    python -m scripts.load_test --clients 64 --seconds 30 --backend onnxruntime     # starts a local server
    python -m scripts.load_test --url http://127.0.0.1:8000 --clients 8 --seconds 10  # one already running

Loopback only (the URL must be 127.0.0.1, localhost or ::1) and bounded: at most ``--seconds`` of sending
and ``--max-requests`` requests. Each client sends one Sudoku puzzle per request (``--per-request``) from
the bundled examples (or ``--puzzles FILE``) in a loop over one keep-alive connection. Every answer is
checked against the puzzle sent: the echoed puzzle must be it (else "mixed"), and an answer reported solved
must keep the givens and fill every unit (else "wrong"). Then the same puzzles go through the in-process
``SudokuSolver.solve_many`` once, for the throughput of the same machine without a server.

The report (stdout, JSON): requests, puzzles, errors, mixed, wrong, throughput (puzzles/s), latency
p50/p95/p99 (s), the in-process throughput and the ratio; progress on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from hrm_sdk.tasks import sudoku

log = logging.getLogger("load_test")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _puzzle_lines(path: str | None) -> list[str]:
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


class Client(threading.Thread):
    def __init__(self, k: int, url, puzzles: list[str], per_request: int, deadline: float, budget, stats):
        super().__init__(name=f"client-{k}", daemon=True)
        self.k, self.url, self.puzzles, self.per_request = k, url, puzzles, per_request
        self.deadline, self.budget, self.stats = deadline, budget, stats

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=120)
        i = self.k * self.per_request
        while time.monotonic() < self.deadline and self.budget.take():
            sent = [self.puzzles[(i + j) % len(self.puzzles)] for j in range(self.per_request)]
            i += self.per_request * 7 + 1
            body = json.dumps({"puzzles": sent, "search_nodes": 0})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/sudoku/solve", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read()
                dt = time.perf_counter() - t0
                if resp.status != 200:
                    self.stats.add(dt, len(sent), error=f"HTTP {resp.status}: {raw[:120]!r}")
                    continue
                mixed, wrong = check(sent, json.loads(raw))
                self.stats.add(dt, len(sent), mixed=mixed, wrong=wrong,
                               solved=sum(r["solved"] for r in json.loads(raw)["puzzles"]))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.stats.add(time.perf_counter() - t0, len(sent), error=f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=120)
        conn.close()


class Budget:
    def __init__(self, n: int):
        self.left, self.lock = n, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: list[float] = []
        self.requests = self.puzzles = self.solved = self.errors = self.mixed = self.wrong = 0
        self.first_errors: list[str] = []

    def add(self, dt: float, n: int, error: str | None = None, mixed: int = 0, wrong: int = 0, solved: int = 0):
        with self.lock:
            self.requests += 1
            if error:
                self.errors += 1
                if len(self.first_errors) < 5:
                    self.first_errors.append(error)
                return
            self.latency.append(dt)
            self.puzzles += n
            self.solved += solved
            self.mixed += mixed
            self.wrong += wrong


def in_process(puzzles: list[str], backend: str, batch_size: int) -> dict:
    from hrm_sdk.solvers.sudoku import Budget as SolveBudget, SudokuSolver

    solver = SudokuSolver(backend=backend, batch_size=batch_size, budget=SolveBudget(0, 0))
    solver.solve_many(puzzles[:2])  # warm-up
    t0 = time.perf_counter()
    results = solver.solve_many(puzzles)
    dt = time.perf_counter() - t0
    one = []
    for p in puzzles[:8]:  # one easy puzzle alone: the latency a server request is compared with
        t1 = time.perf_counter()
        solver.solve(p)
        one.append(time.perf_counter() - t1)
    return {"puzzles": len(puzzles), "seconds": round(dt, 3), "puzzles_per_s": round(len(puzzles) / dt, 2),
            "solved": sum(r.solved for r in results), "one_puzzle_p50_s": round(float(np.median(one)), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running local server (else one is started: one replica)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--per-request", type=int, default=1)
    ap.add_argument("--puzzles", help="Sudoku puzzle file (default: the bundled examples)")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--num-cpus", type=float, default=1)
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process comparison")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    puzzles = _puzzle_lines(args.puzzles)
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
                            port=18765, num_cpus=args.num_cpus)
        url = urlparse(base)
        started = True
    try:
        stats, budget = Stats(), Budget(args.max_requests)
        log.info("%d clients for %.0f s against %s ...", args.clients, args.seconds, base)
        t0 = time.monotonic()
        clients = [Client(k, url, puzzles, args.per_request, t0 + args.seconds, budget, stats)
                   for k in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(args.seconds + 180)
        wall = time.monotonic() - t0
        lat = np.array(stats.latency) if stats.latency else np.array([np.nan])
        report = {
            "url": base, "clients": args.clients, "seconds": round(wall, 2), "per_request": args.per_request,
            "requests": stats.requests, "puzzles": stats.puzzles, "solved": stats.solved, "errors": stats.errors,
            "mixed": stats.mixed, "wrong": stats.wrong, "first_errors": stats.first_errors,
            "puzzles_per_s": round(stats.puzzles / wall, 2),
            "latency_s": {q: round(float(np.percentile(lat, int(q[1:]))), 4) for q in ("p50", "p95", "p99")},
            "still_running": sum(c.is_alive() for c in clients),
        }
        if started:
            from hrm_sdk.serving.client import HRMClient

            report["server_batch"] = HRMClient(base).stats()["batch"]
    finally:
        if started:
            from hrm_sdk.serving import server

            server.stop()
    if not args.no_in_process:
        n = max(args.batch_size, min(stats.puzzles, 4 * args.batch_size))
        log.info("in-process solve_many over %d puzzles ...", n)
        ref = in_process([puzzles[i % len(puzzles)] for i in range(n)], args.backend, args.batch_size)
        report["in_process"] = ref
        report["server_vs_in_process"] = round(report["puzzles_per_s"] / ref["puzzles_per_s"], 3)
    print(json.dumps(report, indent=1))
    return 1 if stats.errors or stats.mixed or stats.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
