"""Training configs: strict keys and types, overrides, dataset agreement."""

import pytest

from hrm_sdk.errors import ConfigError
from hrm_sdk.training.config import dump_toml, load_config

BASE = '[data]\npath = "d"\n[train]\nsteps = 5\n'


def test_loads_and_overrides():
    cfg = load_config(text=BASE, overrides=["train.lr=0.5", "run.name=abc", "model.arch=trm"])
    assert cfg.train.lr == 0.5 and cfg.run.name == "abc" and cfg.model["arch"] == "trm" and cfg.train.steps == 5
    assert "steps = 5" in dump_toml(cfg.to_dict())


@pytest.mark.parametrize("text,match", [
    (BASE + "stepz = 3\n", r"\[train\] unknown key 'stepz'"),
    (BASE.replace("steps = 5", 'steps = "many"'), r"train.steps: expected int, got str"),
    (BASE.replace("steps = 5", "steps = true"), r"train.steps: expected int, got bool"),
    (BASE + "[model]\nhidden = 3\n", r"\[model\] unknown key 'hidden'"),
    (BASE + "[model]\nhidden_size = 1.5\n", r"model.hidden_size: expected int"),
    (BASE + "[optim]\nlr = 1\n", r"unknown section \[optim\]"),
    ("[train]\nsteps = 5\n", "data.path is required"),
    (BASE + "loss = 'hinge'\n", "train.loss must be"),
    ("[data\n", "invalid TOML"),
])
def test_errors_name_file_and_key(tmp_path, text, match):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as err:
        load_config(f)
    assert str(err.value).startswith(str(f))


def test_dataset_mismatch_names_both_values():
    cfg = load_config(text=BASE + "[model]\nvocab_size = 12\n")
    with pytest.raises(ConfigError, match="vocab_size = 12 but the dataset at d has vocab_size = 11"):
        cfg.model_config(vocab_size=11, seq_len=81, num_puzzle_ids=1)
    assert cfg.model_config(vocab_size=12, seq_len=81, num_puzzle_ids=1).seq_len == 81


def test_bad_override():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(text=BASE, overrides=["steps=3"])
