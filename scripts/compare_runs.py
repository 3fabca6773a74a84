"""Compare training runs step by step: loss curves, evaluation accuracy and throughput per number of GPUs.

    python scripts/compare_runs.py 1gpu=runs/ddp-1gpu/metrics.jsonl 2gpu=runs/ddp-2gpu/metrics.jsonl \
        seed1=runs/ddp-1gpu-seed1/metrics.jsonl [--every 500] [--format json]

The first run is the reference. For every other run it reports the mean and the largest |loss difference|
over the logged steps both runs have (a run with another seed gives the size of ordinary run-to-run noise),
and the evaluation accuracy at the steps both evaluated. Throughput is the median samples/s of a run's records
at each world size (the number of ranks, logged with every record since 2026-11-24), leaving out the first
record after each change of world size, which also times compilation (the median keeps out the first record
of a resumed process with an unchanged world size). Scaling efficiency is samples/s divided by
world x the reference's samples/s per rank. Prints Markdown, or JSON with --format json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def read(path: str) -> tuple[dict[int, dict], dict[int, dict]]:
    """Training records and evaluation records of one metrics.jsonl, each keyed by step (the last one wins)."""
    train, evals = {}, {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if "loss" in r:
                train[r["step"]] = r
            if "eval/count" in r:
                evals[r["step"]] = r
    return train, evals


def throughput(train: dict[int, dict]) -> dict[int, dict]:
    by_world: dict[int, list[dict]] = {}
    previous = None
    for step in sorted(train):
        r, world = train[step], int(train[step].get("world", 1))
        if world == previous or len(train) == 1:  # a new process's first record also times its compilation
            by_world.setdefault(world, []).append(r)
        previous = world
    return {w: {"records": len(rs), "samples_per_s": statistics.median(r["samples_per_s"] for r in rs),
                "steps_per_s": statistics.median(r["steps_per_s"] for r in rs)} for w, rs in sorted(by_world.items())}


def compare(runs: dict[str, str], every: int) -> dict:
    data = {name: read(path) for name, path in runs.items()}
    ref_name = next(iter(runs))
    ref_train, ref_eval = data[ref_name]
    ref_tp = throughput(ref_train)
    ref_world, ref_rate = next(iter(ref_tp.items()))
    per_rank = ref_rate["samples_per_s"] / ref_world
    out: dict = {"reference": ref_name, "runs": {}, "loss_table": []}
    for name, (train, evals) in data.items():
        tp = throughput(train)
        for w, t in tp.items():
            t["scaling_efficiency"] = t["samples_per_s"] / (w * per_rank)
        entry: dict = {"path": runs[name], "steps": max(train, default=0), "throughput": tp}
        common = sorted(set(train) & set(ref_train))
        if name != ref_name and common:
            diffs = [abs(train[s]["loss"] - ref_train[s]["loss"]) for s in common]
            entry["loss_diff"] = {"steps": len(common), "mean_abs": statistics.fmean(diffs), "max_abs": max(diffs),
                                  "at_step_of_max": common[diffs.index(max(diffs))]}
        entry["eval"] = {s: {"exact": e["eval/exact_accuracy"], "cells": e["eval/accuracy"],
                             "act_exact": e["eval/act_exact_accuracy"]} for s, e in sorted(evals.items())}
        mism = [r["dist/replica_mismatches"] for r in train.values() if "dist/replica_mismatches" in r]
        if mism:
            entry["replica_checks"] = {"checks": len(mism), "mismatched_tensors": sum(mism)}
        out["runs"][name] = entry
    steps = sorted(s for s in ref_train if s % every == 0 or s == min(ref_train))
    for s in steps:
        out["loss_table"].append({"step": s, **{n: d[0][s]["loss"] if s in d[0] else None for n, d in data.items()}})
    return out


def markdown(res: dict) -> str:
    names = list(res["runs"])
    lines = ["| step | " + " | ".join(f"loss ({n})" for n in names) + " |", "|---:|" + "---:|" * len(names)]
    for row in res["loss_table"]:
        lines.append(f"| {row['step']} | " + " | ".join("—" if row[n] is None else f"{row[n]:.4f}" for n in names)
                     + " |")
    lines += ["", f"| run | steps | ranks | samples/s | steps/s | scaling efficiency | mean / max |Δloss| vs "
              f"{res['reference']} | replica checks (mismatched tensors) |", "|---|---:|---:|---:|---:|---:|---|---|"]
    for n, e in res["runs"].items():
        d = e.get("loss_diff")
        diff = f"{d['mean_abs']:.4f} / {d['max_abs']:.4f} (step {d['at_step_of_max']})" if d else "—"
        rc = e.get("replica_checks")
        checks = f"{rc['checks']} ({rc['mismatched_tensors']})" if rc else "—"
        for w, t in e["throughput"].items():
            lines.append(f"| {n} | {e['steps']} | {w} | {t['samples_per_s']:.0f} | {t['steps_per_s']:.2f} | "
                         f"{t['scaling_efficiency']:.0%} | {diff} | {checks} |")
    evals = [(n, s, v) for n, e in res["runs"].items() for s, v in e["eval"].items()]
    if evals:
        lines += ["", "| run | step | exact (16 segments) | cells | exact (ACT) |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {n} | {s} | {v['exact']:.1%} | {v['cells']:.1%} | {v['act_exact']:.1%} |" for n, s, v in evals]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=path/to/metrics.jsonl; the first is the reference")
    ap.add_argument("--every", type=int, default=500, help="loss table rows every N steps")
    ap.add_argument("--format", choices=["markdown", "json"], default="markdown")
    a = ap.parse_args()
    runs = {}
    for spec in a.runs:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_file():
            ap.error(f"{spec!r}: expected NAME=path/to/metrics.jsonl of an existing file")
        runs[name] = path
    res = compare(runs, a.every)
    print(json.dumps(res, indent=1) if a.format == "json" else markdown(res))


if __name__ == "__main__":
    main()
