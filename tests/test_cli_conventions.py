"""The CLI's conventions, checked over the whole command tree so new commands keep them; and the behaviours a
newcomer tripped over (issue 28): where exports go, the light install without torch, usage errors, pipes,
pictures. Everything here runs in seconds on a CPU (no export, no training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from conftest import REPO
from hrm_sdk.cli import output
from hrm_sdk.cli.main import app

runner = CliRunner()
ENV = dict(os.environ, PYTHONPATH=str(REPO))
SHORT = {"--format": "-f", "--model": "-m", "--limit": "-n", "--out": "-o", "--device": "-d", "--backend": "-b"}
PER_PUZZLE = {"hrm solve sudoku", "hrm solve maze", "hrm solve arc"}  # commands with a jsonl format


def commands(group=None, path="hrm"):
    """(command path, click command) for every leaf command of the tree."""
    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if getattr(cmd, "commands", None):
            yield from commands(cmd, f"{path} {name}")
        else:
            yield f"{path} {name}", cmd


ALL = sorted(commands(), key=lambda c: c[0])


def test_tree_is_complete():
    names = {p for p, _ in ALL}
    assert {"hrm solve sudoku", "hrm solve maze", "hrm solve arc", "hrm train", "hrm eval", "hrm verify",
            "hrm export onnx", "hrm export tensorrt", "hrm data build sudoku", "hrm models", "hrm info"} <= names


@pytest.mark.parametrize("path,cmd", ALL, ids=[p for p, _ in ALL])
def test_conventions(path, cmd):
    args = path.split()[1:]
    r = runner.invoke(app, [*args, "-h"])
    assert r.exit_code == 0 and f"Usage: hrm {' '.join(args)}" in r.stdout, r.output
    assert "…" not in r.stdout  # plain help wraps; nothing is cut
    opts = {o: p for p in cmd.params for o in getattr(p, "opts", [])}
    for long, short in SHORT.items():
        if long in opts:
            assert short in opts[long].opts + opts[long].secondary_opts, f"{path}: {long} without {short}"
    fmt = opts.get("--format")
    if path == "hrm serve":  # a server writes no result document: nothing to format
        assert fmt is None
        return
    assert fmt is not None, f"{path}: no --format"
    choices = set(fmt.type.choices)
    assert choices == ({"human", "json", "jsonl"} if path in PER_PUZZLE else {"human", "json"}), (path, choices)
    r = runner.invoke(app, [*args, "--format", "yaml"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("Error: "), r.output


@pytest.mark.parametrize("args", [["models"], ["info"]])
def test_format_choices_honoured(args):
    assert runner.invoke(app, [*args, "-f", "human"]).exit_code == 0
    json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)


def test_bundled_model_names_accepted():
    """Every bundled name works wherever a model is taken (all of them resolve through solvers.registry)."""
    from hrm_sdk.solvers.registry import bundled, resolve

    names = [m.name for m in bundled()]
    assert {"sudoku", "maze"} <= set(names)
    for name in names:
        assert resolve(name).name == name
    r = runner.invoke(app, ["solve", "sudoku", str(REPO / "examples/sudoku.txt"), "-m", "sudoku", "-f", "json"])
    assert r.exit_code in (0, 1) and json.loads(r.stdout)["total"] == 3
    r = runner.invoke(app, ["solve", "sudoku", str(REPO / "examples/sudoku.txt"), "-m", "no-such-model"])
    assert r.exit_code == 2 and "bundled models: " in r.stderr


def test_no_python_reprs_in_human_output():
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0 and "{" not in r.stdout and "': " not in r.stdout, r.stdout


def test_version_and_help_alias():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("hrm-sdk ")
    assert runner.invoke(app, ["-h"]).exit_code == 0
    r = runner.invoke(app, ["data", "build", "sudoku", "-h"])
    assert "--source" in r.stdout and "[required]" in r.stdout.split("--source")[1].split("--")[0]


@pytest.mark.parametrize("args,what", [
    (["verify", "sudoku", "-n", "0"], "'--limit' / '-n'"),
    (["verify", "sudoku", "-n", "-3"], "-3"),
    (["verify", "sudoku", "--batch-size", "0"], "'--batch-size'"),
    (["eval", "sudoku", "--data", "x", "--limit", "-1"], "'--limit'"),
    (["eval", "sudoku", "--data", "x", "--batch-size", "0"], "'--batch-size'"),
    (["eval", "sudoku", "--data", "x", "--device", "bogus"], "'bogus' is not a device"),
    (["eval", "chess", "--data", "x"], "'chess'"),
    (["export", "onnx", "sudoku", "--opset", "-1"], "'--opset'"),
    (["export", "onnx", "sudoku", "--weights", "bogus"], "'--weights'"),
    (["solve", "sudoku", "x.txt", "--backend", "fast"], "'--backend'"),
    (["data", "build", "sudoku", "-o", "x"], "Missing option '--source'"),
    (["bogus"], "No such command"),
])
def test_bad_options_one_line_exit_2(args, what):
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: hrm") and what in r.stderr, r.stderr


def test_export_opset_refused_before_exporting(monkeypatch):
    from hrm_sdk import exporters

    monkeypatch.setattr(exporters, "export", lambda *a, **k: pytest.fail("exported"))
    r = runner.invoke(app, ["export", "onnx", "sudoku", "--opset", "7"])
    assert r.exit_code == 2 and "--opset 7" in r.stderr, r.output


def test_export_never_writes_into_the_model_folder(tmp_path, monkeypatch):
    """Without -o the ONNX goes to the current directory; -o is honoured; the next step names --against."""
    from hrm_sdk import exporters
    from hrm_sdk.exporters.onnx_export import ExportResult
    from hrm_sdk.solvers.registry import MODELS_DIR

    calls = []

    def fake_export(model, fmt, out=None, **kw):
        calls.append(Path(out))
        return ExportResult(path=str(out), sidecar=str(out) + ".json", precision="fp32", size_mb=1.0, seconds=1.0,
                            check=None)

    monkeypatch.setattr(exporters, "export", fake_export)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["export", "onnx", "sudoku", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert calls[-1] == tmp_path / "sudoku.onnx" and MODELS_DIR.resolve() not in calls[-1].resolve().parents
    assert json.loads(r.stdout)["next"] == f"hrm verify {tmp_path / 'sudoku.onnx'} --against {MODELS_DIR / 'sudoku'}"
    r = runner.invoke(app, ["export", "onnx", "sudoku", "--weights", "fp16", "-o", "sub/x.onnx"])
    assert r.exit_code == 0 and calls[-1] == Path("sub/x.onnx"), r.output
    assert "Next: hrm verify sub/x.onnx --against" in r.stderr


def test_verify_without_model_metadata_mentions_against(tmp_path):
    onnx = tmp_path / "x.onnx"
    onnx.write_bytes(b"not read")
    r = runner.invoke(app, ["verify", str(onnx)])
    assert r.exit_code == 2 and "model metadata (model.json)" in r.stderr and "--against" in r.stderr, r.output
    assert "card" not in r.stderr
    r = runner.invoke(app, ["verify", "sudoku", "--against", "maze", "-n", "1"])
    assert r.exit_code == 2 and "a maze model" in r.stderr, r.output


NO_TORCH = "import sys; sys.modules['torch'] = None; from cli.main import main; sys.argv[0] = 'hrm'; main()"


@pytest.mark.parametrize("args,extra", [
    (["train", "configs/tiny.toml"], "train"),
    (["verify", "sudoku", "-n", "1"], "torch"),
    (["solve", "arc", "examples/arc-task.json"], "torch"),
    (["solve", "sudoku", "examples/sudoku.txt", "--backend", "pytorch"], "torch"),
])
def test_light_install_names_the_extra(args, extra):
    """Without torch (simulated: sys.modules['torch'] = None), commands that need it say which extra to install."""
    r = subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and f"pip install 'hrm-sdk[{extra}]'" in r.stderr, r.stderr


def test_broken_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "hrm_sdk.cli.main", "solve", "sudoku", "examples/sudoku.txt", "-f", "jsonl"],
                         cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader goes away at once, as `| head -0` would
    err = p.stderr.read().decode()
    assert p.wait() in (0, 141) and err == "", err


def test_wording():
    assert output.plural(1, "segment") == "1 segment" and output.plural(3, "segment") == "3 segments"
    assert output.seconds(0.724) == "0.72 s" and output.seconds(73.2) == "73.2 s" and output.seconds(900) == "15.0 min"
    assert output.summary({"network": 15, "search": 2}) == "network 15, search 2"
    from hrm_sdk.cli.solve import _views_note

    note = _views_note(SimpleNamespace(extra={"views": {"k": 2, "votes": 1, "rank": 1, "segments": 1}}))
    assert note == " (2 views: 1 of 2 agreed, answered with the runner-up no. 2; 1 segment in all)"


def test_unsolved_exit_1_says_so(tmp_path):
    r = runner.invoke(app, ["solve", "sudoku", str(REPO / "examples/sudoku.txt"), "--max-steps", "1",
                            "--search-nodes", "0"])
    assert r.exit_code == 1 and "not solved" in r.stderr and r.stderr.count("\n") == 1, r.output


# ----------------------------------------------------------------------------- pictures

def is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_sudoku_and_maze_from_the_cli(tmp_path):
    for task, example in (("sudoku", "sudoku.txt"), ("maze", "maze.txt")):
        png = tmp_path / f"{task}.png"
        r = runner.invoke(app, ["solve", task, str(REPO / "examples" / example), "--png", str(png), "-f", "json"])
        assert r.exit_code in (0, 1) and is_png(png), r.output
        json.loads(r.stdout)  # the picture's message goes to stderr, not into the JSON


def test_png_arc(tmp_path):
    from hrm_sdk.tasks.arc.data import ArcTask
    from hrm_sdk.solvers import draw

    grid = np.arange(9).reshape(3, 3) % 10
    task = ArcTask(id="t", train=[(grid, grid.T)], test=[(grid, grid[::-1]), (grid[:2], None)])
    result = SimpleNamespace(attempts=[[grid[::-1], grid], [grid[:2]]])
    assert is_png(draw.arc(task, result, tmp_path / "a.png"))
    assert len(draw.ARC_COLOURS) == 10


def test_command_list_is_not_cut_at_80_columns():
    r = runner.invoke(app, ["-h"], env={"COLUMNS": "80"}, terminal_width=80)
    listed = [line for line in r.stdout.splitlines() if line.startswith("  ") and not line.lstrip().startswith("-")]
    assert len(listed) >= 10 and not any(line.rstrip().endswith("...") for line in listed), r.stdout
