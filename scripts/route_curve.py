"""Sudoku: accuracy against compute for the solver's routes, as a table, a PNG and one JSON document.

    python -m scripts.route_curve --data ../shared/data/sudoku/hard-test.txt --limit 50 --png route-curve.png
    python -m scripts.route_curve --data hard-test.txt --backend pytorch --device cuda --batch-size 1024 --limit 0

Each route is ``SudokuSolver.solve_many`` over the same puzzles with one setting changed: one pass of the network
(no route after it), more segments for failed answers, test-time views voted, the repair search (the solver's
default), views then repair. Reported per route: solved (checked against the givens and all 27 units), wrong
(reported solved but not the file's solution: always 0 for puzzles with one solution), puzzles/s of wall time
(the model is opened before the clock starts) and mean segments. The last stdout line is the JSON document.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hrm_sdk.tasks import sudoku
from hrm_sdk.solvers.sudoku import Budget, SudokuSolver

# name -> (views, extra_steps, search_nodes)
ROUTES = {
    "one pass": (1, 0, 0),
    "+16 segments": (1, 16, 0),
    "repair (default)": (1, 0, Budget().search_nodes),
    "2 views": (2, 0, 0),
    "4 views": (4, 0, 0),
    "8 views": (8, 0, 0),
    "8 views + repair": (8, 0, Budget().search_nodes),
}


def run_route(args, puzzles: np.ndarray, solutions: np.ndarray, views: int, extra: int, nodes: int) -> dict:
    solver = SudokuSolver(args.model, backend=args.backend, device=args.device, batch_size=args.batch_size,
                          views=views)
    t0 = time.perf_counter()
    results = solver.solve_many(list(puzzles), Budget(extra_steps=extra, search_nodes=nodes))
    seconds = time.perf_counter() - t0
    solved = np.array([r.solved for r in results])
    right = np.array([r.solved and np.array_equal(r.grid.reshape(81), s) for r, s in zip(results, solutions)])
    return {"views": views, "extra_steps": extra, "search_nodes": nodes, "puzzles": len(results),
            "solved": float(solved.mean()), "wrong": int((solved & ~right).sum()),
            "puzzles_per_s": len(results) / seconds, "seconds": round(seconds, 2),
            "mean_segments": float(np.mean([r.steps for r in results])), "backend": solver.backend.describe()}


def plot(rows: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in rows.items():
        ax.scatter(r["puzzles_per_s"], 100 * r["solved"], color="C3" if "default" in name else "C0", zorder=3)
        ax.annotate(name, (r["puzzles_per_s"], 100 * r["solved"]), textcoords="offset points", xytext=(6, -3),
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("puzzles/s (wall time, log scale)")
    ax.set_ylabel("solved and checked (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a Sudoku collection with solutions (hard-test.txt)")
    ap.add_argument("--limit", type=int, default=50, help="first N puzzles (0 = all)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--routes", default=",".join(ROUTES), help="comma-separated route names")
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    p, s, _ = sudoku.read_collection(args.data)
    if args.limit:
        p, s = p[: args.limit], s[: args.limit]
    rows = {}
    for name in (n.strip() for n in args.routes.split(",")):
        rows[name] = r = run_route(args, p, s, *ROUTES[name])
        print(f"{name:18s} solved {r['solved']:7.2%}  wrong {r['wrong']}  {r['puzzles_per_s']:9.2f} puzzles/s  "
              f"{r['mean_segments']:.2f} segments", flush=True)
    if args.png:
        backend = next(iter(rows.values()))["backend"]
        plot(rows, args.png, f"Sudoku solver routes: {len(p)} puzzles of {args.data.split('/')[-1]}, {backend}")
    print(json.dumps({"data": args.data, "puzzles": len(p), "routes": rows}))


if __name__ == "__main__":
    main()
