"""Shared fixtures: where the shared puzzle collections are, and tiny datasets and configs for fast CPU tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HRM_SHARED_DATA", REPO.parent / "shared" / "data"))

# Property and fuzz tests (tests/test_fuzz.py): a small fixed budget in CI, a long run for release checks with
# HYPOTHESIS_PROFILE=release (DEVELOPERS.md, "Fuzzing").
try:
    from hypothesis import HealthCheck, settings

    _common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                   database=None, derandomize=True)
    settings.register_profile("ci", max_examples=200, **_common)
    settings.register_profile("release", max_examples=10_000, **{**_common, "derandomize": False})
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis comes with the [dev] extra; test_fuzz.py skips without it
    pass



SLOW_FIXTURES = {"tiny_model", "tiny_onnx", "arc_run"}  # each trains a model


def pytest_collection_modifyitems(config, items):
    """Fast unit tests and slow integration tests: a test is ``slow`` when it trains a model (through one of
    ``SLOW_FIXTURES``) or is marked so (the overfitting checks, the 2-process DDP run); ``python -m pytest``
    runs both, ``-m "not slow"`` the unit tests alone (about a minute), ``-m gpu`` the checks for the GPU
    machine."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set HRM_SHARED_DATA)")
    return path


def write_sudoku_dataset(out: Path, n: int = 32, start: int = 0, test_same: bool = True, augment: bool = False) -> Path:
    from hrm_sdk.tasks import sudoku
    from hrm_sdk.data.dataset import DatasetMeta, write_split

    p, s, _ = sudoku.read_collection(shared("sudoku", "hard-train.txt"))
    p, s = p[start:start + n], s[start:start + n]
    for split in ("train", "test"):
        if split == "test" and not test_same:
            tp, ts, _ = sudoku.read_collection(shared("sudoku", "hard-test.txt"))
            p, s = tp[:n], ts[:n]
        meta = DatasetMeta(task="sudoku", split=split, vocab_size=11, seq_len=81, num_puzzle_ids=1, size=n,
                           augment=augment and split == "train")
        write_split(out, meta, {"inputs": sudoku.encode(p), "labels": sudoku.encode(s),
                                "puzzle_ids": np.zeros(len(p), np.int32)})
    return out


TINY_MODEL = """
[model]
arch = "{arch}"
hidden_size = 64
num_heads = 4
H_layers = 2
L_layers = 2
H_cycles = 2
L_cycles = 2
halt_max_steps = 4
"""


def tiny_config(tmp_path: Path, data: Path, arch: str = "hrm", steps: int = 20, **train) -> str:
    values = dict(global_batch_size=8, steps=steps, lr=3e-3, lr_warmup_steps=5, weight_decay=0.0,
                  puzzle_emb_lr=1e-3, loss="softmax", ema=True, log_interval=2, eval_interval=10,
                  eval_limit=8, checkpoint_interval=6)
    values.update(train)
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
                      for k, v in values.items())
    return (f'[run]\nname = "t"\nout_dir = "{tmp_path / "run"}"\nseed = 0\n\n[data]\npath = "{data}"\n'
            + TINY_MODEL.format(arch=arch) + f"\n[train]\n{lines}\n")


@pytest.fixture
def sudoku32(tmp_path_factory) -> Path:
    return write_sudoku_dataset(tmp_path_factory.mktemp("sudoku32"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny HRM trained for a few hundred steps on 32 Sudoku puzzles: a real (if weak) model directory."""
    from hrm_sdk.training.config import load_config
    from hrm_sdk.training.trainer import Trainer

    root = tmp_path_factory.mktemp("tiny_model")
    data = write_sudoku_dataset(root / "data")
    text = tiny_config(root, data, steps=300, global_batch_size=32, ema=False, eval_interval=0,
                       log_interval=100, checkpoint_interval=300)
    trainer = Trainer(load_config(text=text), show_progress=False)
    trainer.fit()
    return trainer.latest_checkpoint()


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model) -> Path:
    from hrm_sdk.exporters.onnx_export import export_onnx

    return Path(export_onnx(tiny_model, check=False).path)
