"""Model files: bit-exact round trip, and clear refusals of corrupted, truncated or mismatched files."""

import json

import pytest
import torch

from hrm_sdk.checkpoint import load_model, save_model
from hrm_sdk.errors import CheckpointError
from hrm_sdk.model import HRM, ModelConfig


def make(arch="hrm", hidden=32):
    torch.manual_seed(1)
    m = HRM(ModelConfig(arch=arch, hidden_size=hidden, num_heads=2, H_layers=1, L_layers=1, num_puzzle_ids=3))
    with torch.no_grad():
        m.puzzle_emb.normal_()
    return m


def test_round_trip_is_bit_exact(tmp_path):
    m = make()
    save_model(tmp_path / "m", m, {"task": "sudoku"})
    loaded, card = load_model(tmp_path / "m")
    assert card["task"] == "sudoku" and card["model"]["arch"] == "hrm"
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    for path in (tmp_path / "m" / "model.safetensors", tmp_path / "m" / "model.json"):
        assert load_model(path)[1]["weights_sha256"] == card["weights_sha256"]


def test_truncated_and_corrupted_files(tmp_path):
    save_model(tmp_path / "m", make())
    w = tmp_path / "m" / "model.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    card.pop("weights_sha256")  # issue 26: no longer a way around the check
    (tmp_path / "m" / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="no weights_sha256"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupted model metadata"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no such model"):
        load_model(tmp_path / "nowhere")


def test_other_architecture_is_refused(tmp_path):
    save_model(tmp_path / "trm", make("trm"))
    card = json.loads((tmp_path / "trm" / "model.json").read_text())
    card["model"]["arch"] = "hrm"  # card claims HRM, weights are TRM's
    card["model"]["act_continue"] = True
    (tmp_path / "trm" / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not fit this architecture.*missing"):
        load_model(tmp_path / "trm")
    save_model(tmp_path / "big", make(hidden=64))
    card = json.loads((tmp_path / "big" / "model.json").read_text())
    card["model"]["hidden_size"] = 32
    (tmp_path / "big" / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="has shape"):
        load_model(tmp_path / "big")
