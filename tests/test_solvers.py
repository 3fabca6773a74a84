"""Solvers: input forms, verification (a wrong answer is never reported solved), repair, refusals, ARC fitting."""

import numpy as np
import pytest

from conftest import shared
from hrm_sdk.tasks import sudoku
from hrm_sdk.errors import PuzzleParseError
from hrm_sdk.solvers.sudoku import Budget, SudokuSolver

LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


@pytest.fixture(scope="module")
def solver(tiny_model, tiny_onnx):
    return SudokuSolver(tiny_model, batch_size=8)


def cells(s):
    return np.frombuffer(s.replace(".", "0").encode(), np.uint8) - 48


def test_picks_onnx_runtime_for_a_model_directory(solver):
    assert solver.backend.describe().startswith("onnxruntime")


def test_input_forms_agree(solver):
    c = cells(LINE)
    forms = [LINE, c, c.reshape(9, 9), c.reshape(9, 9).tolist(), "\n".join(LINE[i:i + 9] for i in range(0, 81, 9))]
    results = [solver.solve(f, Budget(0, 0)) for f in forms]
    assert len({r.network_grid.tobytes() for r in results}) == 1
    assert all(np.array_equal(r.puzzle.reshape(81), c) for r in results)


def test_contradictory_givens_are_rejected_before_compute(solver, monkeypatch):
    monkeypatch.setattr(solver, "run", lambda *a, **k: pytest.fail("compute was spent"))
    r = solver.solve(LINE[:2] + "5" + LINE[3:])  # issue 26: its own error result, not an exception
    assert not r.solved and r.error.startswith("contradictory givens: 2 5s in row 1 (r1c1, r1c3)")


def test_a_wrong_answer_is_never_reported_solved(solver, monkeypatch):
    """Force the network to answer garbage: without repair nothing is solved; with search, only checked grids."""
    real_run = solver.run

    def garbage(items, policy=None, keep_logits=False):
        results = real_run(items, policy, keep_logits)
        for r in results:
            r.prediction = np.full_like(r.prediction, 2)  # every cell "1": fails every unit
        return results

    monkeypatch.setattr(solver, "run", garbage)
    hard = [ln.split()[0] for ln in shared("sudoku", "hard-test.txt").read_text().splitlines()[:4]]
    for r in solver.solve_many(hard + [SOLUTION[:-1] + "."], Budget(extra_steps=4, search_nodes=0)):
        assert not r.solved and r.grid is None and r.route is None
    repaired = solver.solve_many(hard + [SOLUTION[:-1] + "."], Budget(extra_steps=0, search_nodes=5000))
    assert repaired[-1].solved and repaired[-1].route == "search"
    for r in repaired:
        assert (not r.solved) or (r.route == "search" and sudoku.is_solution(r.puzzle, r.grid).all())


def test_repair_search_solves_with_a_budget(solver):
    p, s, _ = sudoku.read_collection(shared("sudoku", "hard-test.txt"))
    results = solver.solve_many(list(p[:6]), Budget(extra_steps=0, search_nodes=20000))
    for r, truth in zip(results, s[:6]):
        if r.solved:
            assert np.array_equal(r.grid.reshape(81), truth)
    assert any(r.route == "search" for r in results)


def test_result_dict_shape(solver):
    d = solver.solve(LINE).to_dict()
    assert set(d) >= {"puzzle", "solved", "solution", "route", "steps", "confidence", "network_answer", "seconds"}
    assert d["puzzle"] == LINE


def test_maze_size_and_task_checks(tiny_model, tmp_path):
    from hrm_sdk.errors import HRMError
    from hrm_sdk.solvers.maze import MazeSolver

    with pytest.raises(HRMError, match="is a sudoku model; it cannot solve maze"):
        MazeSolver(tiny_model)


def test_maze_solver_checks_validity_and_optimality(monkeypatch):
    """A stub maze backend answering with the benchmark's own path, a detour, and garbage."""
    from hrm_sdk.tasks import maze as mz
    from hrm_sdk.runtime.act import SegmentResult
    from hrm_sdk.solvers import maze as maze_solver

    m = mz.parse_file(shared("maze-hard", "test.csv"))[:3]
    answers = [mz.canonical_answer(x) for x in m]
    answers[1] = np.full_like(answers[1], mz.OPEN)  # no path at all
    answers[2] = mz.encode(m[2].grid)  # unchanged maze: no path marked

    class Stub(maze_solver.MazeSolver):
        def __init__(self):
            self.backend = type("B", (), {"meta": type("M", (), {"seq_len": 900})()})()

        def run(self, items, policy=None, keep_logits=False):
            return [SegmentResult(i, answers[i], np.ones(900, np.float32), 3, 1.0, 0.0, "q") for i in range(len(items))]

    res = Stub().solve_many(m)
    assert res[0].solved and res[0].valid and res[0].optimal and res[0].path[0] == m[0].start
    assert not res[1].solved and not res[1].valid and res[1].reason
    assert not res[2].solved and res[2].path is None
    small = np.full((10, 10), mz.OPEN, np.uint8)
    small[0, 0], small[9, 9] = mz.START, mz.GOAL
    (r,) = Stub().solve_many([small])  # issue 26: its own error result, not an exception
    assert not r.solved and "10x10, but this model solves 30x30" in r.error


def test_arc_embedding_fit_lowers_loss_and_is_deterministic(tmp_path):
    import torch

    from hrm_sdk.checkpoint import save_model
    from hrm_sdk.model import HRM, ModelConfig
    from hrm_sdk.solvers.arc import ARCSolver

    torch.manual_seed(0)
    cfg = ModelConfig(arch="trm", vocab_size=12, seq_len=900, num_puzzle_ids=5, hidden_size=32, num_heads=2,
                      L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=2, halt_max_steps=2)
    save_model(tmp_path / "arc", HRM(cfg), {"task": "arc"})
    from hrm_sdk.tasks.arc import EXAMPLES as HERE

    task = str(sorted(HERE.glob("arc-*.json"))[0])
    runs = [ARCSolver(tmp_path / "arc", versions=2, fit_steps=25, fit_lr=0.05, seed=s).solve(task) for s in (0, 0, 1)]
    first, last = runs[0].fit_loss
    assert last < first
    assert runs[0].attempts == runs[1].attempts and runs[0].fit_loss == runs[1].fit_loss
    assert len(runs[0].attempts) == 1 and 1 <= len(runs[0].attempts[0]) <= 2
    sub = runs[0].submission()
    assert list(sub) == [runs[0].task_id] and set(sub[runs[0].task_id][0]) <= {"attempt_1", "attempt_2"}


def test_fitted_embeddings_start_from_the_mean_of_trained_rows():
    import torch

    from hrm_sdk.training.embedding_fit import starting_embedding

    table = torch.zeros(6, 4)  # rows 0 (blank), 3 and 5 never trained
    table[1], table[2], table[4] = torch.tensor([1.0, 2, 3, 4]), torch.tensor([3.0, 0, 3, 0]), torch.tensor([2.0, 1, 0, 2])
    assert torch.equal(starting_embedding(table), torch.tensor([[2.0, 1, 2, 2]]))
    assert torch.equal(starting_embedding(torch.zeros(3, 4)), torch.zeros(1, 4))


def test_tasks_fitted_together_do_not_interact(tmp_path):
    """Fitting two tasks in one batch: the first task's embeddings come out the same whatever the second task's
    demonstrations say, and each task gets its own loss curve."""
    import torch

    from hrm_sdk.model import HRM, ModelConfig
    from hrm_sdk.training.embedding_fit import fit_puzzle_embeddings

    torch.manual_seed(0)
    model = HRM(ModelConfig(arch="trm", vocab_size=12, seq_len=900, num_puzzle_ids=5, hidden_size=32, num_heads=2,
                            L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=2, halt_max_steps=2))
    rng = np.random.default_rng(0)
    inputs = rng.integers(2, 12, (12, 900)).astype(np.int32)
    labels = rng.integers(2, 12, (12, 900)).astype(np.int32)
    versions, groups = np.array([0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3]), np.repeat([0, 1], 6)
    other = labels.copy()
    other[6:] = rng.integers(2, 12, (6, 900))  # the second task's demonstrations change
    fits = [fit_puzzle_embeddings(model, inputs, lab, versions, 4, steps=6, lr=0.05, batch_size=4, segments=2,
                                  groups=groups) for lab in (labels, other)]
    assert torch.allclose(fits[0].table[:2], fits[1].table[:2], atol=1e-6)
    assert not torch.allclose(fits[0].table[2:], fits[1].table[2:])
    assert fits[0].group_losses.shape == (6, 2)
    np.testing.assert_allclose(fits[0].group_losses[:, 0], fits[1].group_losses[:, 0], rtol=1e-5)
    np.testing.assert_allclose(fits[0].group_losses.mean(1), fits[0].losses, rtol=1e-5)  # 4 rows per task


def test_arc_solver_fits_several_tasks_in_one_batch(tmp_path):
    import torch

    from hrm_sdk.checkpoint import save_model
    from hrm_sdk.tasks import arc
    from hrm_sdk.tasks.arc import EXAMPLES as HERE
    from hrm_sdk.model import HRM, ModelConfig
    from hrm_sdk.solvers.arc import ARCSolver

    torch.manual_seed(0)
    cfg = ModelConfig(arch="trm", vocab_size=12, seq_len=900, num_puzzle_ids=5, hidden_size=32, num_heads=2,
                      L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=2, halt_max_steps=2)
    save_model(tmp_path / "arc", HRM(cfg), {"task": "arc"})
    tasks = [arc.load_task(p) for p in sorted(HERE.glob("arc-*.json"))]
    solver = ARCSolver(tmp_path / "arc", versions=2, fit_steps=3)
    together = solver.fit_and_solve(tasks)
    assert [r.task_id for r in together] == [t.id for t in tasks]
    assert all(r.route == "fitted" and len(r.attempts) == len(t.test) for r, t in zip(together, tasks))
    assert solver.solve(tasks[0]).fit_loss == solver.fit_and_solve(tasks[:1])[0].fit_loss  # one task: same path


def test_parse_errors_reach_the_solver(solver):
    with pytest.raises(PuzzleParseError, match="expected 81 cells"):
        solver.solve_many(LINE[:80])
