"""Issue 26: the trainer refuses a batch larger than its data before allocating it, removes the folders of
interrupted checkpoint writes at start, and refuses a poisoned optimizer.pt in one line."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from conftest import tiny_config
from hrm_sdk.checkpoint import load_optimizer_state, remove_stale_tmp
from hrm_sdk.errors import CheckpointError, ConfigError
from hrm_sdk.training.config import load_config


def test_batch_larger_than_the_dataset_is_refused_before_allocation(tmp_path, sudoku32):
    from hrm_sdk.training.trainer import Trainer

    cfg = load_config(text=tiny_config(tmp_path, sudoku32, global_batch_size=100_000))
    with pytest.raises(ConfigError, match="global_batch_size 100000 is larger than the 32 training rows"):
        Trainer(cfg, show_progress=False)  # was accepted and grew to 23 GB


def test_stale_tmp_checkpoint_folders_are_removed_at_start(tmp_path, sudoku32):
    from hrm_sdk.training.trainer import Trainer

    cfg = load_config(text=tiny_config(tmp_path, sudoku32))
    stale = Path(cfg.run.out_dir) / "checkpoints" / ".tmp-step_000010"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half written")
    keep = stale.parent / "notes.txt"
    keep.write_text("not ours")
    Trainer(cfg, show_progress=False)
    assert not stale.exists() and keep.exists()
    assert remove_stale_tmp(tmp_path / "nowhere") == []


class Exploit:
    def __reduce__(self):
        return (print, ("owned",))


def test_poisoned_optimizer_state_is_refused_in_one_line(tmp_path):
    import torch

    path = tmp_path / "optimizer.pt"
    torch.save({"step": 1, "optimizer": Exploit()}, path)
    with pytest.raises(CheckpointError) as info:
        load_optimizer_state(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused, not an optimiser state written by hrm-sdk (UnpicklingError")
    assert len(message.splitlines()) == 1 and len(message) < 300  # was three lines of torch's advice
    path.write_bytes(pickle.dumps("just a string"))
    assert "refused" in str(pytest.raises(CheckpointError, load_optimizer_state, path).value)
    torch.save({"step": 1, "optimizer": {}}, path)
    with pytest.raises(CheckpointError, match="no 'stream' entry"):
        load_optimizer_state(path)
    with pytest.raises(CheckpointError, match="missing"):
        load_optimizer_state(tmp_path / "none.pt")
