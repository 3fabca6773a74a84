"""Sudoku parsing (every accepted format and every error), encoding, checking and augmentations."""

import numpy as np
import pytest

from conftest import shared
from hrm_sdk.tasks import sudoku
from hrm_sdk.errors import InvalidPuzzleError, PuzzleParseError

LINE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
GRID = """\
# a classic, as a boxed grid
+-------+-------+-------+
| 5 3 . | . 7 . | . . . |
| 6 . . | 1 9 5 | . . . |
| . 9 8 | . . . | . 6 . |
+-------+-------+-------+
| 8 . . | . 6 . | . . 3 |
| 4 . . | 8 . 3 | . . 1 |
| 7 . . | . 2 . | . . 6 |
+-------+-------+-------+
| . 6 . | . . . | 2 8 . |
| . . . | 4 1 9 | . . 5 |
| . . . | . 8 . | . 7 9 |
+-------+-------+-------+
"""


def cells(s):
    return np.frombuffer(s.replace(".", "0").encode(), np.uint8) - 48


def test_formats_agree():
    expected = cells(LINE)
    for text in (LINE, LINE.replace(".", "0"), LINE.replace(".", "_"), GRID,
                 "\n".join(LINE[i:i + 9] for i in range(0, 81, 9)),
                 f"{LINE} {SOLUTION} 3\n", "------+-------+------\n" + "\n".join(
                     " ".join(LINE[i:i + 9]) for i in range(0, 81, 9))):
        (p,) = sudoku.parse_text(text)
        assert np.array_equal(p.cells, expected), text


def test_many_puzzles_and_comments():
    text = f"# header\n{LINE}\n\n{LINE.replace('5', '.', 1)}\n" + "\n".join(LINE[i:i + 9] for i in range(0, 81, 9))
    found = sudoku.parse_text(text, "many.txt")
    assert [p.line for p in found] == [2, 4, 5]


@pytest.mark.parametrize("text,where,what", [
    ("", "f.txt", "no puzzles"),
    (LINE[:80], "f.txt:1:81", "expected 81 cells"),
    (LINE[:40] + "x" + LINE[41:], "f.txt:1:41", "unexpected character 'x'"),
    ("\n".join(LINE[i:i + 9] for i in range(0, 81, 9)).replace("53..7....", "53..7..a."), "f.txt:1:8", "'a'"),
    ("\n".join((LINE[i:i + 9] + "1") for i in range(0, 90, 9)), "f.txt:1:10", "expected 81 cells"),
    ("\n".join(LINE[i:i + 9] for i in range(0, 72, 9)), "f.txt:9", "grid ends after 8 row"),
    ("12345\x00", "f.txt", "binary"),
])
def test_parse_errors_name_line_and_column(text, where, what):
    with pytest.raises(PuzzleParseError) as err:
        sudoku.parse_text(text, "f.txt")
    assert str(err.value).startswith(where + ":") and what in str(err.value)


def test_file_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "bin.dat").write_bytes(bytes(range(256)))
    for name, what in (("empty.txt", "empty file"), ("bin.dat", "binary"), ("missing.txt", "cannot read")):
        with pytest.raises(PuzzleParseError, match=what):
            sudoku.parse_file(tmp_path / name)


def test_natural_forms():
    c = cells(LINE)
    for form in (LINE, c, c.reshape(9, 9), c.reshape(9, 9).tolist(),
                 [[None if v == 0 else int(v) for v in row] for row in c.reshape(9, 9)]):
        assert np.array_equal(sudoku.as_cells(form), c)
    with pytest.raises(PuzzleParseError, match="shape"):
        sudoku.as_cells(np.zeros((10, 10)))
    with pytest.raises(PuzzleParseError, match="r1c1 holds 12"):
        sudoku.as_cells([[12] + [0] * 8] + [[0] * 9] * 8)


def test_contradictory_givens_name_cells():
    bad = LINE[:2] + "5" + LINE[3:]  # a second 5 in row 1
    with pytest.raises(InvalidPuzzleError, match=r"two|2 5s in row 1 \(r1c1, r1c3\)"):
        sudoku.check_givens(cells(bad), "p.txt")
    sudoku.check_givens(cells(LINE))


def test_is_solution():
    p, s = cells(LINE), cells(SOLUTION)
    assert sudoku.is_solution(p, s).all()
    wrong = s.copy()
    wrong[[0, 1]] = wrong[[1, 0]]
    assert not sudoku.is_solution(p, wrong).any()
    assert not sudoku.is_solution(cells(LINE.replace("5", "4", 1)), s).any()  # givens not kept
    assert not sudoku.is_solution(p, np.where(s == 9, 0, s)).any()  # incomplete


def test_encode_decode_roundtrip():
    c = cells(LINE)
    assert np.array_equal(sudoku.decode(sudoku.encode(c)), c)
    assert sudoku.encode(c).max() <= 10 and sudoku.encode(c).min() >= 1


def test_augmentations_invert_exactly_and_keep_validity():
    p, s, _ = sudoku.read_collection(shared("sudoku", "hard-test.txt"))
    rng = np.random.default_rng(0)
    perms, digits = sudoku.random_transforms(rng, 64)
    for i in range(64):
        t = sudoku.SudokuTransform(perms[i], digits[i])
        assert np.array_equal(t.invert(t.apply(p[i])), p[i])
        assert sudoku.is_solution(t.apply(p[i]), t.apply(s[i])).all()
    ti, tl = sudoku.augment_batch(sudoku.encode(p[:64]), sudoku.encode(s[:64]), np.random.default_rng(1))
    assert sudoku.is_solution(sudoku.decode(ti), sudoku.decode(tl)).all()
    assert not np.array_equal(ti, sudoku.encode(p[:64]))
    # Counts of givens are preserved, blanks stay blanks.
    assert ((ti == 1).sum(1) == (sudoku.encode(p[:64]) == 1).sum(1)).all()


def test_build(tmp_path):
    from hrm_sdk.data.dataset import read_split

    src = tmp_path / "src"
    src.mkdir()
    lines = shared("sudoku", "hard-train.txt").read_text().splitlines()
    (src / "hard-train.txt").write_text("\n".join(lines[:50]) + "\n")
    (src / "17-clue.txt").write_text("\n".join(shared("sudoku", "17-clue.txt").read_text().splitlines()[:20]) + "\n")
    (src / "hard-test.txt").write_text("\n".join(lines[40:60]) + "\n")  # overlaps train on 10 puzzles
    train, test = sudoku.build(tmp_path / "ds", src, seed=3)
    tr, te = read_split(train), read_split(test)
    assert tr.meta.size == 60 and te.meta.size == 20 and tr.meta.augment and not te.meta.augment
    assert {r.tobytes() for r in np.asarray(tr.inputs)}.isdisjoint({r.tobytes() for r in np.asarray(te.inputs)})
    assert tr.meta.sources[0]["sha256"] and tr.meta.build["seed"] == 3


def test_plain_python_count_agrees_with_the_compiled_solver():
    """The cold-start uniqueness check (hrm_sdk.tasks.sudoku.count) against numba's exact solver: unique,
    several-solution and contradictory puzzles."""
    from hrm_sdk.tasks.sudoku import exact
    from hrm_sdk.tasks.sudoku.count import count_solutions

    puzzles, _, _ = exact.generate_many(seed=3, n=12, difficulty="hard")
    rng = np.random.default_rng(0)
    cases = []
    for p in puzzles:
        fewer = p.copy()
        fewer[rng.choice(np.flatnonzero(fewer), 4, replace=False)] = 0  # usually several solutions
        wrong = p.copy()
        blank = rng.choice(np.flatnonzero(wrong == 0))
        wrong[blank] = rng.integers(1, 10)  # often no solution
        cases += [p, fewer, wrong]
    cases.append(np.zeros(81, np.uint8))
    _, found, _ = exact.solve_batch(np.stack(cases), limit=2)
    assert [count_solutions(c, limit=2) for c in cases] == found.tolist()
    assert {0, 1, 2} <= set(found.tolist())
