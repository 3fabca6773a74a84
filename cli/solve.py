"""`hrm solve sudoku|maze|arc FILE`: solve puzzles from a file (or - for stdin) with a model.

Results go to stdout: boxed grids (human), one JSON document (json) or one object per puzzle (jsonl).
Exit codes: 0 every puzzle solved, 1 some not solved or refused (a refused puzzle, such as a malformed line,
grid, maze or ARC task, a contradictory Sudoku or a maze without a path, has its own result with "error" set,
in input order; the others are solved), 2 bad input or usage (a file that cannot be read, is empty, binary,
not UTF-8 or over the size limit, or of which not one puzzle can be read).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import output
from .options import (Backend, BackendOpt, BatchOpt, DeviceOpt, FormatOpt, ModelOpt, PngOpt, Precision, PrecisionOpt,
                      Tune, TuneOpt, new_app, precision_arg)
from .output import OutputFormat

app = new_app("Solve puzzles with a model (the bundled default, a directory, an .onnx or an .engine).")

FileArg = Annotated[str, typer.Argument(help="Puzzle file, or - to read standard input.")]
MaxStepsOpt = Annotated[int, typer.Option(min=0, help="Most ACT segments per puzzle (0 = the model's).")]
ViewsOpt = Annotated[int, typer.Option(min=1, help="Test-time views: solve each puzzle under K symmetries and vote "
                                                   "(1 = off; maze at most 8).")]

# \b keeps Click from re-wrapping the examples, so each command stays on one line to copy.
SUDOKU_EXAMPLES = """Examples:

\b
  hrm solve sudoku examples/sudoku.txt
  hrm solve sudoku examples/sudoku.txt --png sudoku.png
  echo 53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79 | hrm solve sudoku -
  hrm solve sudoku many.txt --format jsonl --backend onnxruntime"""
MAZE_EXAMPLES = """Examples:

\b
  hrm solve maze examples/maze.txt --png maze.png"""
ARC_EXAMPLES = """Examples:

\b
  hrm solve arc examples/arc-new-task.json --fit-steps 10 --png task.png
  hrm solve arc a.json b.json challenges.json --format jsonl --device cuda
  hrm solve arc task.json --format json --device cuda"""


def read_input(file: str) -> tuple[str, str]:
    """(text, source name) of a file or stdin; errors name the file. More than ``HRM_MAX_FILE_BYTES`` is
    refused before it is read (``hrm_sdk.limits``)."""
    from hrm_sdk.errors import PuzzleParseError
    from hrm_sdk.limits import current

    limit = current().max_file_bytes
    if file == "-":
        data, source = sys.stdin.buffer.read(limit + 1), "<stdin>"
    else:
        try:
            source, size = file, Path(file).stat().st_size
            if size > limit:
                raise PuzzleParseError(f"{size:,} bytes, over the limit of {limit:,} (set HRM_MAX_FILE_BYTES to "
                                       "raise it)", file)
            data = Path(file).read_bytes()
        except OSError as exc:
            raise PuzzleParseError(f"cannot read file ({exc.strerror})", file) from exc
    if len(data) > limit:  # standard input, or a file that grew while it was read
        raise PuzzleParseError(f"over the limit of {limit:,} bytes (set HRM_MAX_FILE_BYTES to raise it)", source)
    if not data.strip():
        raise PuzzleParseError("empty input; expected at least one puzzle", source)
    if b"\x00" in data:
        raise PuzzleParseError("binary data, not a text puzzle file", source)
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError as exc:
        raise PuzzleParseError(f"not UTF-8 text (byte {exc.start})", source) from exc


@contextlib.contextmanager
def progress_bar(solver, n: int, what: str):
    """The shared progress display, advanced by `solver` as each puzzle is done."""
    with output.progress(what, n) as p:
        solver.on_result = p.advance
        yield p


def finish(records: list[dict], fmt: OutputFormat, solved: list[bool], key: str, seconds: float) -> None:
    if fmt == OutputFormat.json:
        output.emit_json({key: records, "solved": sum(solved), "total": len(solved)})
    elif fmt == OutputFormat.jsonl:
        for r in records:
            output.emit_json(r)
    if not all(solved):
        refused = sum(1 for r in records if r.get("error"))
        why = f"{refused:,} of them refused with an error; " if refused else ""
        output.message(f"{len(solved) - sum(solved):,} of {output.plural(len(solved), key[:-1])} not solved "
                       f"({why}{output.seconds(seconds)}; exit 1)")
        raise typer.Exit(output.EXIT_UNSOLVED)


def draw(png: str, fn, *args) -> None:
    """Write the picture (solvers/draw.py) and say where it went."""
    if png:
        output.message(f"wrote {fn(*args, png)}")


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
    """' (K views: N of K agreed; S segments in all)' for a result solved with views, else ''."""
    v = result.extra.get("views")
    if not v:
        return ""
    taken = "" if v.get("rank", 0) == 0 else f", answered with the runner-up no. {v['rank'] + 1}"
    return (f" ({v['k']} views: {v['votes']} of {v['k']} agreed{taken}; "
            f"{output.plural(v['segments'], 'segment')} in all)")


@app.command(epilog=SUDOKU_EXAMPLES)
@output.handle_errors
def sudoku(
    file: FileArg,
    model: ModelOpt = "",
    backend: BackendOpt = Backend.auto,
    device: DeviceOpt = "",
    max_steps: MaxStepsOpt = 0,
    batch_size: BatchOpt = 64,
    extra_steps: Annotated[int, typer.Option(min=0, help="Repair: rerun failed answers for max + N segments "
                                                         "(0 = off).")] = 0,
    search_nodes: Annotated[int, typer.Option(min=0, help="Repair: network-guided search nodes (0 = off).")] = 2000,
    views: ViewsOpt = 1,
    precision: PrecisionOpt = Precision.auto,
    fmt: FormatOpt = OutputFormat.human,
    png: PngOpt = "",
    server: Annotated[str, typer.Option(help="Solve on an `hrm serve` server at this URL (its model and "
                                             "backend) instead of in this process.")] = "",
) -> None:
    """Solve Sudoku puzzles: 81-character lines or 9x9 grids, many per file, '#' comments."""
    output.setup_logging(quiet=True)
    from hrm_sdk.tasks import sudoku as codec
    from hrm_sdk.solvers.sudoku import Budget, SudokuResult, SudokuSolver

    text, source = read_input(file)
    # A malformed line or grid, like a contradictory puzzle, gets its own error result; a file of which no
    # puzzle can be read is refused here, before a model is loaded.
    puzzles = codec.parse_text(text, source, errors="collect")
    if server:
        from hrm_sdk.serving.client import RemoteSudokuSolver

        if model or backend != Backend.auto or device or precision != Precision.auto:
            raise typer.BadParameter("--model, --backend, --device and --precision are the server's own with --server")
        remote = RemoteSudokuSolver(server, views=views if views != 1 else 0, max_steps=max_steps or None)
        with output.progress("solving on the server", len(puzzles)) as p:
            readable = [x for x in puzzles if isinstance(x, codec.SudokuPuzzle)]
            answers = iter(remote.solve_many(readable, Budget(extra_steps, search_nodes)))
        results = [next(answers) if isinstance(x, codec.SudokuPuzzle) else SudokuResult.unreadable(x)
                   for x in puzzles]
        for r, x in zip(results, puzzles):
            r.source, r.line = x.source, x.line  # the server names list items "puzzle k"
    else:
        solver = SudokuSolver(model or None, backend=backend.value, device=device or None, batch_size=batch_size,
                              max_steps=max_steps or None, budget=Budget(extra_steps, search_nodes), views=views,
                              precision=precision_arg(precision))
        with progress_bar(solver, len(puzzles), "solving") as p:
            results = solver.solve_many(puzzles)
    if fmt == OutputFormat.human:
        for r in results:
            if r.error:  # an unreadable puzzle's error names its file, line and column itself
                output.stdout.print(r.error if r.puzzle is None else f"{r.source}:{r.line}  error: {r.error}",
                                    markup=False)
                continue
            how = f"solved by {r.route}" if r.solved else "NOT solved (no answer passed the check)"
            how += " (ambiguous: the puzzle has several solutions)" if r.ambiguous else ""
            output.stdout.print(f"{r.source}:{r.line}  {how}; {output.plural(r.steps, 'segment')}{_views_note(r)}, "
                                f"{output.seconds(r.seconds)}", markup=False)
            output.stdout.print(sudoku_grid_text(r.puzzle, r.grid if r.solved else None), highlight=False)
    if png:
        from hrm_sdk.solvers import draw as pictures

        draw(png, pictures.sudoku, results)
    finish([r.to_dict() for r in results], fmt, [r.solved for r in results], "puzzles", p.elapsed)


@app.command(epilog=MAZE_EXAMPLES)
@output.handle_errors
def maze(
    file: FileArg,
    model: ModelOpt = "",
    backend: BackendOpt = Backend.auto,
    device: DeviceOpt = "",
    max_steps: MaxStepsOpt = 0,
    batch_size: BatchOpt = 64,
    views: ViewsOpt = 1,
    precision: PrecisionOpt = Precision.auto,
    fmt: FormatOpt = OutputFormat.human,
    png: PngOpt = "",
) -> None:
    """Solve mazes: 30x30 grids of '# SG' (wall, open, start, goal); a blank line between mazes."""
    output.setup_logging(quiet=True)
    from hrm_sdk.tasks import maze as codec
    from hrm_sdk.solvers.maze import MazeSolver

    text, source = read_input(file)
    # A malformed maze gets its own error result; a file of which no maze can be read is refused here, before a
    # model is loaded.
    mazes = codec.parse_text(text, source, errors="collect")
    solver = MazeSolver(model or None, backend=backend.value, device=device or None, batch_size=batch_size,
                        max_steps=max_steps or None, views=views, precision=precision_arg(precision))
    with progress_bar(solver, len(mazes), "solving") as p:
        results = solver.solve_many(mazes, source)
    if fmt == OutputFormat.human:
        for r in results:
            if r.error:  # an unreadable maze's error names its file, line and column itself
                output.stdout.print(r.error if r.maze is None else f"{r.source}:{r.line}  error: {r.error}",
                                    markup=False)
                continue
            how = (f"solved: shortest path of {output.plural(r.length, 'move')}" if r.solved
                   else f"NOT solved: {r.reason}")
            output.stdout.print(f"{r.source}:{r.line}  {how}; {output.plural(r.steps, 'segment')}{_views_note(r)}, "
                                f"{output.seconds(r.seconds)}", markup=False)
            output.stdout.print("\n".join(r.grid), markup=False, highlight=False)
    if png:
        from hrm_sdk.solvers import draw as pictures

        draw(png, pictures.maze, results)
    finish([r.to_dict() for r in results], fmt, [r.solved for r in results], "mazes", p.elapsed)


def read_tasks(files: list[str]) -> list:
    """The ARC tasks of the files (one task or many by id each), ItemErrors in place of the tasks that cannot be
    read, in order. A file that cannot be read at all (missing, empty, binary, not UTF-8) refuses the call; with
    several files, a file whose JSON is broken is one bad entry; a task id seen before (in another file) is a
    bad entry too; a call in which no task can be read is refused (``settle``)."""
    from hrm_sdk.errors import HRMError, PuzzleParseError
    from hrm_sdk.tasks import arc as codec
    from hrm_sdk.tasks.text import ItemError, settle

    if files.count("-") > 1:
        raise HRMError("- (standard input) can be read once only")
    texts = [read_input(f) for f in files]  # before any parsing: a wrong path fails at once
    items: list = []
    seen: dict[str, str] = {}  # task id -> the file it came from
    for f, (text, source) in zip(files, texts):
        task_id = Path(f).stem if f != "-" else "task"
        try:
            found = codec.parse_tasks(text, source, task_id, errors="collect")
        except PuzzleParseError as exc:
            if len(files) == 1:
                raise
            found = [ItemError.of(exc, task_id)]
        for t in found:
            if isinstance(t, codec.ArcTask) and t.id in seen:
                t = ItemError(source, None, None, f"task {t.id!r} appears again (first in {seen[t.id]})", t.id)
            elif isinstance(t, codec.ArcTask):
                seen[t.id] = source
            items.append(t)
    return settle(items, "task")


@app.command(epilog=ARC_EXAMPLES)
@output.handle_errors
def arc(
    files: Annotated[list[str], typer.Argument(help="ARC task JSON files ({'train': [...], 'test': [...]}, or many "
                                                    "tasks by id as in an ARC Prize challenges file); - reads "
                                                    "standard input.")],
    model: ModelOpt = "",
    device: DeviceOpt = "",
    versions: Annotated[int, typer.Option(min=1, help="Augmented versions to fit and vote over.")] = 8,
    fit_steps: Annotated[int, typer.Option(min=1, help="Fitting steps on the demonstrations (at most: the "
                                                       "fine-tuning stops early on a held-out pair).")] = 200,
    tune: TuneOpt = Tune.all,
    seed: Annotated[int, typer.Option(help="Seed for augmentations and fitting.")] = 0,
    fmt: FormatOpt = OutputFormat.human,
    png: PngOpt = "",
) -> None:
    """Solve ARC tasks: two attempts per test input (json: the ARC Prize submission shape; a task that cannot be
    read has {"error": ...} there and the others are answered). When a task holds its test outputs, each is
    checked against the attempts. Exit 1 when a test input is missed or a task could not be read."""
    output.setup_logging(quiet=True)
    from hrm_sdk.tasks import arc as codec
    from hrm_sdk.solvers.arc import ARCSolver

    tasks = read_tasks(files)  # malformed tasks get their own error results; nothing is loaded before this
    solver = ARCSolver(model or None, device=device or None, versions=versions, fit_steps=fit_steps, seed=seed,
                       tune=tune.value)
    what = getattr(tasks[0], "id", "1 task") if len(tasks) == 1 else output.plural(len(tasks), "task")
    with output.progress(f"solving {what} ({output.plural(versions, 'version')}, "
                         f"{output.plural(fit_steps, 'fitting step')})") as p:
        results = solver.solve_many(tasks)
    if fmt == OutputFormat.human:
        for r in results:
            arc_human(r, len(results) > 1)
        output.stdout.print(f"{output.seconds(p.elapsed)}", markup=False)
    elif fmt == OutputFormat.json:  # the ARC Prize submission shape; an attempt that was not made is null
        output.emit_json({r.task_id: {"error": r.error} if r.error else
                          [{f"attempt_{k + 1}": atts[k] if k < len(atts) else None for k in range(2)}
                           for atts in r.attempts] for r in results})
    else:
        for r in results:
            output.emit_json(r.to_dict())
    if png:
        from hrm_sdk.solvers import draw as pictures

        answered = [(t, r) for t, r in zip(tasks, results) if isinstance(t, codec.ArcTask)]
        for t, r in answered:  # one picture per task: FILE, or FILE's stem + -<task id> for several tasks
            target = png if len(answered) == 1 else str(Path(png).with_name(f"{Path(png).stem}-{t.id}{Path(png).suffix}"))
            draw(target, pictures.arc, t, r)
    refused = sum(r.error is not None for r in results)
    missed = sum(len(r.correct) - sum(r.correct) for r in results if r.correct is not None)
    if refused or missed:
        tests = sum(len(r.correct) for r in results if r.correct is not None)
        parts = ([f"{missed} of {output.plural(tests, 'test input')} answered wrongly"] if missed else []) + (
            [f"{refused} of {output.plural(len(results), 'task')} not read"] if refused else [])
        output.message(f"{'; '.join(parts)} ({output.seconds(p.elapsed)}; exit 1)")
        raise typer.Exit(output.EXIT_UNSOLVED)


def arc_human(r, named: bool) -> None:
    """One ARC result as text: each test input's attempts (indented under the task's id when ``named``)."""
    pad = "  " if named else ""
    if named:
        output.stdout.print(f"task {r.task_id}:", markup=False)
    if r.error:
        output.stdout.print(f"{pad}error: {r.error}", markup=False)
        return
    for i, atts in enumerate(r.attempts):
        output.stdout.print(f"{pad}test input {i + 1}: {output.plural(len(atts), 'attempt')}", markup=False)
        for k, g in enumerate(atts):
            output.stdout.print(f"{pad}  attempt {k + 1}:", markup=False)
            for row in g:
                output.stdout.print(f"{pad}    " + "".join(str(v) for v in row), markup=False)
        if r.matched is not None:  # the task file holds the expected outputs: say whether an attempt matched
            right = r.matched[i]
            output.stdout.print(f"{pad}  expected output (in the task file): "
                                f"{f'attempt {right}' if right else 'not among the attempts'}", markup=False)
