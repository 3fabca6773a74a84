"""hrm bench: the ACT-loop record and the reference loop, on the CPU with the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")


def test_bench_act_counts_segments_and_accuracy(tiny_model):
    from hrm_sdk import runtime
    from hrm_sdk.runtime.act import run_all
    from hrm_sdk.runtime.bench import bench_act, segment_flops

    be = runtime.open(tiny_model, "pytorch", "cpu")
    rng = np.random.default_rng(0)
    inputs = rng.integers(1, be.meta.vocab_size, (12, be.meta.seq_len)).astype(np.int32)
    res = run_all(be, [(x, 0) for x in inputs], 4)
    labels = np.stack([r.prediction for r in res])
    labels[:6, 0] = labels[:6, 0] % (be.meta.vocab_size - 1) + 1  # a different non-blank token: 6 wrong
    labels[:6, 0] += labels[:6, 0] == np.stack([r.prediction for r in res])[:6, 0]
    flops = segment_flops(be.meta.model)
    out = bench_act(be, inputs, labels, 4, flops_per_segment=flops, peak=1e12)
    assert out.puzzles == 12 and out.exact == pytest.approx(0.5)
    assert out.mean_segments == pytest.approx(np.mean([r.steps for r in res]))
    assert out.segments_per_s == pytest.approx(out.puzzles_per_s * out.mean_segments)
    assert out.mfu == pytest.approx(flops * out.segments_per_s / 1e12)


def test_reference_loop_has_hrm_sudoku_shapes():
    from hrm_sdk.runtime.bench import bench_reference

    out = bench_reference(batch_size=2, puzzles=3, device="cpu", compile=False, segments=1)
    assert out.puzzles == 4 and out.mean_segments == 1 and out.exact is None
    assert out.gflop_per_segment == pytest.approx(13.74, abs=0.01)  # 27.3M parameters, 82 positions
    assert out.mfu is None  # no known peak off a GPU


def test_cli_bench_json_on_cpu(tiny_model, sudoku32, capsys):
    from typer.testing import CliRunner

    from hrm_sdk.cli.main import app

    res = CliRunner().invoke(app, ["bench", "sudoku", "--data", str(sudoku32 / "test"), "--model", str(tiny_model),
                                   "--backend", "pytorch", "--device", "cpu", "--batch-size", "4", "--batch-size", "8",
                                   "--limit", "8",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert [r["act"]["batch_size"] for r in doc["runs"]] == [4, 8]
    assert all("reference" not in r for r in doc["runs"])  # no GPU: no reference loop
    assert doc["runs"][0]["act"]["exact"] == doc["runs"][1]["act"]["exact"]  # rows never interact
    bad = CliRunner().invoke(app, ["bench", "sudoku", "--data", str(sudoku32 / "test"), "--batch-size", "0"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
