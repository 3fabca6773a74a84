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


def test_learning_curve_counts_gpu_time_per_rank(tmp_path):
    """A chunk trained on 2 GPUs (records with world = 2) costs twice its wall time in GPU time."""
    _write(tmp_path / "metrics-1-steps0-200.jsonl",
           [{"step": 100, "steps_per_s": 1.0}, {"step": 200, "steps_per_s": 1.0}])
    _write(tmp_path / "metrics-2-steps200-400.jsonl",
           [{"step": 300, "steps_per_s": 0.001, "world": 2}, {"step": 400, "steps_per_s": 2.0, "world": 2}])
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "learning_curve.py"),
                          str(tmp_path / "metrics-1-steps0-200.jsonl"), str(tmp_path / "metrics-2-steps200-400.jsonl")],
                         capture_output=True, text=True, check=True).stdout
    assert "total training time: 5.0 min over 400 steps; 6.7 GPU-minutes" in out  # 200 s + 100 s x 2 GPUs


def test_compare_runs_reports_loss_gaps_and_scaling_per_world(tmp_path):
    def rec(step, loss, sps, world, **kw):
        return {"step": step, "loss": loss, "samples_per_s": sps, "steps_per_s": sps / 100, "world": world, **kw}

    # reference: 1 rank at 1000 samples/s (its first record, slowed by compilation, must not count)
    _write(tmp_path / "one.jsonl", [rec(100, 2.0, 10.0, 1), rec(200, 1.5, 1000.0, 1), rec(300, 1.0, 1000.0, 1)])
    # 2 ranks at 1800 samples/s, then resumed on 1 rank at step 300
    _write(tmp_path / "two.jsonl", [rec(100, 2.1, 20.0, 2, **{"dist/replica_mismatches": 0}),
                                    rec(200, 1.5, 1800.0, 2, **{"dist/replica_mismatches": 0}),
                                    rec(300, 1.3, 5.0, 1), rec(400, 1.2, 990.0, 1)])
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_runs.py"), f"one={tmp_path / 'one.jsonl'}",
                          f"two={tmp_path / 'two.jsonl'}", "--every", "100", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    two = res["runs"]["two"]
    assert two["throughput"]["2"]["samples_per_s"] == 1800.0
    assert two["throughput"]["2"]["scaling_efficiency"] == 0.9
    assert res["runs"]["one"]["throughput"]["1"]["samples_per_s"] == 1000.0
    assert two["throughput"]["1"] == {"records": 1, "samples_per_s": 990.0, "steps_per_s": 9.9,
                                      "scaling_efficiency": 0.99}
    assert two["loss_diff"]["max_abs"] == 0.30000000000000004 and two["loss_diff"]["at_step_of_max"] == 300
    assert two["replica_checks"] == {"checks": 2, "mismatched_tensors": 0}
    md = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_runs.py"), f"one={tmp_path / 'one.jsonl'}",
                         f"two={tmp_path / 'two.jsonl'}"], capture_output=True, text=True, check=True).stdout
    assert "| two | 400 | 2 | 1800 | 18.00 | 90% |" in md
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_runs.py"), "one=/nonexistent"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "expected NAME=path/to/metrics.jsonl" in bad.stderr


def test_learning_curve_draws_a_png(tmp_path):
    ev = {"eval/count": 10, "eval/exact_accuracy": 0.5, "eval/act_exact_accuracy": 0.4, "eval/act_steps": 3.0,
          "eval/act_valid_shortest_path": 0.6}
    _write(tmp_path / "metrics-1-steps0-200.jsonl",
           [{"step": 100, "steps_per_s": 1.0}, {"step": 100, **ev}, {"step": 200, "steps_per_s": 1.0},
            {"step": 200, **ev}])
    png = tmp_path / "curve.png"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "learning_curve.py"),
                    str(tmp_path / "metrics-1-steps0-200.jsonl"), "--png", str(png)], check=True, capture_output=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_load_test_check_finds_mixed_up_and_wrong_answers():
    """scripts/load_test.py's answer check: an echoed puzzle that is not the one sent is 'mixed'; an answer
    reported solved that breaks a rule or drops a given is 'wrong'; a right answer is neither."""
    from hrm_sdk.tasks.sudoku import exact

    from scripts.load_test import check, puzzle_set

    cells, solutions, _ = exact.generate_many(seed=3, n=2, difficulty="easy")
    p = ["".join(map(str, c)).replace("0", ".") for c in cells]
    s = ["".join(map(str, c)) for c in solutions]
    right = {"puzzle": p[0], "solved": True, "solution": s[0]}
    assert check([p[0]], {"puzzles": [right]}) == (0, 0)
    assert check([p[1]], {"puzzles": [right]}) == (1, 0)  # another client's answer
    assert check([p[0], p[1]], {"puzzles": [right]}) == (2, 0)  # an answer missing
    assert check([p[0]], {"puzzles": [{**right, "solution": s[1]}]}) == (0, 1)  # a valid grid, not this puzzle's
    broken = s[0][:80] + ("1" if s[0][80] != "1" else "2")
    assert check([p[0]], {"puzzles": [{**right, "solution": broken}]}) == (0, 1)
    assert check([p[0]], {"puzzles": [{**right, "solved": False, "solution": None}]}) == (0, 0)  # honest failure
    assert puzzle_set(None, 2, "easy", 3) == p and len(puzzle_set(None)) == 24
