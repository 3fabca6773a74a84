"""Learning curve of a training run from its metrics.jsonl files: evaluation accuracy against training time.

    python scripts/learning_curve.py solvers/models/sudoku/training/metrics-*.jsonl

Training time is summed from the logged steps/s (so evaluation and checkpoint pauses are excluded); files are
read in order and a later file continues the step count of the earlier one. Prints a Markdown table.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    seconds, last_step, rows = 0.0, None, []
    for path in sys.argv[1:]:
        for line in open(path):
            r = json.loads(line)
            if "steps_per_s" in r:
                if last_step is not None and r["step"] > last_step:
                    seconds += (r["step"] - last_step) / r["steps_per_s"]
                elif last_step is None:
                    seconds += r["step"] / r["steps_per_s"]
                last_step = r["step"]
            if "eval/count" in r:
                rows.append((seconds, r))
    maze = any("eval/act_valid_shortest_path" in r for _, r in rows)  # Maze runs log it from 2026-11-24 on
    print("| step | training time (min) | eval puzzles | exact (16 segments) | exact (ACT halting) | mean segments |"
          + (" valid shortest path (ACT) |" if maze else ""))
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|" if maze else ""))
    for sec, r in rows:
        vsp = r.get("eval/act_valid_shortest_path")
        print(f"| {r['step']} | {sec / 60:.1f} | {r['eval/count']} | {r['eval/exact_accuracy']:.1%} | "
              f"{r['eval/act_exact_accuracy']:.1%} | {r['eval/act_steps']:.2f} |"
              + ((f" {vsp:.1%} |" if vsp is not None else " — |") if maze else ""))
    print(f"\ntotal training time: {seconds / 60:.1f} min over {last_step} steps")


if __name__ == "__main__":
    main()
