"""The trainer: refilling halted rows, checkpoints and exact resume, interruption, errors, and overfitting."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import REPO, tiny_config
from hrm_sdk.errors import ConfigError, DatasetError
from hrm_sdk.training.config import load_config
from hrm_sdk.training.trainer import TIMING_KEYS, Trainer


def trainer_for(tmp_path, data, **kw):
    text = tiny_config(tmp_path, data, **kw)
    return Trainer(load_config(text=text), show_progress=False)


def records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(ln).items() if k not in TIMING_KEYS} for ln in lines]


def test_only_halted_rows_take_new_samples(tmp_path, sudoku32):
    tr = trainer_for(tmp_path, sudoku32)
    tr.train_step()  # first step loads every row
    for _ in range(3):
        halted = tr.halted.copy()
        before = tr.inflight.inputs.copy()
        probe = type(tr.stream)(tr.stream.sampler, seed=0)
        probe.load_state_dict(tr.stream.state_dict())
        expected = probe.take(int(halted.sum()))[0]
        tr.train_step()
        after_refill = tr.inflight.inputs
        assert np.array_equal(after_refill[~halted], before[~halted])
        assert np.array_equal(after_refill[halted], expected)


def test_resume_continues_the_same_metrics_stream(tmp_path, sudoku32):
    tr = trainer_for(tmp_path, sudoku32, steps=10)
    tr.fit()
    full = records(tmp_path / "run")
    ckpts = tmp_path / "run" / "checkpoints"
    assert (ckpts / "latest").read_text().strip() == "step_000010"
    # Pretend the run died after step 8: only the step-6 checkpoint survived, metrics went on to step 8.
    import shutil

    shutil.rmtree(ckpts / "step_000010")
    (ckpts / "latest").write_text("step_000006\n")
    resumed = Trainer(load_config(text=tiny_config(tmp_path, sudoku32, steps=10)), resume=True, show_progress=False)
    assert resumed.step == 6
    resumed.fit()
    assert records(tmp_path / "run") == full


def test_resume_names_config_values_that_differ_from_the_checkpoints(tmp_path, sudoku32, caplog):
    trainer_for(tmp_path, sudoku32, steps=4).fit()
    with caplog.at_level("WARNING", logger="hrm_sdk.training.trainer"):
        Trainer(load_config(text=tiny_config(tmp_path, sudoku32, steps=4)), resume=True, show_progress=False)
    assert "differs from the checkpoint" not in caplog.text  # the same config read again: nothing to say
    with caplog.at_level("WARNING", logger="hrm_sdk.training.trainer"):
        Trainer(load_config(text=tiny_config(tmp_path, sudoku32, steps=4), overrides=["train.steps=9"]),
                resume=True, show_progress=False)
    assert "differs from the checkpoint's: train.steps: 4 -> 9" in caplog.text


def test_refuses_to_overwrite_a_run_and_resume_without_checkpoint(tmp_path, sudoku32):
    trainer_for(tmp_path, sudoku32, steps=5).fit()
    with pytest.raises(ConfigError, match="--resume"):
        trainer_for(tmp_path, sudoku32, steps=5)
    with pytest.raises(Exception, match="nothing to resume"):
        Trainer(load_config(text=tiny_config(tmp_path / "other", sudoku32)), resume=True, show_progress=False)


def test_dataset_errors(tmp_path, sudoku32):
    with pytest.raises(DatasetError, match="does not exist"):
        trainer_for(tmp_path, tmp_path / "nope")
    text = tiny_config(tmp_path, sudoku32).replace("[model]", "[model]\nseq_len = 900")
    with pytest.raises(ConfigError, match="model.seq_len = 900 but the dataset .* has seq_len = 81"):
        Trainer(load_config(text=text), show_progress=False)


def run_cli(args, cwd, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "hrm_sdk.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, **kw)


def test_cli_bad_config_is_one_line(tmp_path):
    (tmp_path / "c.toml").write_text('[data]\npath = "x"\n[train]\nsteppes = 3\n')
    r = run_cli(["train", str(tmp_path / "c.toml")], tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown key 'steppes'" in r.stderr and "Traceback" not in r.stderr


def test_checkpoint_card_says_which_step_its_evaluation_is_from(tmp_path, sudoku32):
    trainer_for(tmp_path, sudoku32, steps=14, eval_interval=10, checkpoint_interval=12).fit()
    card = json.loads((tmp_path / "run" / "checkpoints" / "step_000012" / "model.json").read_text())
    assert card["step"] == 12 and card["eval"]["eval/step"] == 10


def test_sigterm_leaves_a_resumable_checkpoint(tmp_path, sudoku32):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config(tmp_path, sudoku32, steps=100000, checkpoint_interval=1000, eval_interval=0, log_interval=2))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "hrm_sdk.cli.main", "train", str(cfg), "--set", "train.lr_warmup_steps=3"],
                            cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # The hint repeats the overrides: without them a resume would silently train under another config.
    assert f"resume with: hrm train {cfg} --set train.lr_warmup_steps=3 --resume" in err and "Traceback" not in err
    latest = (tmp_path / "run" / "checkpoints" / "latest").read_text().strip()
    step = int(latest.split("_")[1])
    assert step >= 4
    r = run_cli(["train", str(cfg), "--resume", "--set", f"train.steps={step + 2}", "--format", "json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["step"] == step + 2


def test_repeated_sigterm_is_one_stop_request_and_second_ctrl_c_aborts(tmp_path, sudoku32):
    """A torchrun worker often gets two SIGTERMs (pkill's and its launcher's forward): both mean "save and stop",
    so the second must not abort the checkpoint the first asked for. A second Ctrl-C does abort."""
    tr = trainer_for(tmp_path, sudoku32)
    tr._on_signal(signal.SIGTERM, None)
    tr._on_signal(signal.SIGTERM, None)
    assert tr._stop_signal == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt):
        tr._on_signal(signal.SIGINT, None)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_tiny_models_overfit_32_puzzles(tmp_path, sudoku32, arch):
    """Capacity and training-loop check: a tiny model memorises 32 hard puzzles exactly (eval = train set).

    The accuracy checked is the one the runtime delivers: each puzzle stops at its first segment with
    q_halt > q_continue. (Running all segments regardless is worse this early: training halts rows as soon
    as Q says they are solved, so late segments get little training.) The learning rate decays (cosine to 0):
    at a constant 3e-3 the run memorised everything on one CPU and plateaued at 31% (TRM) on another whose
    float kernels differ (AVX2 only); with the decay both architectures reach 100% there by step 600.
    """
    tr = trainer_for(tmp_path, sudoku32, arch=arch, steps=1000, global_batch_size=32, lr=3e-3, lr_warmup_steps=20,
                     lr_min_ratio=0.0, ema=False, eval_interval=100, eval_limit=0, log_interval=100, checkpoint_interval=1000)
    tr.fit()
    evals = [r for r in records(tmp_path / "run") if "eval/count" in r]
    best = max(r["eval/act_exact_accuracy"] for r in evals)
    assert best == 1.0, evals[-1]


def test_a_new_lr_cycle_warms_up_and_decays_from_its_start():
    from hrm_sdk.training.optim import lr_factor

    # a run warm-started at step 40,000 with a new 10,000-step cycle: warm-up from ~0, peak, cosine to 0
    assert lr_factor(40_000, 500, 50_000, 0.0, start=40_000) == pytest.approx(1 / 500)
    assert lr_factor(40_500, 500, 50_000, 0.0, start=40_000) == pytest.approx(1.0)
    assert lr_factor(45_250, 500, 50_000, 0.0, start=40_000) == pytest.approx(0.5)
    assert lr_factor(50_000, 500, 50_000, 0.0, start=40_000) == pytest.approx(0.0)
    assert lr_factor(45_250, 500, 50_000, 0.0) == pytest.approx(0.0, abs=0.05)  # without it: the old tail


@pytest.mark.parametrize("decay", [True, False])
def test_puzzle_embedding_rate_follows_the_decay_only_when_asked(tmp_path, sudoku32, monkeypatch, decay):
    import hrm_sdk.training.trainer as trainer_module

    seen = []
    real = trainer_module.sign_sgd_rows
    monkeypatch.setattr(trainer_module, "sign_sgd_rows", lambda table, ids, grads, lr, wd: (seen.append(lr),
                                                                                           real(table, ids, grads, lr, wd)))
    tr = trainer_for(tmp_path, sudoku32, steps=12, lr_min_ratio=0.0, lr_warmup_steps=2, puzzle_emb_lr=1e-2,
                     puzzle_emb_lr_decay=decay)
    for _ in range(12):
        tr.train_step()
    assert seen[:2] == pytest.approx([0.5e-2, 1e-2])  # warm-up either way
    if decay:
        assert seen[7] == pytest.approx(0.5e-2) and seen[-1] < 3e-4  # the cosine: half-way at step 7, 2% at the end
    else:
        assert seen[2:] == pytest.approx([1e-2] * 10)


def test_lr_cycle_start_must_lie_inside_the_run(tmp_path):
    from hrm_sdk.errors import ConfigError
    from hrm_sdk.training.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\narch = "trm"\n[train]\nsteps = 100\nlr_cycle_start = 100\n')
    with pytest.raises(ConfigError, match="lr_cycle_start"):
        load_config(cfg)


@pytest.mark.parametrize("final", [False, True])
def test_a_stop_signal_abandons_a_running_evaluation(tmp_path, sudoku32, monkeypatch, final):
    """SIGTERM during an evaluation must not wait for it (on a CPU one can outlast a scheduler's grace period):
    the evaluation is dropped, the checkpoint of the current step is written, and no half evaluation is logged."""
    import hrm_sdk.training.trainer as trainer_module
    from hrm_sdk.training.trainer import TrainingInterrupted

    tr = trainer_for(tmp_path, sudoku32, steps=4 if final else 20, eval_interval=0 if final else 10,
                     checkpoint_interval=100)
    real, segments = trainer_module.evaluate_model, []

    def signal_during(*args, should_stop=None, **kw):
        def ask():
            segments.append(1)
            if len(segments) == 2:  # the signal arrives after the first segment has run
                tr._on_signal(signal.SIGTERM, None)
            return should_stop()
        return real(*args, should_stop=ask, **kw)

    monkeypatch.setattr(trainer_module, "evaluate_model", signal_during)
    with pytest.raises(TrainingInterrupted) as info:
        tr.fit()
    step = 4 if final else 10
    assert info.value.step == step and len(segments) == 2
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == f"step_{step:06d}"
    assert not any("eval/count" in r for r in records(tmp_path / "run"))


def test_evaluate_model_stops_when_asked(tmp_path, sudoku32):
    from hrm_sdk.training.evaluate import evaluate_model

    tr = trainer_for(tmp_path, sudoku32)
    sp = tr.eval_split
    args = (tr.eval_model, sp.inputs[:4], sp.labels[:4], sp.puzzle_ids[:4], 4, torch.device("cpu"))
    assert evaluate_model(*args, should_stop=lambda: True) is None
    assert evaluate_model(*args, should_stop=lambda: False)["count"] == 4
