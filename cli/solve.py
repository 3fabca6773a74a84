"""`hrm solve sudoku|maze|arc FILE`: solve puzzles from a file (or - for stdin) with a model.

Results go to stdout: boxed grids (human), one JSON document (json) or one object per puzzle (jsonl).
Exit codes: 0 every puzzle solved, 1 some not solved, 2 bad input or usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import output
from .output import OutputFormat

app = typer.Typer(help="Solve puzzles with a model (the bundled default, a directory, an .onnx or an .engine).",
                  no_args_is_help=True)

FileArg = Annotated[str, typer.Argument(help="Puzzle file, or - to read standard input.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model: bundled name, directory, .onnx or .engine.")]
BackendOpt = Annotated[str, typer.Option(help="auto | tensorrt | onnxruntime | pytorch.")]
DeviceOpt = Annotated[str, typer.Option(help="cpu or cuda (default: the backend's choice).")]
MaxStepsOpt = Annotated[int, typer.Option(help="Most ACT segments per puzzle (0 = the model's).")]
BatchOpt = Annotated[int, typer.Option(help="Puzzles in flight at once.")]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="human | json | jsonl.")]
ViewsOpt = Annotated[int, typer.Option(help="Test-time views: solve each puzzle under K symmetries and vote "
                                            "(1 = off; maze at most 8).")]

SUDOKU_EXAMPLES = """Examples:
  hrm solve sudoku puzzle.txt
  echo 53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79 | hrm solve sudoku -
  hrm solve sudoku many.txt --format jsonl --backend onnxruntime"""


def read_input(file: str) -> tuple[str, str]:
    """(text, source name) of a file or stdin; errors name the file."""
    from hrm_sdk.errors import PuzzleParseError

    if file == "-":
        data, source = sys.stdin.buffer.read(), "<stdin>"
    else:
        try:
            data, source = Path(file).read_bytes(), file
        except OSError as exc:
            raise PuzzleParseError(f"cannot read file ({exc.strerror})", file) from exc
    if not data.strip():
        raise PuzzleParseError("empty input; expected at least one puzzle", source)
    if b"\x00" in data:
        raise PuzzleParseError("binary data, not a text puzzle file", source)
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError as exc:
        raise PuzzleParseError(f"not UTF-8 text (byte {exc.start})", source) from exc


def progress_bar(solver, n: int, what: str):
    """A Rich progress bar on stderr while `solver` works, for many puzzles in a terminal; else a no-op."""
    import contextlib

    if n < 2 or not output.stderr.is_terminal:
        return contextlib.nullcontext()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=output.stderr, transient=True)
    task = bar.add_task(what, total=n)
    solver.on_result = lambda: bar.advance(task)
    return bar


def finish(records: list[dict], fmt: OutputFormat, solved: list[bool], key: str) -> None:
    if fmt == OutputFormat.json:
        output.emit_json({key: records, "solved": sum(solved), "total": len(solved)})
    elif fmt == OutputFormat.jsonl:
        for r in records:
            output.emit_json(r)
    if not all(solved):
        raise typer.Exit(output.EXIT_UNSOLVED)


def sudoku_grid_text(puzzle, grid) -> str:
    """A boxed grid; givens in bold when stdout is a terminal."""
    rule = "+-------+-------+-------+"
    lines = [rule]
    for r in range(9):
        cells = []
        for c in range(9):
            v = int(grid[r][c]) if grid is not None else int(puzzle[r][c])
            ch = str(v) if v else "."
            cells.append(f"[bold cyan]{ch}[/bold cyan]" if puzzle[r][c] and output.stdout.is_terminal else ch)
        lines.append("| " + " | ".join(" ".join(cells[i:i + 3]) for i in (0, 3, 6)) + " |")
        if r in (2, 5):
            lines.append(rule)
    lines.append(rule)
    return "\n".join(lines)


def _views_note(result) -> str:
    """' (K views: N votes of K, S segments in all)' for a result solved with views, else ''."""
    v = result.extra.get("views")
    if not v:
        return ""
    taken = "" if v.get("rank", 0) == 0 else f", took candidate {v['rank'] + 1}"
    return f" ({v['k']} views: {v['votes']} votes of {v['k']}{taken}, {v['segments']} segments in all)"


@app.command(epilog=SUDOKU_EXAMPLES)
@output.handle_errors
def sudoku(
    file: FileArg,
    model: ModelOpt = "",
    backend: BackendOpt = "auto",
    device: DeviceOpt = "",
    max_steps: MaxStepsOpt = 0,
    batch_size: BatchOpt = 64,
    extra_steps: Annotated[int, typer.Option(help="Repair: rerun failed answers for max + N segments (0 = off).")] = 0,
    search_nodes: Annotated[int, typer.Option(help="Repair: network-guided search nodes (0 = off).")] = 2000,
    views: ViewsOpt = 1,
    fmt: FormatOpt = OutputFormat.human,
    server: Annotated[str, typer.Option(help="Solve on an `hrm serve` server at this URL (its model and "
                                             "backend) instead of in this process.")] = "",
) -> None:
    """Solve Sudoku puzzles: 81-character lines or 9x9 grids, many per file, '#' comments."""
    output.setup_logging(quiet=True)
    from hrm_sdk.tasks import sudoku as codec
    from solvers.sudoku import Budget, SudokuSolver

    text, source = read_input(file)
    puzzles = codec.parse_text(text, source)
    for p in puzzles:
        codec.check_givens(p.cells, f"{p.source}:{p.line}")
    if server:
        from serving.client import RemoteSudokuSolver

        if model or backend != "auto" or device:
            raise typer.BadParameter("--model, --backend and --device are the server's own with --server")
        remote = RemoteSudokuSolver(server, views=views if views != 1 else 0, max_steps=max_steps or None)
        results = remote.solve_many(text, Budget(extra_steps, search_nodes), source=source)
    else:
        solver = SudokuSolver(model or None, backend=backend, device=device or None, batch_size=batch_size,
                              max_steps=max_steps or None, budget=Budget(extra_steps, search_nodes), views=views)
        with progress_bar(solver, len(puzzles), "solving"):
            results = solver.solve_many(puzzles)
    if fmt == OutputFormat.human:
        for k, r in enumerate(results):
            how = f"solved by {r.route}" if r.solved else "NOT solved (no answer passed the check)"
            output.stdout.print(f"{r.source}:{r.line}  {how}; {r.steps} segments{_views_note(r)}, {r.seconds:.2f} s")
            output.stdout.print(sudoku_grid_text(r.puzzle, r.grid if r.solved else None), highlight=False)
    finish([r.to_dict() for r in results], fmt, [r.solved for r in results], "puzzles")


@app.command()
@output.handle_errors
def maze(
    file: FileArg,
    model: ModelOpt = "",
    backend: BackendOpt = "auto",
    device: DeviceOpt = "",
    max_steps: MaxStepsOpt = 0,
    batch_size: BatchOpt = 64,
    views: ViewsOpt = 1,
    fmt: FormatOpt = OutputFormat.human,
) -> None:
    """Solve mazes: 30x30 grids of '# SG' (wall, open, start, goal); a blank line between mazes."""
    output.setup_logging(quiet=True)
    from hrm_sdk.tasks import maze as codec
    from solvers.maze import MazeSolver

    text, source = read_input(file)
    mazes = codec.parse_text(text, source)  # malformed input fails here, before a model is loaded
    solver = MazeSolver(model or None, backend=backend, device=device or None, batch_size=batch_size,
                        max_steps=max_steps or None, views=views)
    with progress_bar(solver, len(mazes), "solving"):
        results = solver.solve_many(mazes, source)
    if fmt == OutputFormat.human:
        for r in results:
            how = (f"solved: shortest path of {r.length} moves" if r.solved else f"NOT solved: {r.reason}")
            output.stdout.print(f"{r.source}:{r.line}  {how}; {r.steps} segments{_views_note(r)}, {r.seconds:.2f} s",
                                markup=False)
            output.stdout.print("\n".join(r.grid), markup=False, highlight=False)
    finish([r.to_dict() for r in results], fmt, [r.solved for r in results], "mazes")


@app.command()
@output.handle_errors
def arc(
    file: Annotated[str, typer.Argument(help="ARC task JSON ({'train': [...], 'test': [...]}).")],
    model: ModelOpt = "",
    device: DeviceOpt = "",
    versions: Annotated[int, typer.Option(help="Augmented versions to fit and vote over.")] = 8,
    fit_steps: Annotated[int, typer.Option(help="Embedding-fitting steps on the demonstrations.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for augmentations and fitting.")] = 0,
    fmt: FormatOpt = OutputFormat.human,
) -> None:
    """Solve an ARC task: two attempts per test input (json: the ARC Prize submission shape). When the task file
    holds the test outputs, each is checked against the attempts (exit 1 when one is missed)."""
    output.setup_logging(quiet=True)
    from hrm_sdk.tasks import arc as codec
    from solvers.arc import ARCSolver

    text, source = read_input(file)
    task = codec.parse_task(text, source, task_id=Path(file).stem if file != "-" else "task")
    solver = ARCSolver(model or None, device=device or None, versions=versions, fit_steps=fit_steps, seed=seed)
    r = solver.solve(task)
    if fmt == OutputFormat.human:
        for i, atts in enumerate(r.attempts):
            output.stdout.print(f"test input {i + 1}: {len(atts)} attempt(s)", markup=False)
            for k, g in enumerate(atts):
                output.stdout.print(f"  attempt {k + 1}:", markup=False)
                for row in g:
                    output.stdout.print("    " + "".join(str(v) for v in row), markup=False)
            if r.matched is not None:  # the task file holds the expected outputs: say whether an attempt matched
                right = r.matched[i]
                output.stdout.print(f"  expected output (in the task file): "
                                    f"{f'attempt {right}' if right else 'not among the attempts'}", markup=False)
    elif fmt == OutputFormat.json:
        output.emit_json(r.submission())
    else:
        output.emit_json(r.to_dict())
    if r.correct is not None and not all(r.correct):
        raise typer.Exit(output.EXIT_UNSOLVED)
