"""`hrm bench TASK --data TEST`: puzzles/s, segments/s, MFU, accuracy and mean segments of a model on a
backend at one or more batch sizes; on a GPU also the reference-style HRM loop at the same batch and the ratio.
The last stdout line is one JSON document."""

from __future__ import annotations

from typing import Annotated

import typer

from . import output
from .eval import EvalTask
from .options import (Backend, BackendOpt, DeviceOpt, LimitOpt, ModelOpt, Precision, PrecisionOpt, ReportFormat,
                      ReportOpt, precision_arg)


@output.handle_errors
def bench(
    task: Annotated[EvalTask, typer.Argument(help="The task.")],
    data: Annotated[str, typer.Option(help="Test puzzles: a dataset split directory or the task's puzzle file.")],
    model: ModelOpt = "",
    backend: BackendOpt = Backend.auto,
    device: DeviceOpt = "",
    batch_size: Annotated[list[int], typer.Option(min=1, help="Puzzles in flight at once; repeat the option "
                                                               "for several batch sizes.")] = [256],  # noqa: B006
    limit: LimitOpt = 0,
    compile: Annotated[bool, typer.Option("--compile", help="PyTorch: torch.compile the segment.")] = False,
    reference: Annotated[bool, typer.Option(help="On a GPU, also time the reference HRM-Sudoku loop.")] = True,
    segment: Annotated[bool, typer.Option(help="Also time the bare segment (the loop's efficiency).")] = True,
    host_loop: Annotated[bool, typer.Option("--host-loop", help="PyTorch on CUDA: the host ACT loop instead of "
                                                                "the device-resident one.")] = False,
    precision: PrecisionOpt = Precision.auto,
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Throughput of a model's ACT loop, side by side with the reference loop (GPU)."""
    output.setup_logging()
    from hrm_sdk.solvers.bench import bench_model

    record = bench_model(task.value, data, model or None, backend.value, device or None, tuple(batch_size), limit,
                         compile, reference, progress=output.message, host_loop=host_loop, segment=segment,
                         precision=precision_arg(precision))
    if fmt == ReportFormat.human:
        for run in record["runs"]:
            a = run["act"]
            mfu = f", MFU {a['mfu']:.1%}" if a["mfu"] is not None else ""
            output.stdout.print(f"{a['backend']}, batch {a['batch_size']}: {a['puzzles_per_s']:,.1f} puzzles/s, "
                                f"{a['segments_per_s']:,.0f} segments/s{mfu}, exact {a['exact']:.2%}, mean "
                                f"segments {a['mean_segments']:.2f} ({a['puzzles']} puzzles in {a['seconds']:.1f} s, "
                                f"{a['loop']} loop)", markup=False)
            if "segment" in run:
                g = run["segment"]
                mfu = f", MFU {g['mfu']:.1%}" if g["mfu"] is not None else ""
                output.stdout.print(f"bare segment, batch {g['batch_size']}: {g['segments_per_s']:,.0f} segments/s"
                                    f"{mfu}; the loop keeps {run['loop_efficiency']:.0%}", markup=False)
            if "reference" in run:
                r = run["reference"]
                mfu = f", MFU {r['mfu']:.1%}" if r["mfu"] is not None else ""
                output.stdout.print(f"{r['backend']}, batch {r['batch_size']}: {r['puzzles_per_s']:,.1f} "
                                    f"puzzles/s{mfu}; ratio {run['ratio']:.2f}", markup=False)
    output.emit_json(record)
