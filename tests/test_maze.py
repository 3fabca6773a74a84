"""Maze task module: codec, parser, BFS checks, dihedral augmentation, generator, dataset build."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import SHARED_DATA  # ../shared/data beside the checkout, or $HRM_SHARED_DATA
from hrm_sdk.tasks import maze as M
from hrm_sdk.data.dataset import read_split
from hrm_sdk.tasks import make_sampler
from hrm_sdk.errors import PuzzleParseError

DATA = SHARED_DATA / "maze-hard"
needs_data = pytest.mark.skipif(not (DATA / "train.csv").is_file(), reason="shared maze-hard data absent")

SMALL = ["S  #",
         " # #",
         "   G"]


def rows_of(split: str, n: int) -> list[dict]:
    with open(DATA / f"{split}.csv") as f:
        return [row for _, row in zip(range(n), csv.DictReader(f))]


@pytest.fixture(scope="module")
def train50():
    rows = rows_of("train", 50)
    return rows, np.stack([M.encode(r["question"]) for r in rows]), np.stack([M.encode(r["answer"]) for r in rows])


@pytest.fixture(scope="module")
def test50():
    rows = rows_of("test", 50)
    return rows, np.stack([M.encode(r["question"]) for r in rows]), np.stack([M.encode(r["answer"]) for r in rows])


# -----------------------------------------------------------------------------
# Codec


def test_tokens_and_round_trip():
    assert M.VOCAB_SIZE == 6 and M.SEQ_LEN == 900 and M.SIZE == 30 and M.TASK == "maze"
    assert M.encode("# SGo").tolist() == [1, 2, 3, 4, 5]
    tokens = M.encode(SMALL)
    assert tokens.dtype == np.uint8 and tokens.shape == (12,)
    assert M.decode(tokens, (3, 4)) == SMALL
    assert M.encode("\n".join(SMALL)).tolist() == tokens.tolist()
    chars = np.array([list(r) for r in SMALL])
    assert M.encode(chars).tolist() == tokens.tolist()
    assert M.encode(np.stack([chars, chars])).shape == (2, 12)
    with pytest.raises(ValueError, match="'x'"):
        M.encode("S x G")


@needs_data
def test_round_trip_on_dataset_strings(train50):
    rows, questions, answers = train50
    for row, q, a in zip(rows[:10], questions, answers):
        assert M.to_string(q) == row["question"] and M.to_string(a) == row["answer"]
        assert "".join(M.decode(q)) == row["question"]
    assert (questions > 0).all() and (answers > 0).all()  # every cell labelled
    batch = M.encode(np.array([r["question"] for r in rows[:3]]))
    assert batch.shape == (3, 900) and (batch == questions[:3]).all()
    chars = M.to_chars(questions[:2])
    assert chars.shape == (2, 30, 30) and (M.encode(chars) == questions[:2]).all()


# -----------------------------------------------------------------------------
# Parsing


def parse_error(text: str) -> PuzzleParseError:
    with pytest.raises(PuzzleParseError) as info:
        M.parse_text(text, "maze.txt")
    return info.value


def test_parse_grid_and_several_mazes():
    mazes = M.parse_text("\n".join(SMALL) + "\n\n" + "\n".join(SMALL[::-1]) + "\n")
    assert len(mazes) == 2 and mazes[0].shape == (3, 4) and mazes[1].source_line == 5
    assert mazes[0].start == (0, 0) and mazes[0].goal == (2, 3) and mazes[0].marked is None
    assert mazes[0].text() == "\n".join(SMALL)


def test_parse_all_open_row_and_path_marks():
    text = "S  G\n    \n #  \n"  # the second row is all open and keeps its width
    maze, = M.parse_text(text)
    assert maze.shape == (3, 4)
    assert len(M.parse_text("S  G\n  \nS  G\n")) == 2  # spaces of another width only separate mazes
    solved, = M.parse_text("Soo#\n #o#\n  oG\n")
    assert solved.marked is not None and (solved.grid != M.PATH).all()  # 'o' is tolerated: an open cell
    assert M.check_path(solved, solved).optimal


def test_parse_errors_name_line_and_column():
    err = parse_error("")
    assert "no maze found" in str(err)
    err = parse_error("S  #\n #x#\n   G\n")
    assert (err.line, err.col) == (2, 3) and "'x'" in str(err) and str(err).startswith("maze.txt:2:3:")
    err = parse_error("S  #\n # \n   G\n")
    assert err.line == 2 and "expected 4" in str(err)
    err = parse_error("   #\n # #\n   G\n")
    assert err.line == 1 and "no start 'S'" in str(err)
    err = parse_error("S  #\n # #\n    \n")
    assert "no goal 'G'" in str(err)
    err = parse_error("S  #\n #S#\n   G\n")
    assert (err.line, err.col) == (2, 3) and "second start 'S'" in str(err) and "line 1, column 1" in str(err)
    with pytest.raises(PuzzleParseError, match="expected 30 x 30"):
        M.parse_text("\n".join(SMALL), shape=(30, 30))


@needs_data
def test_parse_one_line_mazes_and_csv(train50, tmp_path):
    rows, questions, answers = train50
    mazes = M.parse_text(rows[0]["question"] + "\n" + rows[1]["answer"] + "\n")
    assert [m.shape for m in mazes] == [(30, 30), (30, 30)] and mazes[1].source_line == 2
    assert (mazes[0].tokens == questions[0]).all() and (mazes[1].marked.reshape(-1) == answers[1]).all()
    bad = rows[0]["question"][:100] + "x" + rows[0]["question"][101:]
    err = parse_error(bad)
    assert (err.line, err.col) == (1, 101)

    good = "index,question,answer,shortest_path_steps,num_shortest_paths\n" + "".join(
        f"{i},{r['question']},{r['answer']},{r['shortest_path_steps']},{r['num_shortest_paths']}\n"
        for i, r in enumerate(rows[:2]))
    path = tmp_path / "mazes.csv"
    path.write_text(good)
    x, y, steps = M.read_csv(path)
    assert (x == questions[:2]).all() and (y == answers[:2]).all() and steps.dtype == np.int16
    path.write_text(good + f"2,{rows[2]['question']},{rows[2]['answer']},1,1\n")
    with pytest.raises(PuzzleParseError, match="shortest_path_steps is 1") as info:
        M.read_csv(path)
    assert info.value.line == 4 and "mazes.csv:4" in str(info.value)
    path.write_text(good + f"2,{rows[2]['question']},{rows[2]['answer'][:-1]}Q,112,1\n")
    with pytest.raises(PuzzleParseError, match="unknown character 'Q'") as info:
        M.read_csv(path)
    assert info.value.line == 4


# -----------------------------------------------------------------------------
# BFS, path counts, checks


@needs_data
def test_bfs_steps_and_path_counts_match_csv(train50):
    rows, questions, answers = train50
    steps = M.shortest_path_lengths(questions)
    assert steps.tolist() == [int(r["shortest_path_steps"]) for r in rows]
    assert M.shortest_path_length(questions[0]) == int(rows[0]["shortest_path_steps"])
    assert [M.count_shortest_paths(q) for q in questions[:10]] == [int(r["num_shortest_paths"]) for r in rows[:10]]


@needs_data
def test_canonical_answer_reproduces_the_benchmark(train50, test50):
    for _, questions, answers in (train50, test50):
        assert (M.canonical_answers(questions) == answers).all()
        assert (M.relabel_batch(questions) == answers).all()
    rows, questions, _ = train50
    maze = M.parse_text(rows[0]["question"])[0]
    path = M.shortest_path(maze)
    assert len(path) == int(rows[0]["shortest_path_steps"]) + 1 and (path[0], path[-1]) == (maze.start, maze.goal)


@needs_data
def test_check_path_accepts_test_answers(test50):
    rows, questions, answers = test50
    for q, a in zip(questions, answers):
        verdict = M.check_path(q, a)
        assert verdict.valid and verdict.optimal and verdict.length == verdict.shortest, verdict.reason
    assert M.valid_optimal(questions, answers).all()
    assert M.path_from_grid(answers[0])[0] == tuple(np.argwhere(questions[0].reshape(30, 30) == M.START)[0])


@needs_data
def test_check_path_rejects_broken_paths(test50):
    _, questions, answers = test50
    q, a = questions[0].reshape(30, 30), answers[0].reshape(30, 30)
    path = M.path_from_grid(a)
    gap = a.copy()
    gap[path[len(path) // 2]] = M.OPEN
    verdict = M.check_path(q, gap)
    assert not verdict.valid and "breaks off" in verdict.reason

    through_wall = a.copy()
    wall = tuple(int(v) for v in np.argwhere(q == M.WALL)[0])
    through_wall[wall] = M.PATH
    verdict = M.check_path(q, through_wall)
    assert not verdict.valid and f"cell {wall}" in verdict.reason

    on = np.pad((a == M.PATH) | (a == M.START) | (a == M.GOAL), 1)
    next_to_path = on[:-2, 1:-1] | on[2:, 1:-1] | on[1:-1, :-2] | on[1:-1, 2:]
    lonely = np.argwhere((a == M.OPEN) & ~next_to_path)[0]
    stray = a.copy()
    stray[tuple(lonely)] = M.PATH
    verdict = M.check_path(q, stray)
    assert not verdict.valid and "stray" in verdict.reason
    batch = np.stack([gap, through_wall, stray]).reshape(3, -1)
    assert not M.valid_optimal(np.stack([questions[0]] * 3), batch).any()


def test_check_path_valid_but_longer():
    maze = M.as_grid(["S   ",
                      " ## ",
                      "G   "])
    detour = M.as_grid(["Sooo",
                        " ##o",
                        "Gooo"])
    verdict = M.check_path(maze, detour)
    assert verdict.valid and not verdict.optimal and (verdict.length, verdict.shortest) == (8, 2)
    assert "8 moves" in verdict.reason
    assert not M.valid_optimal(maze[None], detour[None]).any()
    best = M.canonical_answer(maze).reshape(3, 4)
    assert M.check_path(maze, best).optimal and best[1, 0] == M.PATH  # down first


# -----------------------------------------------------------------------------
# Dihedral augmentation


def test_dihedral_matches_numpy_and_inverts():
    rng = np.random.default_rng(0)
    grid = rng.integers(1, 6, size=(30, 30)).astype(np.uint8)
    flat = grid.reshape(-1)
    expected = [grid, np.rot90(grid), np.rot90(grid, 2), np.rot90(grid, 3), np.fliplr(grid), np.flipud(grid),
                grid.T, np.rot90(grid, 2).T]
    for t in range(8):
        out = M.apply_dihedral(flat, t)
        assert (out == expected[t].reshape(-1)).all()
        assert (M.invert_dihedral(out, t) == flat).all()
        assert (M.apply_dihedral(out, M.DIHEDRAL_INVERSE[t]) == flat).all()
    batch = rng.integers(0, 6, size=(40, 900)).astype(np.uint8)
    ts = rng.integers(0, 8, size=40)
    assert (M.invert_dihedral(M.apply_dihedral(batch, ts), ts) == batch).all()


@needs_data
def test_augment_batch_keeps_labels_aligned(train50):
    _, questions, answers = train50
    for t in range(8):
        moved_q, moved_a = M.apply_dihedral(questions, t), M.apply_dihedral(answers, t)
        assert (M.invert_dihedral(moved_q, t) == questions).all()
        assert M.valid_optimal(moved_q, moved_a).all()
    x, y = M.augment_batch(questions, answers, np.random.default_rng(1))
    ts = np.random.default_rng(1).integers(0, 8, size=len(questions))
    assert (x == M.apply_dihedral(questions, ts)).all() and (y == M.apply_dihedral(answers, ts)).all()
    assert M.valid_optimal(x, y).all()
    x, y = M.augment_batch(questions, answers, np.random.default_rng(1), relabel=True)
    assert M.valid_optimal(x, y).all() and (y == M.canonical_answers(x)).all()


# -----------------------------------------------------------------------------
# Generator


def test_pair_counts_are_exact():
    """The pruned kernel counts the same far pairs as BFS from every cell."""
    from hrm_sdk.tasks.maze import kernels as kernel_module

    kernels = vars(kernel_module)
    rng = np.random.default_rng(3)
    h = w = 12
    m = 14
    w2 = w + 2
    size2 = (h + 2) * w2
    order = np.array([(i // w + 1) * w2 + i % w + 1 for i in range(h * w)], np.int32)
    work = [np.empty(size2, np.int32) for _ in range(6)] + [np.empty(size2, np.int64), np.empty(size2, np.int32)]
    checked = 0
    for p in np.linspace(0.15, 0.45, 24):
        grid = np.where(rng.random((h, w)) < p, M.WALL, M.OPEN).astype(np.uint8)
        passable = np.zeros((h + 2, w2), bool)
        passable[1:-1, 1:-1] = grid == M.OPEN
        da, dc, parent, queue, stamp, bound, counts, cells = work
        total = kernels["_k_pair_counts"](passable.reshape(-1), int(passable.sum()), w2, m, order, da, dc, parent,
                                          queue, stamp, bound, counts, cells)
        cells_open = np.argwhere(grid == M.OPEN)
        sources = np.zeros((len(cells_open), h, w), bool)
        sources[np.arange(len(cells_open)), cells_open[:, 0], cells_open[:, 1]] = True
        dist = M.bfs_distances(np.broadcast_to(grid == M.OPEN, sources.shape), sources)
        expected = (dist >= m).sum(axis=(1, 2))
        got = counts.reshape(h + 2, w2)[1:-1, 1:-1][cells_open[:, 0], cells_open[:, 1]]
        assert (got == expected).all() and total == expected.sum()
        checked += total > 0
    assert checked >= 3  # some layouts did have far pairs


def test_generator_meets_min_path_and_is_reproducible():
    x, y, steps = M.generate_many(7, 6, workers=2, chunk=2)
    assert x.shape == y.shape == (6, 900) and x.dtype == np.uint8 and steps.dtype == np.int16
    assert (steps >= M.MIN_PATH - 1).all()  # min_path counts cells, S and G included
    assert (M.shortest_path_lengths(x) == steps).all()
    assert M.valid_optimal(x, y, steps).all() and (M.canonical_answers(x) == y).all()
    x2, y2, steps2 = M.generate_many(7, 6, workers=1, chunk=2)
    assert (x2 == x).all() and (y2 == y).all() and (steps2 == steps).all()
    assert not (M.generate_many(8, 2, workers=1)[0] == x[:2]).all()
    question, answer, n = M.generate(np.random.default_rng(0))
    assert len(question) == len(answer) == 900 and n >= 109 and M.check_path(question, answer).optimal


def test_generator_other_sizes_and_impossible_requests():
    x, y, steps = M.generate_many(1, 3, size=10, min_path=20, workers=1)
    assert x.shape == (3, 100) and (steps >= 19).all() and M.valid_optimal(x, y, steps).all()
    with pytest.raises(ValueError, match="lower min_path"):
        M.generate_many(1, 1, size=4, min_path=30, workers=1)


# -----------------------------------------------------------------------------
# Dataset build


@needs_data
def test_build_writes_readable_splits(tmp_path):
    train_dir, test_dir = M.build(tmp_path, DATA, seed=3, generate=5, workers=1)
    train, test = read_split(train_dir), read_split(test_dir)
    assert train.meta.task == "maze" and train.meta.vocab_size == 6 and train.meta.seq_len == 900
    assert train.meta.size == 1005 and train.meta.augment and train.meta.extra["relabel"]
    assert test.meta.size == 1000 and not test.meta.augment and test.meta.sources[0]["path"] == "test.csv"
    assert train.arrays["steps"].dtype == np.int16 and (np.asarray(train.arrays["steps"]) >= 109).all()
    assert (np.asarray(train.puzzle_ids) == 0).all() and train.meta.num_puzzle_ids == 1
    assert M.valid_optimal(np.asarray(train.inputs[-5:]), np.asarray(train.labels[-5:])).all()
    inputs, labels, ids = make_sampler(train).materialize(np.arange(990, 1005), np.random.default_rng(0))
    assert M.valid_optimal(inputs, labels).all() and (labels == M.canonical_answers(inputs)).all()


@needs_data
def test_trainer_evaluation_reports_valid_shortest_paths(test50):
    """The periodic evaluation adds Maze-Hard's second metric, read off the answers at ACT halting."""
    from types import SimpleNamespace

    import torch

    from hrm_sdk.training.evaluate import evaluate_model, finalize

    _, questions, answers = test50
    q, a = questions[:8], answers[:8]

    class Fixed(torch.nn.Module):
        """Answers `grids` (the right answer or the unmarked maze) and halts at once."""

        def __init__(self, grids):
            super().__init__()
            self.grids = torch.as_tensor(grids.astype(np.int64))
            self.config = SimpleNamespace(halt_max_steps=2)

        def initial_carry(self, n, device, dtype, seq_len=None):
            return None

        def step(self, carry, batch, segment_fn=None):
            n = len(batch["tokens"])
            logits = torch.nn.functional.one_hot(self.grids[:n], 7).float()
            return carry, SimpleNamespace(logits=logits, q_halt=torch.ones(n), q_continue=torch.zeros(n))

    ids = np.zeros(8, np.int32)
    right = finalize(evaluate_model(Fixed(a), q, a, ids, 8, torch.device("cpu"), task="maze"))
    assert right["eval/act_valid_shortest_path"] == 1.0 and right["eval/act_exact_accuracy"] == 1.0
    unmarked = finalize(evaluate_model(Fixed(q), q, a, ids, 8, torch.device("cpu"), task="maze"))
    assert unmarked["eval/act_valid_shortest_path"] == 0.0
    assert "eval/act_valid_shortest_path" not in finalize(evaluate_model(Fixed(a), q, a, ids, 8, torch.device("cpu")))
