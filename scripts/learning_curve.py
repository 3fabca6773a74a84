"""Learning curve of a training run from its metrics.jsonl files: evaluation accuracy against training time.

    python -m scripts.learning_curve records/sudoku/metrics-*.jsonl [--png records/sudoku/learning-curve.png]

Training time is summed from the logged steps/s (so evaluation and checkpoint pauses are excluded), and GPU
time is that time multiplied by each record's number of ranks (``world``, 1 where a record lacks it); files are
read in order and a later file continues the step count of the earlier one. A file's first record also times
compilation and start-up, so its steps are counted at the rate of the file's second record; a file named
``metrics-N-stepsA-B.jsonl`` started at step A (else where the previous file's last record was); steps a chunk
redoes after restarting from an earlier checkpoint count again, since they took GPU time again. Files named
``metrics-N-...`` are read in the order of N (a shell glob puts ``metrics-10`` before ``metrics-2``). Prints a
Markdown table; ``--png FILE`` also draws exact accuracy (ACT halting, and all 16 segments) against training time.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def chunk_order(path: str) -> tuple[int, str]:
    numbered = re.match(r"metrics-(\d+)-", Path(path).name)
    return (int(numbered.group(1)) if numbered else 0, path)


def read_curve(paths: list[str], marks: list | None = None) -> tuple[list, float, float, int]:
    """-> (rows of (training s, GPU s, eval record), training s, GPU s, last step) over the chunk files.
    ``marks``, when given, receives (step, training s, GPU s) at every logged step."""
    seconds, gpu_seconds, last_step, rows = 0.0, 0.0, 0, []
    for path in sorted(paths, key=chunk_order):
        named = re.search(r"steps(\d+)-\d+", Path(path).name)
        start = int(named.group(1)) if named else last_step
        last_step = min(last_step, start)  # a chunk that restarts from an earlier checkpoint redoes those steps
        pending = None  # steps of this file's first record, timed at the next record's rate
        for line in open(path):
            r = json.loads(line)
            if "steps_per_s" in r:
                if pending is None and last_step <= start:
                    pending = max(r["step"] - start, 0)
                else:
                    dt = (max(r["step"] - last_step, 0) + (pending or 0)) / r["steps_per_s"]
                    seconds += dt
                    gpu_seconds += dt * r.get("world", 1)
                    pending = 0
                last_step = r["step"]
                if marks is not None:
                    marks.append((r["step"], seconds, gpu_seconds))
            if "eval/count" in r:
                rows.append((seconds, gpu_seconds, r))
    return rows, seconds, gpu_seconds, last_step


def plot(rows: list, png: str, title: str) -> None:
    """Exact accuracy on the run's evaluation puzzles against training minutes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [sec / 60 for sec, _, _ in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.plot(minutes, [100 * r["eval/act_exact_accuracy"] for _, _, r in rows], marker="o", ms=3, label="ACT halting")
    ax.plot(minutes, [100 * r["eval/exact_accuracy"] for _, _, r in rows], marker=".", ms=3, ls="--",
            label="all 16 segments")
    if any("eval/act_valid_shortest_path" in r for _, _, r in rows):
        pts = [(m, 100 * r["eval/act_valid_shortest_path"]) for m, (_, _, r) in zip(minutes, rows)
               if "eval/act_valid_shortest_path" in r]
        ax.plot(*zip(*pts), marker="s", ms=3, ls=":", label="valid shortest path (ACT)")
    ax.set(xlabel="training time (min, one GPU)", ylabel="exact (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main() -> None:
    args = sys.argv[1:]
    png = None
    if "--png" in args:
        i = args.index("--png")
        png, args = args[i + 1], args[:i] + args[i + 2:]
    rows, seconds, gpu_seconds, last_step = read_curve(args)
    if png:
        plot(rows, png, f"learning curve: {Path(args[0]).parent.name} (eval puzzles during training)")
    maze = any("eval/act_valid_shortest_path" in r for _, _, r in rows)  # Maze runs log it from 2026-11-24 on
    print("| step | training time (min) | GPU time (min) | eval puzzles | exact (16 segments) | exact (ACT halting) | "
          "mean segments |" + (" valid shortest path (ACT) |" if maze else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if maze else ""))
    for sec, gpu_sec, r in rows:
        vsp = r.get("eval/act_valid_shortest_path")
        print(f"| {r['step']} | {sec / 60:.1f} | {gpu_sec / 60:.1f} | {r['eval/count']} | {r['eval/exact_accuracy']:.1%} | "
              f"{r['eval/act_exact_accuracy']:.1%} | {r['eval/act_steps']:.2f} |"
              + ((f" {vsp:.1%} |" if vsp is not None else " — |") if maze else ""))
    print(f"\ntotal training time: {seconds / 60:.1f} min over {last_step} steps; {gpu_seconds / 60:.1f} GPU-minutes")


if __name__ == "__main__":
    main()
