"""A puzzle type is one task package plus one solver class: a test-only toy task (reverse a row of digits),
registered instead of living under hrm_sdk/tasks/, goes through the generic code paths (dataset sampler,
views, answer checks, solver lookup, hrm eval's evaluation) without any of them naming it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hrm_sdk import tasks
from hrm_sdk.data.dataset import DatasetMeta, read_split, write_split
from hrm_sdk.tasks import make_sampler
from hrm_sdk.errors import ConfigError
from hrm_sdk.runtime.backends.base import Backend

L, V = 6, 5  # tokens 1..4 are digits, 0 is PAD


class ToyTask(tasks.Task):
    name, vocab_size, seq_len = "toy", V, L
    answer_check_names = ("sorted",)

    @staticmethod
    def augment_batch(inputs, labels, rng):
        return inputs, labels

    def example_items(self):
        return [(np.arange(L, dtype=np.uint8) % 4 + 1, 0)]

    def view_maps(self, k):  # view 1 shows the row rotated by one: still a reversal puzzle
        return (lambda t, v: np.roll(t, v)), (lambda t, v: np.roll(t, v))

    def answer_checks(self, inputs, predictions):
        return {"sorted": (np.diff(np.asarray(predictions).astype(int), axis=-1) >= 0).all(-1)}


class Reverser(Backend):
    """A perfect toy model: logits one-hot on the reversed input; halts after one segment."""

    name = "reverser"

    def __init__(self):
        super().__init__(SimpleNamespace(task="toy", seq_len=L, vocab_size=V, halt_max_steps=2))

    def _allocate_states(self, capacity):
        pass

    def _run(self, n):
        return np.ones(n, np.float32), np.zeros(n, np.float32)

    def fetch_logits(self, slots):
        out = np.zeros((len(slots), L, V), np.float32)
        for k, s in enumerate(slots):
            out[k, np.arange(L), self.tokens[s][::-1]] = 5.0
        return out


@pytest.fixture
def toy(monkeypatch):
    from hrm_sdk.solvers import base

    spec = tasks.register(ToyTask())

    class ToySolver(base.Solver):  # the one solver class a new puzzle type adds
        task = "toy"

        def __init__(self, model=None, backend="auto", device=None, batch_size=64, views=1):
            self.views = base.task_views(self.task, views) if views != 1 else None
            super().__init__(model, backend, device, batch_size)

    monkeypatch.setattr(base.registry, "resolve", lambda model, task=None: Path("toy-model"))
    monkeypatch.setattr(base.runtime, "open", lambda path, backend="auto", device=None, **kw: Reverser())
    yield spec, ToySolver
    tasks.unregister("toy")
    base._SOLVERS.pop("toy", None)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown task 'nope'; expected one of sudoku, maze, arc"):
        tasks.get("nope")


def test_a_toy_task_goes_through_the_generic_paths(toy, tmp_path):
    spec, ToySolver = toy
    from hrm_sdk.solvers.base import solver_class
    from hrm_sdk.solvers.evaluate import evaluate_model

    assert tasks.get("toy") is spec and "toy" in tasks.names() and solver_class("toy") is ToySolver
    rng = np.random.default_rng(0)
    inputs = rng.integers(1, V, size=(10, L)).astype(np.uint8)
    inputs[:3] = np.sort(inputs[:3], axis=1)[:, ::-1]  # reversed: sorted answers
    labels = inputs[:, ::-1].copy()
    meta = DatasetMeta(task="toy", split="test", vocab_size=V, seq_len=L, num_puzzle_ids=1, size=len(inputs),
                       augment=True)
    path = write_split(tmp_path / "toy", meta, {"inputs": inputs, "labels": labels,
                                                 "puzzle_ids": np.zeros(len(inputs), np.int32)})
    x, y, _ = make_sampler(read_split(path)).materialize(np.arange(4), rng)
    assert (x == inputs[:4]).all() and (y == labels[:4]).all()

    record = evaluate_model("toy-model", "toy", path, views=2, batch_size=4)
    assert record["task"] == "toy" and record["network"]["act_exact"] == 1.0
    assert record["network"]["sorted"] == pytest.approx(float(spec.answer_checks(inputs, labels)["sorted"].mean()))
    assert record["views"]["k"] == 2 and record["views"]["identity_exact"] == 1.0
    assert "any_view_sorted" in record["views"] and "with_repair" not in record
