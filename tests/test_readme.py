"""The README's examples run as written: its first Python block is executed, every ``hrm`` command it shows
(in code blocks and inline) names a real command with options that exist, and the Quick start prints what the
README shows."""

from __future__ import annotations

import contextlib
import io
import re

import typer
from typer.testing import CliRunner

from conftest import REPO
from hrm_sdk.cli.main import app

README = (REPO / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def hrm_commands() -> list[list[str]]:
    """Every `hrm ...` invocation in the README, as words (comments, pipes and `&&` chains split off)."""
    texts = [ln.split(" #")[0] for b in blocks("bash") + blocks("text") for ln in b.splitlines()]
    texts += [" ".join(span.split()) for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", README)]
    found = []
    for text in texts:
        text = text.replace("$(which hrm)", "hrm")
        for part in re.split(r"\|\||&&|\||;", text):
            words = part.split()
            if "hrm" in words:
                found.append(words[words.index("hrm") + 1:])
    return found


def resolve(words: list[str]):
    """(command path, click command, the remaining words) of a command line's words."""
    cmd, path = typer.main.get_command(app), ["hrm"]
    while words and getattr(cmd, "commands", None) and words[0] in cmd.commands:
        cmd, path, words = cmd.commands[words[0]], path + [words[0]], words[1:]
    return " ".join(path), cmd, words


def test_readme_commands_exist_with_their_options():
    commands = hrm_commands()
    assert len(commands) > 30  # the parser finds the README's commands (if it found none, it would check nothing)
    bad = []
    for words in commands:
        path, cmd, rest = resolve(words)
        if getattr(cmd, "commands", None):  # a group named alone, e.g. "`hrm data`" in a sentence
            continue
        opts = {o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
        opts |= {"-h", "--help"}
        for w in rest:
            if w.startswith("-") and w != "-" and not re.match(r"^-\d", w):
                name = w.split("=")[0].rstrip(".,)`")
                if name not in opts:
                    bad.append(f"{path}: {name} (in: hrm {' '.join(words)})")
    assert not bad, "\n".join(bad)


def test_readme_python_example_runs(monkeypatch):
    """The first Python block as written, from the repository root (it reads examples/)."""
    code = blocks("python")[0]
    assert "open(" in code  # it reads the examples, which must exist
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] in ("True network", "True views", "True more_steps", "True search"), lines
    assert lines[1].endswith("of 3 solved") and lines[2].startswith("True ")


def test_readme_arc_example_names_real_things():
    """The ARC block takes minutes on a CPU, so it is not run here; what it names must exist."""
    code = blocks("python")[1]
    compile(code, "README.md", "exec")
    from hrm_sdk.solvers.registry import resolve as resolve_model

    for path in re.findall(r'"(examples/[^"]+)"', code):
        assert (REPO / path).is_file(), path
    for name in re.findall(r'ARCSolver\("([^"]+)"', code):
        assert resolve_model(name).is_dir()


def test_quick_start_prints_what_the_readme_shows(monkeypatch):
    monkeypatch.chdir(REPO)
    shown = re.search(r"```text\n\$ hrm solve sudoku examples/sudoku.txt\n(.*?)```", README, flags=re.S).group(1)
    first = shown.splitlines()[0]
    r = CliRunner().invoke(app, ["solve", "sudoku", "examples/sudoku.txt"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].rsplit(",", 1)[0] == first.rsplit(",", 1)[0]
    assert shown.splitlines()[1:3] == r.stdout.splitlines()[1:3]


def test_echo_examples_are_whole_lines():
    """`echo PUZZLE | hrm solve sudoku -` is one line, the puzzle unbroken, in the README and in the help."""
    help_text = CliRunner().invoke(app, ["solve", "sudoku", "-h"], terminal_width=80).stdout
    for text in (README, help_text):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("echo ")]
        assert lines and all(re.match(r"echo [0-9.]{81} \| hrm solve sudoku -$", ln.split(" #")[0].strip())
                             for ln in lines), lines
