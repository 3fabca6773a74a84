"""Batch solving a large puzzle file across a Ray cluster with Ray Data: JSONL results in input order, resumable.

    python -m hrm_sdk.serving.batch puzzles.txt results.jsonl --actors 4 --chunk 512            # a local Ray
    python -m hrm_sdk.serving.batch puzzles.txt results.jsonl --address auto --actors 8 --num-gpus 1
    python -m hrm_sdk.serving.batch mazes.txt results.jsonl --task maze --option views=4

The driver parses the file with the task's solver class (``Solver.parse_text``: one clear error for a
malformed file, before any Ray work) and puts the puzzles not yet solved into a Ray Dataset, one block of
``--chunk`` puzzles each. ``map_batches`` runs them through a fixed pool of ``--actors`` actors
(``compute=ActorPoolStrategy(size=actors)``), each holding one solver (``--num-cpus``/``--num-gpus`` per actor: one actor per GPU with
``--num-gpus 1``), and the driver writes the results as they come back, **in input order** (Ray Data's
``preserve_order``), one JSON object per puzzle: ``hrm solve --format jsonl``'s fields plus ``index``, the
puzzle's 0-based position in the input. Each block is flushed when written.

**Resumable**: run it again with the same files and it skips the puzzles already written (a torn last line is
cut off first); a killed run loses only the results not yet written, that is the blocks then being solved
(one per actor) and any finished block still waiting for an earlier one. An output that does not continue the
input (its last index is not its line count - 1) is refused.

Needs the [serve] extra (``ray[serve,data]``: Ray Data brings pandas and pyarrow). Nothing here names a task:
any puzzle type whose solver implements ``parse_text`` and ``solve_items`` works.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
from pathlib import Path

from hrm_sdk.errors import HRMError, require
from hrm_sdk.tasks.text import read_text

log = logging.getLogger(__name__)


def completed_lines(out: Path) -> int:
    """Complete result lines already in ``out``; a torn last line (no newline) is cut off. HRMError when the
    lines are not this tool's results from index 0 on."""
    if not out.exists():
        return 0
    data = out.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        log.warning("%s: cutting a torn last line (%d bytes)", out, len(data) - keep)
        with out.open("r+b") as f:
            f.truncate(keep)
    done = data[:keep].count(b"\n")
    if done:
        last = data[:keep - 1].rsplit(b"\n", 1)[-1]
        try:
            index = json.loads(last)["index"]
        except (ValueError, KeyError, TypeError):
            index = None
        if index != done - 1:
            raise HRMError(f"{out}: line {done} is not the result of puzzle {done} of this input (index {index}); "
                           f"not an output of this tool, or lines were removed: use another output file")
    return done


class _SolveBatch:
    """One solver in one Ray Data actor: a batch of pickled puzzles -> their JSONL result lines."""

    def __init__(self, task: str, model, backend: str, device, batch_size: int, options: dict, source: str):
        from hrm_sdk.solvers.base import solver_class

        from .engine import configured

        cls = solver_class(task)
        solver = (cls(model, backend=backend, device=device, batch_size=batch_size) if cls.shared_loop
                  else cls(model, device=device))
        self.solver = configured(solver, task, options)
        self.options, self.source = options, source

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        items = [pickle.loads(b) for b in batch["item"]]
        results = self.solver.solve_items(items, self.options, self.source)
        lines = [json.dumps({"index": int(i), **r.to_dict()}) for i, r in zip(batch["index"], results)]
        return {"index": np.asarray(batch["index"]), "line": np.asarray(lines, dtype=object)}


def solve_file(inp: str, out: str, task: str = "sudoku", actors: int = 1, chunk: int = 512, model=None,
               backend: str = "auto", device: str | None = None, batch_size: int = 64, num_cpus: float = 1,
               num_gpus: float = 0, address: str | None = None, options: dict | None = None) -> int:
    """Solve every puzzle of ``inp`` into ``out`` (JSONL, input order, resumable); -> puzzles written now."""
    from hrm_sdk.solvers.base import solver_class

    from .engine import checked_options

    if actors < 1 or chunk < 1:
        raise HRMError(f"--actors and --chunk must be at least 1 (got {actors} and {chunk})")
    cls = solver_class(task)
    options = checked_options(cls, dict(options or {}))
    puzzles = cls.parse_text(read_text(inp), str(inp))  # a malformed file fails here, before Ray starts
    if not puzzles:
        raise HRMError(f"{inp}: no puzzles")
    out_path = Path(out)
    done = completed_lines(out_path)
    if done > len(puzzles):
        raise HRMError(f"{out} holds {done} results but {inp} has only {len(puzzles)} puzzles: another input?")
    if done == len(puzzles):
        log.info("%s: all %d puzzles already solved", out, len(puzzles))
        return 0
    require("ray", "serve", "cluster batch solving")
    require("pyarrow", "serve", "cluster batch solving (Ray Data)")
    import numpy as np
    import pyarrow as pa
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address or "local", include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False,
                 **({} if address else {"num_cpus": max(1, int(np.ceil(actors * num_cpus)))}))
    try:
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # blocks come back in input order
        ctx.enable_progress_bars = False
        blocks = [pa.table({"index": np.arange(s, min(s + chunk, len(puzzles)), dtype=np.int64),
                            "item": pa.array([pickle.dumps(p) for p in puzzles[s:s + chunk]], pa.binary())})
                  for s in range(done, len(puzzles), chunk)]
        results = ray.data.from_arrow(blocks).map_batches(
            _SolveBatch, batch_size=chunk, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=num_cpus, num_gpus=num_gpus,
            fn_constructor_kwargs={"task": task, "model": model, "backend": backend, "device": device,
                                   "batch_size": batch_size, "options": options, "source": str(inp)})
        written = 0
        with out_path.open("a") as f:
            for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
                index = batch["index"]
                if len(index) and not np.array_equal(index, np.arange(done + written, done + written + len(index))):
                    raise HRMError(f"results came back out of order (expected index {done + written}, got "
                                   f"{int(index[0])}); nothing after index {done + written - 1} was written")
                if len(index):
                    f.write("\n".join(batch["line"]) + "\n")
                    f.flush()
                written += len(index)
                log.info("%d/%d puzzles", done + written, len(puzzles))
        return written
    finally:
        if started:
            ray.shutdown()


def _option(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, int(value)
    except ValueError:
        return name, value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hrm_sdk.serving.batch", description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--task", default="sudoku", help="the puzzle type (default: sudoku)")
    ap.add_argument("--actors", type=int, default=1, help="solver actors (one per GPU with --num-gpus 1)")
    ap.add_argument("--chunk", type=int, default=512, help="puzzles per Ray Data block (one actor call)")
    ap.add_argument("--model")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device")
    ap.add_argument("--batch-size", type=int, default=64, help="slots of each actor's ACT batch")
    ap.add_argument("--num-cpus", type=float, default=1, help="CPUs per actor")
    ap.add_argument("--num-gpus", type=float, default=0, help="GPUs per actor")
    ap.add_argument("--option", type=_option, action="append", default=[], metavar="NAME=VALUE",
                    help="a solver option of the JSON API (Sudoku: views, max_steps, extra_steps, search_nodes)")
    ap.add_argument("--address", help="a running Ray cluster (e.g. auto); default: a local instance")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        n = solve_file(args.input, args.output, args.task, args.actors, args.chunk, args.model, args.backend,
                       args.device, args.batch_size, args.num_cpus, args.num_gpus, args.address, dict(args.option))
    except HRMError as exc:
        print(f"Error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"{n} puzzles solved into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
