"""train.optimizer = "muon": torch.optim.Muon on the blocks' matrices, AdamATan2 on the rest; resumable."""

import json
import shutil

import pytest
import torch

from conftest import tiny_config
from hrm_sdk.errors import CheckpointError, ConfigError
from hrm_sdk.training.config import load_config
from hrm_sdk.training.optim import Combined, build_optimizer
from hrm_sdk.training.trainer import TIMING_KEYS, Trainer


def muon_config(tmp_path, data, steps=10, **extra):
    return tiny_config(tmp_path, data, arch="trm", steps=steps, optimizer="muon", muon_lr=0.02, **extra)


def losses(tmp_path) -> list[dict]:
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in map(json.loads, lines) if "loss" in r]


def test_muon_takes_the_block_matrices_and_adam_the_rest(tmp_path, sudoku32):
    from hrm_sdk.model import HRM, ModelConfig

    model = HRM(ModelConfig(arch="trm", vocab_size=11, seq_len=81, num_puzzle_ids=1, hidden_size=32, num_heads=2,
                            L_layers=2, H_cycles=2, L_cycles=2))
    cfg = load_config(text=muon_config(tmp_path, sudoku32)).train
    opt = build_optimizer(model.named_parameters(), cfg)
    assert isinstance(opt, Combined)
    muon = {id(p) for g in opt.parts["muon"].param_groups for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in muon}
    assert names and all(".blocks." in n and p.ndim == 2 for n, p in model.named_parameters() if n in names)
    assert {"embed_tokens.weight", "lm_head.weight", "q_head.weight"}.isdisjoint(names)
    assert len(muon) + sum(len(g["params"]) for g in opt.parts["adam"].param_groups) == len(list(model.parameters()))
    assert [g["lr_scale"] for g in opt.parts["muon"].param_groups] == [pytest.approx(0.02 / cfg.lr)]


def test_muon_trains_and_resumes_the_same_stream(tmp_path, sudoku32):
    tr = Trainer(load_config(text=muon_config(tmp_path, sudoku32, steps=12)), show_progress=False)
    first = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    assert any(not torch.equal(first[k], v) for k, v in tr.model.state_dict().items() if "blocks" in k)
    full = losses(tmp_path)
    assert all(r["loss"] == r["loss"] for r in full)  # no NaN
    ckpts = tmp_path / "run" / "checkpoints"
    shutil.rmtree(ckpts / "step_000012")
    (ckpts / "latest").write_text("step_000006\n")
    resumed = Trainer(load_config(text=muon_config(tmp_path, sudoku32, steps=12)), resume=True, show_progress=False)
    assert resumed.step == 6
    resumed.fit()
    assert losses(tmp_path) == full


def test_resume_with_another_optimizer_is_one_clear_error(tmp_path, sudoku32):
    Trainer(load_config(text=muon_config(tmp_path, sudoku32, steps=6)), show_progress=False).fit()
    text = tiny_config(tmp_path, sudoku32, arch="trm", steps=6, optimizer="adamw")
    with pytest.raises(CheckpointError, match="does not fit train.optimizer 'adamw'"):
        Trainer(load_config(text=text), resume=True, show_progress=False)


@pytest.mark.parametrize("bad", ['muon_adjust_lr = "x"', "muon_lr = 0", "muon_momentum = 1.0",
                                 'optimizer = "sgd"'])
def test_muon_settings_are_checked(tmp_path, sudoku32, bad):
    text = muon_config(tmp_path, sudoku32).replace("[train]\n", f"[train]\n{bad}\n")
    key = bad.split(" = ")[0]
    text = "\n".join(line for line in text.splitlines() if not (line.startswith(f"{key} = ") and line != bad))
    with pytest.raises(ConfigError, match=key.split("_")[0]):
        load_config(text=text)
