"""ARC canvas-size buckets: each task on the smallest canvas that holds it, in the builder, the sampler, the
trainer's lanes, the model's 2D positions and `hrm eval arc`."""

import numpy as np
import pytest
import torch

from hrm_sdk.errors import CheckpointError, ConfigError
from hrm_sdk.tasks import arc
from hrm_sdk.tasks.arc import ArcTask

from test_arc import random_grid


def sized_task(rng, task_id: str, lo: int, hi: int, n_train: int = 2, n_test: int = 1) -> ArcTask:
    """A task whose grids are lo..hi cells a side (outputs the same size as inputs)."""
    def pair():
        h, w = (int(x) for x in rng.integers(lo, hi + 1, 2))
        return random_grid(rng, h, w), random_grid(rng, h, w)
    return ArcTask(task_id, [pair() for _ in range(n_train)], [pair() for _ in range(n_test)])


def test_task_side_holds_visible_grids_and_grown_test_inputs():
    g = lambda h, w: np.zeros((h, w), np.uint8)  # noqa: E731
    small = ArcTask("s", [(g(3, 4), g(3, 4))], [(g(5, 2), g(5, 2))])
    assert arc.task_side(small, (10, 15, 20, 30)) == 10
    wide = ArcTask("w", [(g(3, 11), g(3, 11))], [(g(2, 2), None)])
    assert arc.task_side(wide, (10, 15, 20, 30)) == 15
    # outputs three times the input: a 6x6 test input needs 18 cells a side
    grows = ArcTask("g", [(g(2, 2), g(6, 6))], [(g(6, 6), None)])
    assert arc.task_side(grows, (10, 15, 20, 30)) == 20
    # a training task's test output is trained on, so it must fit; an evaluation task's is hidden
    hidden = ArcTask("h", [(g(3, 3), g(3, 3))], [(g(3, 3), g(12, 12))])
    assert arc.task_side(hidden, (10, 15, 20, 30)) == 10
    assert arc.task_side(hidden, (10, 15, 20, 30), trained_outputs=True) == 15


@pytest.mark.parametrize("bad", [(10, 20), (0, 30), (10, 40)])
def test_buckets_must_end_at_the_full_canvas(bad):
    with pytest.raises(ConfigError, match="canvas buckets"):
        arc.check_buckets(bad)


def test_cropped_canvas_is_the_smaller_canvas_encoding():
    rng = np.random.default_rng(0)
    for _ in range(50):
        side = int(rng.choice([10, 15, 20]))
        grid = random_grid(rng, int(rng.integers(1, side + 1)), int(rng.integers(1, side + 1)))
        r0, c0 = (int(rng.integers(0, side - n + 1)) for n in grid.shape)
        full = arc.encode_grid(grid, (r0, c0))[None]
        small = arc.crop_canvas(full, side)
        assert small.shape == (1, side * side)
        assert (full != 0).sum() - (small != 0).sum() == ((full.reshape(30, 30)[:, side:] != 0).sum()
                                                          + (full.reshape(30, 30)[side:, :side] != 0).sum())
        # colours never fall outside the crop; the grid decodes the same from the padded-back prediction
        assert np.array_equal(arc.decode_canvas(arc.pad_canvas(small, side)[0], (r0, c0)), grid)


def bucketed_tasks() -> tuple[list[ArcTask], list[ArcTask]]:
    rng = np.random.default_rng(3)
    train = [sized_task(rng, f"a{i}", 2, 7) for i in range(3)] + [sized_task(rng, f"b{i}", 11, 14) for i in range(2)]
    return train, [sized_task(rng, "e0", 2, 6), sized_task(rng, "e1", 12, 13)]


@pytest.fixture(scope="module")
def bucketed(tmp_path_factory):
    train, evaluation = bucketed_tasks()
    out = tmp_path_factory.mktemp("arcb") / "data"
    arc.build(out, num_aug=3, training_tasks=train, evaluation_tasks=evaluation, embedding="task",
              buckets=(10, 15, 30))
    return out


def test_build_records_sides_and_samplers_draw_one_bucket_each(bucketed):
    from hrm_sdk.data.dataset import read_split

    split = read_split(bucketed / "train")
    assert split.meta.extra["canvas_sides"] == [10, 15, 30]
    assert np.asarray(split.arrays["task_side"]).tolist() == [10, 10, 10, 15, 15, 10, 15]
    samplers = arc.make_samplers(split)
    assert [s.side for s in samplers] == [10, 15]
    assert sum(s.epoch_size for s in samplers) == arc.make_sampler(split).epoch_size
    rng = np.random.default_rng(0)
    for s in samplers:
        inputs, labels, ids = s.materialize(np.arange(s.epoch_size), rng)
        assert inputs.shape == labels.shape == (s.epoch_size, s.side * s.side)
        task = np.asarray(split.arrays["task_side"])[ids - 1]  # embedding "task": id = task + 1
        assert (task == s.side).all()
        # every row is a whole pair: its label's colour cells match the grid's area (nothing cropped away)
        for x, y in zip(arc.pad_canvas(inputs, s.side), arc.pad_canvas(labels, s.side)):
            off = arc.grid_offset(y)
            assert arc.decode_canvas(y, off).size == ((y >= arc.COLOUR0)).sum()
            assert arc.decode_canvas(x, arc.grid_offset(x)).size == ((x >= arc.COLOUR0)).sum()
    test = read_split(bucketed / "test")
    groups = dict(arc.canvas_groups(test, np.arange(test.meta.size)))
    assert sorted(groups) == [10, 15] and sum(len(g) for g in groups.values()) == test.meta.size


def test_model_positions_follow_the_canvas_side():
    from hrm_sdk.model import HRM, ModelConfig, rope2d_tables

    model = HRM(ModelConfig(arch="trm", vocab_size=12, seq_len=900, hidden_size=32, num_heads=2, L_layers=1,
                            puzzle_emb_len=2, pos_encodings="rope2d"))
    cos, sin = model._rope(900, "cpu")
    assert cos is model.rope_cos and sin is model.rope_sin
    cos10, _ = model._rope(100, "cpu")
    assert torch.equal(cos10, rope2d_tables(2, 10, 16, 10000.0)[0])
    # cell (r, c) of a 10-canvas turns like cell (r, c) of the 30-canvas
    r, c = 7, 4
    assert torch.allclose(cos10[2 + r * 10 + c], model.rope_cos[2 + r * 30 + c])
    carry = model.initial_carry(3, seq_len=100)
    _, out = model.step(carry, {"tokens": torch.zeros(3, 100, dtype=torch.long),
                                "puzzle_ids": torch.zeros(3, dtype=torch.long)})
    assert out.logits.shape == (3, 100, 12)
    assert model.flops_per_segment(seq_len=100) < model.flops_per_segment() / 7


TINY_BUCKETED = """
[run]
name = "arcb"
out_dir = "{out}"
[data]
path = "{data}"
[model]
arch = "trm"
hidden_size = 32
num_heads = 2
L_layers = 1
H_cycles = 1
L_cycles = 2
puzzle_emb_len = 2
pos_encodings = "{pos}"
halt_max_steps = 2
[train]
global_batch_size = 8
steps = {steps}
lr = 1e-3
lr_warmup_steps = 1
puzzle_emb_lr = 1e-2
log_interval = 2
eval_interval = 4
eval_limit = 0
checkpoint_interval = 4
"""


def _trainer(bucketed, out, steps=8, pos="rope2d", resume=False):
    from hrm_sdk.training.config import load_config
    from hrm_sdk.training.trainer import Trainer

    cfg = load_config(text=TINY_BUCKETED.format(out=out, data=bucketed, pos=pos, steps=steps))
    return Trainer(cfg, resume=resume, show_progress=False)


def test_trainer_runs_one_lane_per_bucket_and_resumes_exactly(bucketed, tmp_path):
    import json

    full = _trainer(bucketed, tmp_path / "full")
    assert [lane.seq_len for lane in full.lanes] == [100, 225]
    metrics = full.fit()
    assert metrics["eval/count"] == len(np.load(bucketed / "test" / "puzzle_ids.npy"))
    mfu_free = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert any("train/accuracy" in r for r in mfu_free)

    first = _trainer(bucketed, tmp_path / "split", steps=4)
    first.fit()
    second = _trainer(bucketed, tmp_path / "split", steps=8, resume=True)
    assert second.step == 4
    second.fit()
    for a, b in zip(full.lanes, second.lanes):
        assert np.array_equal(a.inflight.inputs, b.inflight.inputs)
        assert np.array_equal(a.halted, b.halted)
    for k, v in full.model.state_dict().items():
        assert torch.allclose(v, second.model.state_dict()[k], atol=1e-6), k


def test_bucketed_data_needs_2d_positions(bucketed, tmp_path):
    with pytest.raises(ConfigError, match="rope2d"):
        _trainer(bucketed, tmp_path / "r", pos="rope")


def test_resume_refuses_another_bucketing(bucketed, tmp_path):
    _trainer(bucketed, tmp_path / "run", steps=4).fit()
    state = torch.load(tmp_path / "run" / "checkpoints" / "step_000004" / "optimizer.pt", weights_only=False)
    state["lane_streams"] = []
    torch.save(state, tmp_path / "run" / "checkpoints" / "step_000004" / "optimizer.pt")
    with pytest.raises(CheckpointError, match="row shape"):
        _trainer(bucketed, tmp_path / "run", resume=True)


def test_eval_arc_runs_each_bucket_on_its_canvas(bucketed, tmp_path):
    from solvers.evaluate import evaluate_arc

    tr = _trainer(bucketed, tmp_path / "run", steps=4)
    tr.fit()
    record = evaluate_arc(str(tr.latest_checkpoint()), bucketed / "test", backend="pytorch", device="cpu",
                          batch_size=4)
    assert record["tasks"] == 2 and record["rows"] == len(np.load(bucketed / "test" / "puzzle_ids.npy"))


def test_solver_runs_each_task_on_its_bucket(bucketed, tmp_path, monkeypatch):
    """ARCSolver on a bucketed model: a known task on the canvas it was trained on, a new task (fitted route)
    on the smallest bucket that holds it; every backend call sees rows of that canvas."""
    from solvers.arc import ARCSolver

    tr = _trainer(bucketed, tmp_path / "run", steps=4)
    tr.fit()
    solver = ARCSolver(str(tr.latest_checkpoint()), device="cpu", versions=2, fit_steps=2, tune="embedding")
    assert solver.canvas_sides == (10, 15, 30)
    seen = []
    run = solver.run
    monkeypatch.setattr(solver, "run", lambda items, *a, **k: seen.append(len(items[0][0])) or run(items, *a, **k))
    e1 = bucketed_tasks()[1][1]
    r = solver.solve(e1)  # trained (reference protocol: its demonstrations), on the 15-canvas
    assert r.route == "known" and seen[-1] == 225
    r = solver.solve(sized_task(np.random.default_rng(4), "new", 2, 5))
    assert r.route == "fitted" and seen[-1] == 100 and len(r.attempts) == 1
    assert all(max(np.shape(g)) <= 10 for g in r.attempts[0])  # (an untrained model may give none)
