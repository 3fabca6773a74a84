"""Resident memory of `SudokuSolver.solve_many` on the CPU, called in batches (issue 26: RSS <= 400 MB).

Each setting runs in a fresh process (so one setting's heap does not carry into the next) and reports RSS after
import, after the model is opened, and after each call, plus the peak (``ru_maxrss``) and puzzles/s:

    python -m scripts.measure_rss --data ../shared/data/sudoku/hard-test.txt --n 200 --batch 100
    python -m scripts.measure_rss --arena both --max-steps 2      # ONNX Runtime's CPU arena off, then on

The last stdout line is one JSON document; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time

log = logging.getLogger("measure_rss")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def one(args) -> dict:
    """One setting, in this process."""
    from hrm_sdk.runtime.backends import onnx_backend

    onnx_backend.CPU_MEM_ARENA = args.arena == "on"
    stages = {"start": rss_mb()}
    from hrm_sdk.solvers.sudoku import SudokuSolver
    from hrm_sdk.tasks import sudoku

    puzzles = sudoku.parse_file(args.data)[: args.n]
    stages["imported"] = rss_mb()
    solver = SudokuSolver(args.model or None, backend="onnx", device="cpu", batch_size=args.batch,
                          max_steps=args.max_steps or None)
    stages["opened"] = rss_mb()
    calls, t0, solved = [], time.perf_counter(), 0
    for a in range(0, len(puzzles), args.batch):
        results = solver.solve_many(puzzles[a:a + args.batch])
        solved += sum(r.solved for r in results)
        calls.append(round(rss_mb(), 1))
        log.info("call %d: RSS %.0f MB", len(calls), calls[-1])
    seconds = time.perf_counter() - t0
    return {"arena": args.arena, "puzzles": len(puzzles), "batch": args.batch, "max_steps": args.max_steps,
            "rss_mb": {k: round(v, 1) for k, v in stages.items()}, "rss_after_calls_mb": calls,
            "peak_rss_mb": round(peak_mb(), 1), "solved": solved, "puzzles_per_s": round(len(puzzles) / seconds, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/sudoku-bench/hard-test.txt", help="a Sudoku file (one puzzle per line)")
    ap.add_argument("--model", default="", help="model name or path (default: the bundled Sudoku model)")
    ap.add_argument("--n", type=int, default=200, help="puzzles in all")
    ap.add_argument("--batch", type=int, default=100, help="puzzles per solve_many call")
    ap.add_argument("--max-steps", type=int, default=0, help="ACT segments cap (0: the model's own)")
    ap.add_argument("--arena", choices=["off", "on", "both"], default="off", help="ONNX Runtime's CPU memory arena")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if args.child:
        print(json.dumps(one(args)))
        return 0
    runs = []
    for arena in (["off", "on"] if args.arena == "both" else [args.arena]):
        cmd = [sys.executable, "-m", "scripts.measure_rss", "--child", "--data", args.data, "--n", str(args.n),
               "--batch", str(args.batch), "--max-steps", str(args.max_steps), "--arena", arena]
        if args.model:
            cmd += ["--model", args.model]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        log.info("arena %s: peak %.0f MB", arena, runs[-1]["peak_rss_mb"])
    print(json.dumps({"runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
