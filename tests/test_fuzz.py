"""Property-based fuzzing (hypothesis) of every parser and the config loader: whatever the input, the only
exception that escapes is the project's ``HRMError``, and its message is one line of bounded length. The
parsers' batch mode (``errors="collect"``) is fuzzed on the same inputs: it returns the entries in input order,
at least one of them read, each bad one an ``ItemError`` with a one-line message, or refuses with one line.

The example budget comes from the settings profile (``tests/conftest.py``): ``ci`` (the default) runs 200
examples per test with a fixed seed; ``HYPOTHESIS_PROFILE=release`` runs 10,000 random ones per test for
release checks (DEVELOPERS.md, "Fuzzing")::

    HYPOTHESIS_PROFILE=release python -m pytest tests/test_fuzz.py -q -p no:cacheprovider --hypothesis-show-statistics
"""

from __future__ import annotations

import json

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

from hrm_sdk.errors import MAX_MESSAGE, HRMError  # noqa: E402
from hrm_sdk.tasks import arc, maze, sudoku  # noqa: E402
from hrm_sdk.training.config import load_config  # noqa: E402

GRID = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
BOXED = "\n".join(" ".join(GRID[r * 9:(r + 1) * 9]) for r in range(9))
MAZE_TEXT = "#####\n#S  #\n# # #\n#  G#\n#####\n"
MAZE_CSV = "index,question,answer,shortest_path_steps,num_paths\n0,S  ## G  ,Soo##oGoo,6,1\n1,S  ## G  ,Soo##oGoo,6,1\n"
ARC_TASK = json.dumps({"train": [{"input": [[1, 2], [3, 4]], "output": [[5]]}], "test": [{"input": [[7, 0]]}]})
CONFIG = """[run]
name = "fuzz"
seed = 1
[data]
path = "data/x"
[model]
hidden_size = 64
num_heads = 4
expansion = 4.0
[train]
global_batch_size = 8
steps = 20
log_interval = 5
checkpoint_interval = 10
"""

# Characters that matter to the parsers: line breaks of every kind, separators, BOM, NUL, quotes, digits.
SPECIAL = st.sampled_from(list("\n\r\x0c\x0b\x1c\x1d\x1e\x85\u2028\u2029\ufeff\x00\t ,\"'[]{}:=#.|-+0123456789SGo"))
CHARS = st.one_of(SPECIAL, st.characters())


@st.composite
def mutated(draw, seed: str):
    """``seed`` with a few random insertions, deletions and replacements (mostly near-valid input)."""
    text = seed
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        piece = draw(st.text(CHARS, min_size=1, max_size=8))
        if op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)):]
        elif op == "replace":
            text = text[:i] + piece + text[i + len(piece):]
        else:
            text = text[:i] + piece * draw(st.integers(2, 3000)) + text[i:]
    return text


def any_text(*seeds: str):
    return st.one_of(st.text(CHARS, max_size=300), *[mutated(s) for s in seeds])


def assert_one_line(message: str) -> None:
    assert message and len(message.splitlines()) == 1 and message == message.strip(), repr(message)
    assert len(message) <= MAX_MESSAGE, len(message)


def assert_clean(fn, *args, **kwargs):
    """``fn`` succeeds or raises HRMError with one bounded line; anything else fails the test."""
    try:
        fn(*args, **kwargs)
    except HRMError as exc:
        assert_one_line(str(exc))


def assert_collected(fn, *args, **kwargs):
    """``fn(..., errors="collect")`` raises HRMError with one bounded line, or returns its entries in input order
    with at least one read, and an ItemError's message is one bounded line too."""
    from hrm_sdk.tasks.text import ItemError

    try:
        items = fn(*args, errors="collect", **kwargs)
    except HRMError as exc:
        assert_one_line(str(exc))
        return
    assert items and not all(isinstance(x, ItemError) for x in items)
    lines = []
    for x in items:
        if isinstance(x, ItemError):
            assert_one_line(x.message)
            lines.append(x.line)
        else:
            lines.append(getattr(x, "line", None) or getattr(x, "source_line", None))
    known = [n for n in lines if n is not None]
    assert known == sorted(known), lines


@given(any_text(GRID, BOXED, GRID + " " + GRID + "\n" + GRID, GRID + "\n" + GRID[:80] + "\n" + BOXED))
def test_fuzz_sudoku_parser(text):
    assert_clean(sudoku.parse_text, text, "s.txt")
    assert_collected(sudoku.parse_text, text, "s.txt")
    assert_clean(sudoku.as_cells, text)


@given(any_text(MAZE_TEXT, MAZE_CSV, MAZE_TEXT + "\n" + MAZE_TEXT.replace("G", "x")))
def test_fuzz_maze_parser(text):
    assert_clean(maze.parse_text, text, "m.txt")
    assert_collected(maze.parse_text, text, "m.txt")


JSON_LEAF = st.one_of(st.integers(-20, 20), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                      st.text(max_size=20))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                        st.dictionaries(st.sampled_from(["train", "test", "input",
                                                                                         "output", "x"]), inner,
                                                                        max_size=4)), max_leaves=40)


@given(st.one_of(any_text(ARC_TASK), JSON.map(json.dumps),
                 st.builds(lambda d: json.dumps({"train": d, "test": d}), JSON)))
def test_fuzz_arc_parser(text):
    assert_clean(arc.parse_task, text, "t.json")
    assert_clean(arc.parse_tasks, text, "t.json")
    assert_collected(arc.parse_tasks, text, "t.json")
    assert_collected(arc.parse_tasks, '{"a": %s, "b": %s}' % (ARC_TASK, text), "many.json")  # a task among many


OVERRIDE = st.builds(lambda s, k, v: f"{s}.{k}={v}", st.sampled_from(["run", "data", "model", "train", "x"]),
                     st.sampled_from(["seed", "path", "num_heads", "hidden_size", "expansion", "steps",
                                      "log_interval", "global_batch_size", "lr", "zz"]),
                     st.one_of(st.integers().map(str), st.floats().map(str), st.text(CHARS, max_size=12)))


@given(any_text(CONFIG), st.lists(OVERRIDE, max_size=3))
def test_fuzz_config_loader(text, overrides):
    assert_clean(load_config, text=text, overrides=overrides)


@given(st.one_of(st.binary(max_size=400), any_text(GRID, MAZE_TEXT, ARC_TASK).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_fuzz_file_loaders(data):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.txt"
        path.write_bytes(data)
        assert_clean(sudoku.parse_file, path)
        assert_clean(maze.parse_file, path)
        assert_clean(arc.load_task, path)
        assert_clean(load_config, path)


# --- the CLI: bad option values anywhere in the command tree ------------------------------------------------

def _cli_bad_inputs():
    """(argv prefix, [(option, bad value), ...]) for every leaf command: values its own option types refuse (a
    number under an IntRange's minimum, text for a number, a choice that is not one), so the call must end in
    Click's usage error before the command does any work."""
    import typer

    from hrm_sdk.cli.main import app

    def leaves(group, path):
        for name, cmd in group.commands.items():
            if getattr(cmd, "commands", None):
                yield from leaves(cmd, [*path, name])
            else:
                yield [*path, name], cmd

    out = []
    for path, cmd in leaves(typer.main.get_command(app), []):
        bad = []
        for p in cmd.params:  # typer carries its own copy of click: recognise the types by their class names
            kinds = {k.__name__ for k in type(p.type).__mro__}
            if p.param_type_name != "option" or getattr(p, "is_flag", False) or not p.opts:
                continue
            if hasattr(p.type, "choices"):
                bad.append((p.opts[0], "no-such-choice"))
            if "IntRange" in kinds and p.type.min is not None:
                bad += [(p.opts[0], str(p.type.min - 1)), (p.opts[0], str(p.type.min - 10 ** 9))]
            if kinds & {"IntParamType", "FloatParamType"}:
                bad += [(p.opts[0], "x1"), (p.opts[0], "1e999e")]
        out.append((path, bad))
    return out


CLI_BAD = _cli_bad_inputs()


@given(st.data())
def test_fuzz_cli_bad_options(data):
    """Any command with a bad option value (plus junk tokens): exit 2, nothing on stdout, one line on stderr in
    the project's format, never a traceback (exit 3)."""
    from typer.testing import CliRunner

    from hrm_sdk.cli.main import app

    path, bad = data.draw(st.sampled_from([c for c in CLI_BAD if c[1]]))
    chosen = data.draw(st.lists(st.sampled_from(bad), min_size=1, max_size=3))
    junk = data.draw(st.lists(st.sampled_from(["--no-such-option", "-Z", "extra", "-f"]),
                              max_size=2))
    argv = [*path, *[x for opt, val in chosen for x in (opt, val)], *junk]  # no later valid value overrides
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2, (argv, r.exit_code, r.output)
    assert r.stdout == "" and r.stderr.count("\n") == 1 and r.stderr.startswith("Error: hrm"), (argv, r.stderr)
    assert len(r.stderr) <= MAX_MESSAGE + 100
