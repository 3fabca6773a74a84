"""ARC-AGI-1 pass@2 against training minutes for every ARC run with evaluation records, as a table and a PNG.

    python -m scripts.arc_progress [--png records/arc-progress.png]

Each run is its metrics files (training minutes from the logged steps/s, ``scripts.learning_curve.read_curve``)
and its ``hrm eval arc`` records (``eval-known-stepN-*.json``, all 400 ARC-AGI-1 evaluation tasks, known route);
a point is the record's pass@2 at the training minutes the run had reached at step N. A run is added here when its
records are (``RUNS``). Prints a Markdown table; the last stdout line is one JSON document.
"""

from __future__ import annotations

import argparse
import glob
import json
import re

from scripts.learning_curve import read_curve

# label -> (metrics files glob, evaluation records glob, what changed)
RUNS = {
    "arc (shipped)": ("records/arc/metrics-*.jsonl", "records/arc/eval-known-step*-all400.json",
                      "one embedding per version (32 versions), 1D RoPE, 30x30 canvas, AdamATan2"),
    "arc-task": ("records/arc-task/metrics-2-*.jsonl", "records/arc-task/eval-known-step*.json",
                 "one embedding per task, 2D RoPE, 100 versions, + ARC-AGI-2 training tasks"),
    "arc-task-s4": ("records/arc-task-s4/metrics-*.jsonl", "records/arc-task-s4/eval-known-step*.json",
                    "arc-task with at most 4 ACT segments a sample"),
}


def points(metrics_glob: str, evals_glob: str) -> list[dict]:
    marks: list = []
    read_curve(sorted(glob.glob(metrics_glob)), marks)
    out = []
    for path in sorted(glob.glob(evals_glob)):
        step = int(re.search(r"step(\d+)", path).group(1))
        rec = json.load(open(path))
        seconds = next((s for st, s, _ in marks if st >= step), marks[-1][1] if marks else 0.0)
        out.append({"step": step, "minutes": round(seconds / 60, 1), "pass@2": rec["pass@2"], "pass@1": rec["pass@1"],
                    "tasks": rec["tasks"], "votes": rec.get("votes"), "record": path})
    return sorted(out, key=lambda p: p["step"])


def plot(runs: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, pts in runs.items():
        if pts:
            ax.plot([p["minutes"] for p in pts], [100 * p["pass@2"] for p in pts], marker="o", label=label)
    ax.set(xlabel="training time (min, one H100/H200)", ylabel="pass@2 (%)",
           title="ARC-AGI-1 evaluation (400 tasks), known route: pass@2 against training time")
    ax.text(0.02, 0.95, "goals: 25% by 60 min, 45% by 120 min (off this scale)", transform=ax.transAxes,
            fontsize=8, va="top")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    runs = {label: points(m, e) for label, (m, e, _) in RUNS.items()}
    print("| run | what | step | training min | pass@1 | pass@2 | votes |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, pts in runs.items():
        for p in pts:
            print(f"| {label} | {RUNS[label][2]} | {p['step']:,} | {p['minutes']} | {p['pass@1']:.2%} | "
                  f"{p['pass@2']:.2%} | {p['votes'] or 'all'} |")
    if args.png:
        plot(runs, args.png)
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
