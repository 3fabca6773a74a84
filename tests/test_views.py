"""Test-time augmentation voting: exact transforms, the vote's ranking, de-augmentation against an oracle
backend, the solvers' views routes, views=1 unchanged, and the CLI's refusals."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from hrm_sdk.cli.main import app
from hrm_sdk.tasks import maze as mz
from hrm_sdk.tasks import sudoku
from hrm_sdk.errors import HRMError
from hrm_sdk.runtime import Views, load, run_all, run_views, vote
from hrm_sdk.runtime.backends.base import Backend
from hrm_sdk.solvers.base import task_views
from hrm_sdk.solvers.sudoku import Budget, SudokuSolver

PUZZLES = [
    ("53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79",
     "534678912672195348198342567859761423426853791713924856961537284287419635345286179"),
    ("..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3..",
     "483921657967345821251876493548132976729564138136798245372689514814253769695417382"),
    ("...26.7.168..7..9.19...45..82.1...4...46.29...5...3.28..93...74.4..5..367.3.18...",
     "435269781682571493197834562826195347374682915951743628519326874248957136763418259"),
]


def digits(s: str) -> np.ndarray:
    return np.frombuffer(s.replace(".", "0").encode(), np.uint8) - 48


# -----------------------------------------------------------------------------
# Transforms


def test_sudoku_views_are_exact_and_match_training_augmentation():
    ts = sudoku.view_transforms(6, seed=3)
    assert len(ts) == 6 and (ts[0].cell_perm == np.arange(81)).all() and (ts[0].token_map == np.arange(11)).all()
    again = sudoku.view_transforms(6, seed=3)
    assert all((a.cell_perm == b.cell_perm).all() and (a.digit_map == b.digit_map).all() for a, b in zip(ts, again))
    assert len({t.cell_perm.tobytes() + t.digit_map.tobytes() for t in ts}) == 6
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 11, size=(50, 81)).astype(np.uint8)  # PAD, blanks and digits, as a bad prediction
    for t in ts:
        assert (t.invert_tokens(t.apply_tokens(tokens)) == tokens).all()
        assert (t.apply_tokens(t.invert_tokens(tokens)) == tokens).all()
    # apply_tokens is what augment_batch does to a training row: the same draws give the same rows
    p, s = digits(PUZZLES[0][0]), digits(PUZZLES[0][1])
    inputs, labels = np.tile(sudoku.encode(p), (5, 1)), np.tile(sudoku.encode(s), (5, 1))
    x, y = sudoku.augment_batch(inputs, labels, np.random.default_rng(3))
    for j, t in enumerate(ts[1:]):
        assert (x[j] == t.apply_tokens(inputs[j])).all() and (y[j] == t.apply_tokens(labels[j])).all()
    for puzzle, solution in PUZZLES:
        p, s = digits(puzzle), digits(solution)
        for t in ts[1:]:
            tp, tsol = sudoku.decode(t.apply_tokens(sudoku.encode(p))), sudoku.decode(t.apply_tokens(sudoku.encode(s)))
            assert (tp == t.apply(p)).all() and (tp == 0).sum() == (p == 0).sum()
            assert sudoku.is_solution(tp, tsol).all() and not (tp == p).all()
    with pytest.raises(HRMError, match="views must be >= 1"):
        sudoku.view_transforms(0)


def test_maze_views_are_exact_and_keep_shortest_paths():
    assert mz.view_transforms(8) == list(range(8)) and mz.view_transforms(1) == [0]
    for bad in (0, 9):
        with pytest.raises(HRMError, match="views must be 1..8"):
            mz.view_transforms(bad)
    views = task_views("maze", 8)
    tokens = np.random.default_rng(0).integers(0, 6, size=900).astype(np.uint8)
    seen = {views.apply(tokens, v).tobytes() for v in range(8)}
    assert len(seen) == 8
    for v in range(8):
        assert (views.invert(views.apply(tokens, v), v) == tokens).all()
    m = mz.parse_file(mz.EXAMPLES)[0]
    answer = mz.canonical_answer(m)
    moved = [(views.apply(m.tokens, v), views.apply(answer, v)) for v in range(8)]
    assert mz.valid_optimal(np.stack([a for a, _ in moved]), np.stack([b for _, b in moved])).all()


def test_task_views_refuses_arc():
    with pytest.raises(HRMError, match="not arc"):
        task_views("arc", 2)


# -----------------------------------------------------------------------------
# The vote


def test_vote_ranks_by_votes_then_confidence_then_view():
    a, b, c = np.zeros(4, int), np.ones(4, int), np.full(4, 2)
    ranked = vote(np.stack([a, b, b, a, c]), np.array([0.0, 2.0, 2.0, 0.0, 9.0]))
    assert [int(x.answer[0]) for x in ranked] == [1, 0, 2]  # two 2-vote ties broken by confidence; c has 1 vote
    assert [x.votes for x in ranked] == [2, 2, 1] and ranked[0].views == [1, 2] and ranked[1].views == [0, 3]
    assert ranked[1].mean_q == pytest.approx(0.5) and ranked[0].mean_q == pytest.approx(1 / (1 + np.exp(-2)))
    ranked = vote(np.stack([c, a, a, c]), np.array([-3.0, -1.0, 1.0, 3.0]))  # equal counts, equal mean_q
    assert [int(x.answer[0]) for x in ranked] == [2, 0]  # the earlier view's answer wins
    ranked = vote(np.stack([b, c, c]), np.array([9.0, -9.0, -9.0]))
    assert int(ranked[0].answer[0]) == 2 and ranked[0].votes == 2  # count beats confidence


# -----------------------------------------------------------------------------
# An oracle backend: answers any puzzle it is shown from a table, so every view's answer is right in its own frame


class Oracle(Backend):
    """Logits one-hot on `table[tokens]`; halts after 1..max segments (from the tokens) with a q_halt that
    depends on the tokens too."""

    name = "oracle"
    supports_move = True

    def __init__(self, table: dict, task: str, seq_len: int, vocab: int, max_steps: int = 4):
        super().__init__(SimpleNamespace(task=task, seq_len=seq_len, vocab_size=vocab, halt_max_steps=max_steps))
        self.table = table
        self.seen = []

    def _allocate_states(self, capacity):
        self.count = np.zeros(capacity, np.int64)

    def _move_states(self, src, dst):
        self.count[dst] = self.count[src]

    def _run(self, n):
        for s in np.flatnonzero(self.reset[:n]):
            self.seen.append(self.tokens[s].astype(np.uint8).tobytes())
        self.count[:n] = np.where(self.reset[:n], 0, self.count[:n]) + 1
        sums = self.tokens[:n].astype(np.int64).sum(1)
        halt = self.count[:n] >= sums % self.meta.halt_max_steps + 1
        return np.where(halt, 1.0 + (sums % 7) / 7, -1.0).astype(np.float32), np.zeros(n, np.float32)

    def fetch_logits(self, slots):
        out = np.zeros((len(slots), self.meta.seq_len, self.meta.vocab_size), np.float32)
        for k, s in enumerate(slots):
            out[k, np.arange(self.meta.seq_len), self.table[self.tokens[s].astype(np.uint8).tobytes()]] = 5.0
        return out


def sudoku_oracle(k: int, answers=None) -> Oracle:
    """Built with the digit-level SudokuTransform.apply, not the token helpers under test. `answers(i, v)`
    overrides the answer (digits, puzzle frame) that view v of puzzle i gets."""
    table = {}
    for i, (p, s) in enumerate(PUZZLES):
        for v, t in enumerate(sudoku.view_transforms(k)):
            s_v = digits(s) if answers is None else answers(i, v)
            table[sudoku.encode(t.apply(digits(p))).tobytes()] = sudoku.encode(t.apply(s_v))
    return Oracle(table, "sudoku", 81, 11)


def test_every_view_deaugments_to_the_solution():
    k = 5
    oracle = sudoku_oracle(k)
    inputs = np.stack([sudoku.encode(digits(p)) for p, _ in PUZZLES])
    results = run_views(oracle, inputs, task_views("sudoku", k), batch_size=4, keep_logits=True)
    assert len(set(oracle.seen)) == len(PUZZLES) * k  # every view was really a different input
    steps = []
    for r, (p, s) in zip(results, PUZZLES):
        truth = sudoku.encode(digits(s))
        assert (r.predictions == truth).all() and (r.answer == truth).all()
        assert len(r.candidates) == 1 and r.candidates[0].votes == k and r.candidates[0].views == list(range(k))
        assert (r.identity.prediction == truth).all() and r.identity.logits.shape == (81, 11)
        assert r.segments == r.steps.sum() and r.steps.min() >= 1
        steps.extend(r.steps)
    assert len(set(steps)) > 1  # views halted at different segments
    # the same oracle with the inverse left out: the views disagree, so the check above can fail
    plain = task_views("sudoku", k)
    broken = run_views(oracle, inputs, Views(k, plain.apply, lambda tokens, v: tokens), batch_size=4)
    assert all(r.candidates[0].votes < k for r in broken)


def test_maze_views_deaugment_through_an_oracle():
    m = mz.parse_file(mz.EXAMPLES)[0]
    views = task_views("maze", 8)
    answer = mz.canonical_answer(m)
    table = {views.apply(m.tokens, v).tobytes(): views.apply(answer, v) for v in range(8)}
    for v, moved in enumerate([m.grid, np.rot90(m.grid), np.rot90(m.grid, 2), np.rot90(m.grid, 3)]):
        assert (views.apply(m.tokens, v) == moved.reshape(-1)).all()
    r = run_views(Oracle(table, "maze", 900, 6), m.tokens[None], views, batch_size=3)[0]
    assert (r.predictions == answer).all() and r.candidates[0].votes == 8


def oracle_solver(monkeypatch, cls, oracle, **kw):
    import hrm_sdk.solvers.base as base

    monkeypatch.setattr(base.registry, "resolve", lambda model, task: Path("oracle"))
    monkeypatch.setattr(base.runtime, "open", lambda path, backend, device, **kw: oracle)
    return cls(**kw)


def test_sudoku_solver_takes_a_lower_ranked_checked_candidate(monkeypatch):
    """Views 0 and 1 agree on a wrong grid (two cells swapped), view 2 is right: the top-voted answer fails the
    check and the runner-up passes, route "views"."""
    def answers(i, v):
        s = digits(PUZZLES[i][1])
        if v < 2:
            blanks = np.flatnonzero(digits(PUZZLES[i][0]) == 0)
            s[blanks[0]], s[blanks[1]] = s[blanks[1]], s[blanks[0]]  # breaks two units
            if s[blanks[0]] == s[blanks[1]]:
                s[blanks[0]] = s[blanks[0]] % 9 + 1
        return s

    solver = oracle_solver(monkeypatch, SudokuSolver, sudoku_oracle(3, answers), views=3, batch_size=4)
    for r, (_, s) in zip(solver.solve_many([p for p, _ in PUZZLES], Budget(0, 0)), PUZZLES):
        assert r.solved and r.route == "views" and "".join(map(str, r.grid.reshape(81))) == s
        assert not sudoku.is_solution(r.puzzle, r.network_grid).all()
        v = r.extra["views"]
        assert v["k"] == 3 and v["rank"] == 1 and v["votes"] == 1 and v["candidates"] == 2
        assert r.to_dict()["views"] == v
    solver = oracle_solver(monkeypatch, SudokuSolver, sudoku_oracle(3, answers), views=1)
    assert all(not r.solved for r in solver.solve_many([p for p, _ in PUZZLES], Budget(0, 0)))


def test_maze_solver_falls_back_to_a_valid_candidate(monkeypatch):
    from hrm_sdk.solvers.maze import MazeSolver

    m = mz.parse_file(mz.EXAMPLES)[0]
    views = task_views("maze", 3)
    answer = mz.canonical_answer(m)
    table = {views.apply(m.tokens, v).tobytes(): views.apply(answer if v == 2 else m.tokens, v) for v in range(3)}
    solver = oracle_solver(monkeypatch, MazeSolver, Oracle(table, "maze", 900, 6), views=3)
    r = solver.solve(m)
    assert r.solved and r.extra["views"]["rank"] == 1 and r.extra["views"]["votes"] == 1
    assert r.path[0] == m.start and r.path[-1] == m.goal
    assert not oracle_solver(monkeypatch, MazeSolver, Oracle(table, "maze", 900, 6)).solve(m).solved


def test_maze_solver_keeps_the_identity_views_shortest_path(monkeypatch):
    """Two shortest paths; views 1 and 2 mark the other one (so it is top-voted), the identity view marks the
    benchmark's: the answer is the identity view's, the path one view gives and the benchmark's label."""
    from hrm_sdk.solvers.maze import MazeSolver

    rows = ["#" * 30 for _ in range(30)]
    rows[1], rows[2] = "#S " + "#" * 27, "# G" + "#" * 27  # S (1,1), G (2,2): via (1,2) or via (2,1)
    m = mz.parse_text("\n".join(rows))[0]
    label = mz.canonical_answer(m)
    other = label.copy().reshape(30, 30)
    swap = other[1, 2], other[2, 1]
    other[1, 2], other[2, 1] = swap[1], swap[0]
    other = other.reshape(-1)
    assert mz.count_shortest_paths(m.grid) == 2 and not (other == label).all()
    assert mz.check_path(m.grid, other.reshape(30, 30)).optimal
    views = task_views("maze", 3)
    table = {views.apply(m.tokens, v).tobytes(): views.apply(label if v == 0 else other, v) for v in range(3)}
    r = oracle_solver(monkeypatch, MazeSolver, Oracle(table, "maze", 900, 6), views=3).solve(m)
    assert r.solved and r.extra["views"]["rank"] == 1 and r.extra["views"]["votes"] == 1
    assert (mz.encode(r.grid).reshape(-1) == label).all()


# -----------------------------------------------------------------------------
# views=1 is the plain path; the identity view of a voting run is the plain run


@pytest.fixture(scope="module")
def untrained_sudoku(tmp_path_factory) -> Path:
    """A tiny Sudoku model with random weights (conftest's trained tiny_model takes minutes to build alone;
    equality of code paths needs no skill); its halting head is drawn so that puzzles halt at different
    segments."""
    import torch

    from hrm_sdk.checkpoint import save_model
    from hrm_sdk.model import HRM, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(arch="trm", vocab_size=11, seq_len=81, num_puzzle_ids=1, hidden_size=32, num_heads=2,
                      L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=4)
    model = HRM(cfg)
    with torch.no_grad():
        model.q_head.weight.normal_(0, 1.0)
        model.q_head.bias.fill_(2.5)
    return save_model(tmp_path_factory.mktemp("views") / "sudoku", model, {"task": "sudoku"})


def test_one_view_is_the_plain_solver(untrained_sudoku):
    tiny_model = untrained_sudoku
    p = np.stack([x.cells for x in sudoku.parse_file(sudoku.EXAMPLES)] + [digits(x) for x, _ in PUZZLES])
    solver = SudokuSolver(tiny_model, backend="pytorch", batch_size=3, views=1)
    assert solver.views is None
    plain = run_all(solver.backend, [(sudoku.encode(c), 0) for c in p], batch_size=3)
    results = solver.solve_many(list(p), Budget(0, 0))
    for r, q in zip(results, plain):
        assert (r.network_grid.reshape(81) == sudoku.decode(q.prediction)).all() and r.steps == q.steps
        assert r.confidence == pytest.approx(float(q.confidence.min())) and "views" not in r.to_dict()
    one = run_views(solver.backend, sudoku.encode(p), task_views("sudoku", 1), batch_size=3)
    three = run_views(solver.backend, sudoku.encode(p), task_views("sudoku", 3), batch_size=3)
    for a, b, q in zip(one, three, plain):
        assert (a.answer == q.prediction).all() and a.steps.tolist() == [q.steps]
        assert (b.predictions[0] == q.prediction).all() and b.steps[0] == q.steps
    voted = SudokuSolver(tiny_model, backend="pytorch", batch_size=3, views=3).solve_many(list(p), Budget(0, 0))
    for r, b in zip(voted, three):
        assert (r.network_grid.reshape(81) == sudoku.decode(b.answer)).all()
        assert r.extra["views"]["segments"] == b.segments and r.steps == b.steps[0]
    assert len({q.steps for q in plain}) > 1 and len({s for b in three for s in b.steps}) > 1


# -----------------------------------------------------------------------------
# CLI


@pytest.mark.parametrize("args,what", [
    (["eval", "sudoku", "--data", "missing.txt", "--views", "0"], "'--views': 0 is not in the range x>=1"),
    (["eval", "maze", "--data", "missing.csv", "--views", "9"], "views must be 1..8"),
    (["eval", "arc", "--data", "missing", "--views", "2"], "ARC votes over its own"),
    (["solve", "sudoku", "-", "--views", "0"], "'--views': 0 is not in the range x>=1"),
])
def test_cli_refuses_bad_view_counts(args, what):
    r = CliRunner().invoke(app, args, input=PUZZLES[0][0])
    assert r.exit_code == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and what in r.stderr and "Traceback" not in r.stderr, r.stderr
