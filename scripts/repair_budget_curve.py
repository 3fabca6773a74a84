"""How much of the Sudoku repair route is the network's doing: guided vs blind search at several node budgets.

    python -m scripts.repair_budget_curve --data ../shared/data/sudoku/hard-test.txt --limit 100

One network pass (ACT halting) over the puzzles; for each puzzle whose network answer fails the check, the
repair search runs with digits ordered by the network's probabilities ("guided") and in plain order ("blind"),
at each budget. Prints a table; the last line of stdout is one JSON document.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from hrm_sdk.tasks import sudoku  # noqa: E402
from hrm_sdk.solvers.sudoku import Budget, SudokuSolver, _digit_probs  # noqa: E402
from hrm_sdk.solvers.sudoku_search import guided_search  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--model", default=None)
    ap.add_argument("--budgets", default="50,200,1000,2000")
    args = ap.parse_args()
    p, s, _ = sudoku.read_collection(args.data)
    p, s = p[: args.limit], s[: args.limit]
    solver = SudokuSolver(args.model, batch_size=50)
    results = solver.run([(sudoku.encode(c), 0) for c in p], keep_logits=True)
    answers = sudoku.decode(np.stack([r.prediction for r in results]))
    ok = sudoku.is_solution(p, answers)
    todo = np.flatnonzero(~ok)
    uniform = np.full((81, 9), 1 / 9)
    rows = []
    for budget in (int(b) for b in args.budgets.split(",")):
        guided = sum(guided_search(p[i], _digit_probs(results[i].logits), budget)[0] is not None for i in todo)
        blind = sum(guided_search(p[i], uniform, budget)[0] is not None for i in range(len(p)))
        rows.append({"nodes": budget, "network_then_guided": (int(ok.sum()) + guided) / len(p),
                     "blind_search_alone": blind / len(p)})
        print(f"{budget:6d} nodes: network + guided search {rows[-1]['network_then_guided']:.2%}, "
              f"blind search alone {rows[-1]['blind_search_alone']:.2%}", flush=True)
    print(json.dumps({"puzzles": len(p), "network_alone": float(ok.mean()), "backend": solver.backend.describe(),
                      "rows": rows}))


if __name__ == "__main__":
    main()
