"""The repository scripts that turn training logs into the model cards' tables."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_learning_curve_times_chunks_without_their_startup(tmp_path):
    ev = {"eval/count": 10, "eval/exact_accuracy": 0.5, "eval/act_exact_accuracy": 0.4, "eval/act_steps": 3.0}
    # chunk 1: 100 steps at 1 step/s (the first record, slowed by compilation, is timed at the second's rate)
    _write(tmp_path / "metrics-1-steps0-100.jsonl",
           [{"step": 50, "steps_per_s": 0.01}, {"step": 100, "steps_per_s": 1.0}, {"step": 100, **ev}])
    # chunk 2 resumes at 100: 100 more steps at 2 steps/s, its slow first record again at the next rate
    _write(tmp_path / "metrics-2-steps100-200.jsonl",
           [{"step": 120, "steps_per_s": 0.001}, {"step": 200, "steps_per_s": 2.0}, {"step": 200, **ev}])
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "learning_curve.py"),
                          str(tmp_path / "metrics-1-steps0-100.jsonl"), str(tmp_path / "metrics-2-steps100-200.jsonl")],
                         capture_output=True, text=True, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| 1") or line.startswith("| 2")]
    assert [r.split("|")[2].strip() for r in rows] == ["1.7", "2.5"]  # 100 s, then +50 s
    assert "total training time: 2.5 min over 200 steps" in out


def test_learning_curve_counts_redone_steps_again(tmp_path):
    """A chunk restarted from an older checkpoint (the newest was lost) redoes steps: their time counts again."""
    _write(tmp_path / "metrics-1-steps0-300.jsonl",
           [{"step": 100, "steps_per_s": 1.0}, {"step": 200, "steps_per_s": 1.0}, {"step": 300, "steps_per_s": 1.0}])
    _write(tmp_path / "metrics-2-steps200-400.jsonl",
           [{"step": 300, "steps_per_s": 0.001}, {"step": 400, "steps_per_s": 1.0}])
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "learning_curve.py"),
                          str(tmp_path / "metrics-1-steps0-300.jsonl"), str(tmp_path / "metrics-2-steps200-400.jsonl")],
                         capture_output=True, text=True, check=True).stdout
    assert "total training time: 8.3 min over 400 steps" in out  # 300 s + 200 s


def test_learning_curve_reads_chunks_in_numeric_order(tmp_path):
    """The shell's glob lists metrics-10 before metrics-2; the curve must still run 1, 2, ..., 10."""
    names = []
    for n in range(1, 11):
        name = tmp_path / f"metrics-{n}-steps{(n - 1) * 100}-{n * 100}.jsonl"
        _write(name, [{"step": (n - 1) * 100 + 50, "steps_per_s": 1.0}, {"step": n * 100, "steps_per_s": 1.0}])
        names.append(str(name))
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "learning_curve.py"), *sorted(names)],
                         capture_output=True, text=True, check=True).stdout
    assert "total training time: 16.7 min over 1000 steps" in out  # 10 chunks x 100 s, none counted twice
