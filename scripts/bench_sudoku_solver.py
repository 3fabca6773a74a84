"""Benchmark the exact Sudoku solver on one core and check it against a shared puzzle collection.

    python -m scripts.bench_sudoku_solver                      # ../shared/data/sudoku/hard-test.txt
    python -m scripts.bench_sudoku_solver path/to/17-clue.txt --limit 10000 --repeat 5

Every puzzle is solved counting solutions up to 2; each solution must match the file's and each count must
be 1. Prints a table, then as the very last line one compact JSON object (``| tail -1 | jq``). Exits 1 if a
check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported: one core, no parallel

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILE = REPO.parent / "shared" / "data" / "sudoku" / "hard-test.txt"


def read_collection(path: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """'<puzzle> <solution> <guesses>' lines -> (puzzles uint8[N,81], solutions uint8[N,81], guesses int64[N])."""
    puzzles, solutions, guesses = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(puzzles) >= limit:
                break
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            puzzles.append(parts[0].replace(".", "0"))
            solutions.append(parts[1])
            guesses.append(int(parts[2]) if len(parts) > 2 else -1)

    def digits(rows: list[str]) -> np.ndarray:
        return (np.frombuffer("".join(rows).encode("ascii"), np.uint8) - ord("0")).reshape(-1, 81)

    return digits(puzzles), digits(solutions), np.array(guesses, np.int64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT_FILE, help="puzzle file (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None, help="take only the first N puzzles")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over the file; the fastest is reported")
    args = ap.parse_args()

    from hrm_sdk.tasks.sudoku import exact as sudoku_solver

    if not args.path.is_file():
        print(f"{args.path}: no such file; pass the path of a '<puzzle> <solution> <guesses>' file", file=sys.stderr)
        return 2
    puzzles, expected, file_guesses = read_collection(args.path, args.limit)
    if not len(puzzles):
        print(f"{args.path}: no puzzles", file=sys.stderr)
        return 1

    t0 = time.perf_counter()
    sudoku_solver.solve_batch(puzzles[:1])  # compile, or load the on-disk cache
    warmup_s = time.perf_counter() - t0

    walls, cpus = [], []
    for _ in range(max(1, args.repeat)):
        w, c = time.perf_counter(), time.process_time()
        solutions, counts, guesses = sudoku_solver.solve_batch(puzzles, limit=2)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)

    n = len(puzzles)
    correct = int((solutions == expected).all(axis=1).sum())
    unique = int((counts == 1).sum())
    has_col = bool((file_guesses >= 0).all())
    agreement = float((guesses == file_guesses).mean()) if has_col else None
    result = {
        "file": str(args.path),
        "puzzles": n,
        "puzzles_per_s": round(n / min(walls), 1),
        "us_per_puzzle": round(1e6 * min(walls) / n, 2),
        "cpu_puzzles_per_s": round(n / min(cpus), 1),
        "repeats": len(walls),
        "warmup_s": round(warmup_s, 3),
        "correct": correct,
        "unique": unique,
        "guesses_mean": round(float(guesses.mean()), 2),
        "guesses_median": float(np.median(guesses)),
        "file_guesses_mean": round(float(file_guesses.mean()), 2) if has_col else None,
        "guesses_agreement": agreement,
        "numba_threads": int(os.environ["NUMBA_NUM_THREADS"]),
    }

    rows = [
        ("file", args.path.name),
        ("puzzles", f"{n}"),
        ("solutions correct", f"{correct}/{n}"),
        ("counts == 1", f"{unique}/{n}"),
        ("puzzles/s (1 core, best wall)", f"{result['puzzles_per_s']:,.0f}"),
        ("us/puzzle", f"{result['us_per_puzzle']:.1f}"),
        ("puzzles/s (best CPU time)", f"{result['cpu_puzzles_per_s']:,.0f}"),
        ("guesses mean / median", f"{result['guesses_mean']:.1f} / {result['guesses_median']:.0f}"),
        ("file guesses mean / median",
         f"{file_guesses.mean():.1f} / {np.median(file_guesses):.0f}" if has_col else "-"),
        ("guesses agreement", f"{100 * agreement:.2f}%" if has_col else "-"),
        ("JIT warm-up s", f"{warmup_s:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(json.dumps(result, separators=(",", ":")))
    return 0 if correct == n and unique == n else 1


if __name__ == "__main__":
    sys.exit(main())
