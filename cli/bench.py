"""`hrm bench TASK --data TEST`: puzzles/s, segments/s, MFU, accuracy and mean segments of a model on a
backend at one or more batch sizes; on a GPU also the reference-style HRM loop at the same batch and the ratio.
The last stdout line is one JSON document."""

from __future__ import annotations

from typing import Annotated

import typer

from . import output
from .output import OutputFormat


@output.handle_errors
def bench(
    task: Annotated[str, typer.Argument(help="sudoku | maze | arc.")],
    data: Annotated[str, typer.Option(help="Test puzzles: a dataset split directory or the task's puzzle file.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model (default: the bundled one).")] = "",
    backend: Annotated[str, typer.Option(help="auto | tensorrt | onnxruntime | pytorch.")] = "auto",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "",
    batch_size: Annotated[list[int], typer.Option("--batch-size", "-b", help="Batch size; repeat the option "
                                                                               "for several.")] = [256],  # noqa: B006
    limit: Annotated[int, typer.Option(help="The first N puzzles only (0 = all).")] = 0,
    compile: Annotated[bool, typer.Option("--compile", help="PyTorch: torch.compile the segment.")] = False,
    reference: Annotated[bool, typer.Option(help="On a GPU, also time the reference HRM-Sudoku loop.")] = True,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="human | json.")] = OutputFormat.human,
) -> None:
    """Throughput of a model's ACT loop, side by side with the reference loop (GPU)."""
    output.setup_logging()
    from solvers.bench import bench_model

    record = bench_model(task, data, model or None, backend, device or None, tuple(batch_size), limit, compile,
                         reference, progress=output.message)
    if fmt == OutputFormat.human:
        for run in record["runs"]:
            a = run["act"]
            mfu = f", MFU {a['mfu']:.1%}" if a["mfu"] is not None else ""
            output.stdout.print(f"{a['backend']}, batch {a['batch_size']}: {a['puzzles_per_s']:,.1f} puzzles/s, "
                                f"{a['segments_per_s']:,.0f} segments/s{mfu}, exact {a['exact']:.2%}, mean "
                                f"segments {a['mean_segments']:.2f} ({a['puzzles']} puzzles in {a['seconds']:.1f} s)",
                                markup=False)
            if "reference" in run:
                r = run["reference"]
                mfu = f", MFU {r['mfu']:.1%}" if r["mfu"] is not None else ""
                output.stdout.print(f"{r['backend']}, batch {r['batch_size']}: {r['puzzles_per_s']:,.1f} "
                                    f"puzzles/s{mfu}; ratio {run['ratio']:.2f}", markup=False)
    output.emit_json(record)
