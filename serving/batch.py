"""Batch solving a large puzzle file across a Ray cluster: JSONL results in input order, resumable.

    python -m hrm_sdk.serving.batch puzzles.txt results.jsonl --actors 4 --chunk 512 [--address auto]

The puzzles (a Sudoku file: one per line or 9x9 grids) are cut into chunks; a pool of Ray actors
(``ray.util.ActorPool``, one solver each, ``--num-cpus``/``--num-gpus`` per actor) solves them, and the chunks'
results are appended to the output in input order as each is ready, one JSON object per puzzle
(``SudokuResult.to_dict()`` plus ``index``, its 0-based position in the input). Run it again with the same
files and it resumes after the last complete line (a torn last line is cut off first).

This uses Ray core (an actor pool), not Ray Data's ``map_batches``: ``ray[serve]`` does not bring Ray Data's
pandas/pyarrow. Verified on one CPU machine only (a local Ray instance); a multi-node cluster was not run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from hrm_sdk.errors import HRMError, require

log = logging.getLogger(__name__)


def completed_lines(out: Path) -> int:
    """Complete result lines already in ``out``; a torn last line (no newline) is cut off."""
    if not out.exists():
        return 0
    data = out.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        log.warning("%s: cutting a torn last line (%d bytes)", out, len(data) - keep)
        with out.open("r+b") as f:
            f.truncate(keep)
    return data[:keep].count(b"\n")


class _Worker:
    """One solver in one Ray actor."""

    def __init__(self, model, backend: str, device, batch_size: int):
        from hrm_sdk.solvers.sudoku import SudokuSolver

        self.solver = SudokuSolver(model, backend=backend, device=device, batch_size=batch_size)

    def solve(self, start: int, puzzles: list) -> list[str]:
        from hrm_sdk.tasks import sudoku

        parsed = [sudoku.SudokuPuzzle(p["cells"], source=p["source"], line=p["line"]) for p in puzzles]
        return [json.dumps({"index": start + k, **r.to_dict()}) for k, r in enumerate(self.solver.solve_many(parsed))]


def solve_file(inp: str, out: str, actors: int = 1, chunk: int = 512, model=None, backend: str = "auto",
               device: str | None = None, batch_size: int = 64, num_cpus: float = 1, num_gpus: float = 0,
               address: str | None = None) -> int:
    """Solve every Sudoku puzzle of ``inp`` into ``out`` (JSONL, input order, resumable); -> puzzles written now."""
    require("ray", "serve", "cluster batch solving")
    import ray
    from ray.util import ActorPool

    from hrm_sdk.tasks import sudoku

    puzzles = sudoku.parse_file(inp)
    out_path = Path(out)
    done = completed_lines(out_path)
    if done > len(puzzles):
        raise HRMError(f"{out} holds {done} results but {inp} has only {len(puzzles)} puzzles: another input?")
    todo = [(s, puzzles[s:s + chunk]) for s in range(done, len(puzzles), chunk)]
    if not todo:
        log.info("%s: all %d puzzles already solved", out, len(puzzles))
        return 0
    for p in puzzles[done:]:
        sudoku.check_givens(p.cells, f"{p.source}:{p.line}")
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 **({} if address else {"num_cpus": max(1, int(round(actors * num_cpus)))}))
    try:
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(_Worker)
        pool = ActorPool([remote.remote(model, backend, device, batch_size) for _ in range(actors)])
        payload = [(s, [{"cells": p.cells, "source": p.source, "line": p.line} for p in ps]) for s, ps in todo]
        written = 0
        with out_path.open("a") as f:
            for lines in pool.map(lambda a, job: a.solve.remote(*job), payload):  # in submission order
                f.write("\n".join(lines) + "\n")
                f.flush()
                written += len(lines)
                log.info("%d/%d puzzles", done + written, len(puzzles))
        return written
    finally:
        if started:
            ray.shutdown()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--actors", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--model")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--num-cpus", type=float, default=1)
    ap.add_argument("--num-gpus", type=float, default=0)
    ap.add_argument("--address", help="a running Ray cluster (e.g. auto); default: a local instance")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        n = solve_file(args.input, args.output, args.actors, args.chunk, args.model, args.backend, args.device,
                       args.batch_size, args.num_cpus, args.num_gpus, args.address)
    except HRMError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"{n} puzzles solved into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
