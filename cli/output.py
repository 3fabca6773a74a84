"""Output and error conventions shared by every command.

Results go to stdout (human text, one JSON document, or JSON Lines); progress, messages, warnings and errors
go to stderr, so ``--format json`` output can always be parsed. Known errors (``HRMError``) print one line,
``Error: ...``, and exit 2; set ``HRM_DEBUG=1`` to see the traceback instead.

Exit codes: 0 success (all solved), 1 some puzzles not solved, 2 bad input or usage, 3 internal error,
130 interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from enum import Enum

import typer
from rich.console import Console

from hrm_sdk.errors import HRMError

EXIT_UNSOLVED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130


class OutputFormat(str, Enum):
    human = "human"
    json = "json"
    jsonl = "jsonl"


stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def debug() -> bool:
    return os.environ.get("HRM_DEBUG", "") not in ("", "0")


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
    for name in ("hrm_sdk", "exporters", "solvers", "cli"):
        logging.getLogger(name).setLevel(level)
