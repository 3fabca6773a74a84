"""Data parallelism: 2 processes (torchrun, gloo on CPU) train exactly like 1 process on the same global batch,
write checkpoints once, and resume on another number of processes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, tiny_config

pytestmark = pytest.mark.slow  # two processes train over gloo


def run(tmp_path, data, nproc, out, steps, resume=False):
    cfg = tmp_path / f"{out}.toml"
    text = tiny_config(tmp_path, data, steps=steps, global_batch_size=8, log_interval=1, checkpoint_interval=2,
                       eval_interval=0, eval_limit=8).replace(str(tmp_path / "run"), str(tmp_path / out))
    cfg.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HRM_PEAK_FLOPS="1e12")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    cmd = [*launcher, "-m", "hrm_sdk.cli.main", "train", str(cfg), "--device", "cpu", "--format", "json"]
    r = subprocess.run(cmd + (["--resume"] if resume else []), cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[:3000]
    return [json.loads(ln) for ln in (tmp_path / out / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one(tmp_path, sudoku32):
    one = run(tmp_path, sudoku32, 1, "one", steps=6)
    two = run(tmp_path, sudoku32, 2, "two", steps=4)
    train_one = [r for r in one if "loss" in r]
    train_two = [r for r in two if "loss" in r]
    for a, b in zip(train_one, train_two):
        assert a["step"] == b["step"] and a["train/count"] == b["train/count"]
        for k in ("loss", "lm_loss", "q_halt_loss", "train/accuracy"):
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), (k, a["step"])
    assert all(b["world"] == 2 and b["dist/replica_mismatches"] == 0 for b in train_two)
    # MFU is per GPU: the same work per sample over twice the peak
    for a, b in zip(train_one, train_two):
        assert b["mfu"] / b["samples_per_s"] == pytest.approx(a["mfu"] / a["samples_per_s"] / 2, rel=1e-9)
    ckpts = sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir())
    assert ckpts == ["latest", "step_000002", "step_000004"]
    # Resume the 2-process run with 1 process: steps 5-6 continue the same stream as the 1-process run.
    resumed = [r for r in run(tmp_path, sudoku32, 1, "two", steps=6, resume=True) if "loss" in r]
    for a, b in zip(train_one[4:], resumed[4:]):
        assert a["step"] == b["step"] and b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    assert [r["world"] for r in resumed] == [2, 2, 2, 2, 1, 1]


def _replica_worker(rank: int, store_path: str, out_path: str) -> None:
    import torch
    import torch.distributed as dist

    from hrm_sdk.training import distributed as D

    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    info = D.DistInfo(rank=rank, world=2, launched=True)
    same = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    drift = same.clone()
    if rank == 1:
        drift[2, 3] = torch.nextafter(drift[2, 3], torch.tensor(100.0))  # one bit apart
    named = {"same": same, "drift": drift, "table": torch.ones(5, 2, dtype=torch.bfloat16)}
    bad = D.mismatched_replicas(named, info)
    D.broadcast_from_main([named[k] for k in bad], info)
    after = D.mismatched_replicas(named, info)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"bad": bad, "after": after}, f)
    dist.destroy_process_group()


def test_replica_check_finds_a_one_bit_difference_and_repairs_it(tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "result.json"
    mp.start_processes(_replica_worker, args=(str(tmp_path / "store"), str(out)), nprocs=2, start_method="spawn")
    assert json.loads(out.read_text()) == {"bad": ["drift"], "after": []}
