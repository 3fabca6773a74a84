"""ARC's fitted route with fine-tuning (``tune="all"``, issue 22 item 4): the network trains with the task's
embedding on the demonstrations, one pair held out to keep the best state and stop early; the shared model is
left as it was; a fit whose loss turns non-finite or rises is an error result, never an answer. Tiny models on
the CPU, seconds each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrm_sdk.model import HRM, ModelConfig
from hrm_sdk.training import embedding_fit
from hrm_sdk.training.embedding_fit import FitError, fit_puzzle_embeddings

# The fitting is the same whatever the grid: a 9x9 canvas keeps the unit tests fast; the solver's test uses ARC's.
CFG = ModelConfig(arch="trm", vocab_size=12, seq_len=81, num_puzzle_ids=5, hidden_size=32, num_heads=2, L_layers=1,
                  H_cycles=2, L_cycles=2, puzzle_emb_len=2, halt_max_steps=2)
ARC_CFG = ModelConfig(arch="trm", vocab_size=12, seq_len=900, num_puzzle_ids=5, hidden_size=32, num_heads=2,
                      L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=2, halt_max_steps=2)


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.integers(2, 12, (n, 81)).astype(np.int32)
    labels = inputs.copy()
    labels[:, 40:] = 0  # half the canvas is PAD (ignored), as in small grids
    versions = np.arange(n) % 2
    held = np.arange(n) >= n - 4  # the last pair of the task, under both versions
    return inputs, labels, versions, held


def _model(cfg=CFG):
    torch.manual_seed(0)
    return HRM(cfg)


def test_tune_all_trains_the_network_and_leaves_the_model_as_it_was():
    model = _model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    inputs, labels, versions, held = _data()
    fit = fit_puzzle_embeddings(model, inputs, labels, versions, 2, steps=12, lr=0.05, batch_size=4, segments=2,
                                tune="all", net_lr=1e-3, holdout=held, eval_every=4, patience=10)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n  # the shared model is untouched
        assert p.requires_grad
    assert fit.network is not None and set(fit.network) == {n for n in before if n != "puzzle_emb"}
    assert any(not torch.equal(fit.network[n], before[n]) for n in fit.network)
    assert fit.holdout[0][0] == 0 and fit.best_step is not None
    assert min(s[1] for s in fit.holdout) == pytest.approx([s for s in fit.holdout if s[0] == fit.best_step][0][1])
    assert np.mean(fit.losses[-3:]) < np.mean(fit.losses[:3])
    frozen = fit_puzzle_embeddings(model, inputs, labels, versions, 2, steps=3, batch_size=4, segments=2)
    assert frozen.network is None


def test_held_out_rows_are_never_trained_on():
    """Changing the held-out pair's labels changes nothing of the training trajectory (only which state is kept)."""
    inputs, labels, versions, held = _data()
    other = labels.copy()
    other[held] = np.random.default_rng(1).integers(2, 12, (int(held.sum()), 81))
    fits = [fit_puzzle_embeddings(_model(), inputs, lab, versions, 2, steps=6, lr=0.05, batch_size=4, segments=2,
                                  tune="all", holdout=held, eval_every=3, patience=100) for lab in (labels, other)]
    np.testing.assert_allclose(fits[0].losses, fits[1].losses, rtol=1e-6)
    assert [s[1] for s in fits[0].holdout] != [s[1] for s in fits[1].holdout]


def test_fitting_stops_when_the_held_out_loss_stops_improving():
    inputs, labels, versions, held = _data()
    fit = fit_puzzle_embeddings(_model(), inputs, labels, versions, 2, steps=100, lr=0.0, batch_size=4, segments=2,
                                tune="all", net_lr=1e-12, holdout=held, eval_every=3, patience=2)
    assert fit.best_step == 0 and len(fit.losses) == 6  # evaluations at 0, 3, 6: nothing gained since step 0


def test_tune_all_fits_one_task_at_a_time():
    inputs, labels, versions, _ = _data()
    with pytest.raises(Exception, match="one task at a time"):
        fit_puzzle_embeddings(_model(), inputs, labels, versions, 2, steps=2, tune="all",
                              groups=np.repeat([0, 1], 6))


def test_a_non_finite_loss_fails_the_fit(monkeypatch):
    real = embedding_fit.token_losses
    monkeypatch.setattr(embedding_fit, "token_losses", lambda *a: real(*a) * float("nan"))
    inputs, labels, versions, held = _data()
    with pytest.raises(FitError, match="nan"):
        fit_puzzle_embeddings(_model(), inputs, labels, versions, 2, steps=5, batch_size=4, segments=2, tune="all")


def test_a_rising_loss_fails_the_fit(monkeypatch):
    real, calls = embedding_fit.token_losses, []

    def rising(*a):
        calls.append(1)
        return real(*a) * 0 + len(calls)

    monkeypatch.setattr(embedding_fit, "token_losses", rising)
    inputs, labels, versions, _ = _data()
    with pytest.raises(FitError, match="rose"):
        fit_puzzle_embeddings(_model(), inputs, labels, versions, 2, steps=8, batch_size=4, segments=2)


def test_the_solver_answers_through_fine_tuning_and_reports_a_failed_fit(tmp_path, monkeypatch):
    from hrm_sdk.checkpoint import save_model
    from hrm_sdk.solvers.arc import ARCSolver
    from hrm_sdk.tasks import arc
    from hrm_sdk.tasks.arc import EXAMPLES as HERE

    save_model(tmp_path / "arc", _model(ARC_CFG), {"task": "arc"})
    tasks = [arc.load_task(p) for p in sorted(HERE.glob("arc-*.json"))]
    solver = ARCSolver(tmp_path / "arc", versions=2, fit_steps=3)
    assert solver.tune == "all"
    before = {n: p.detach().clone() for n, p in solver.backend.graph.model.named_parameters()}
    results = solver.solve_many(tasks)
    assert all(r.error is None and r.route == "fitted" and len(r.attempts) == len(t.test)
               for r, t in zip(results, tasks))
    assert all(r.extra["fit"]["tune"] == "all" for r in results) and results[0].to_dict()["fit"]["steps"] >= 1
    for n, p in solver.backend.graph.model.named_parameters():
        assert torch.equal(p, before[n]), n
    real = embedding_fit.token_losses
    monkeypatch.setattr(embedding_fit, "token_losses", lambda *a: real(*a) * float("nan"))
    failed = solver.solve_many(tasks[:1])
    assert failed[0].error.startswith("fitting failed") and failed[0].attempts == []
