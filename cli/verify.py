"""`hrm verify MODEL`: run two backends on the same puzzles and compare them segment by segment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import output
from .output import OutputFormat


@output.handle_errors
def verify(
    model: Annotated[str, typer.Argument(help="The artefact to check: .onnx, .engine, a model directory (its best "
                                              "backend here, as hrm solve runs it) or a bundled model's name.")],
    against: Annotated[str, typer.Option(help="Reference artefact (default: the checkpoint the model came from, "
                                                  "i.e. the model directory next to it).")] = "",
    puzzles: Annotated[int, typer.Option("-n", "--puzzles", help="How many puzzles.")] = 32,
    data: Annotated[str, typer.Option(help="Dataset split to take puzzles from (default: bundled examples).")] = "",
    device: Annotated[str, typer.Option(help="Device of the checked artefact: cpu or cuda.")] = "",
    batch_size: Annotated[int, typer.Option(help="Puzzles per lockstep batch.")] = 32,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="human | json.")] = OutputFormat.human,
) -> None:
    """Compare logits, halting segments and predictions of two backends (like polygraphy run --onnxrt --trt)."""
    output.setup_logging()
    import numpy as np

    from hrm_sdk import runtime
    from hrm_sdk.runtime.verify import compare
    from solvers.registry import resolve

    path = resolve(model)
    checked = runtime.open(path, device=device or None)
    ref_path = resolve(against) if against else (path if path.is_dir() else path.parent)
    reference = runtime.open(ref_path, "pytorch", device="cpu")
    if data:
        from hrm_sdk.data.dataset import read_split

        split = read_split(data)
        items = [(np.asarray(split.inputs[i]), int(split.puzzle_ids[i])) for i in range(min(puzzles, split.meta.size))]
    else:
        from hrm_sdk import tasks

        items = tasks.get(checked.meta.task).check_items(puzzles)
    cmp = compare(reference, checked, items, batch_size=batch_size)
    record = cmp.to_dict()
    if fmt == OutputFormat.json:
        output.emit_json(record)
    else:
        output.stdout.print(f"{cmp.b}  vs  {cmp.a}: {cmp.puzzles} puzzles x {cmp.segments} segments", markup=False)
        for k in ("first_segment_max_abs_logits", "max_abs_logits", "max_abs_q", "converged", "converged_agreement",
                  "halting_agreement", "prediction_agreement", "final_cell_agreement"):
            v = record[k]
            output.stdout.print(f"  {k:30s} {v:.4g}" if isinstance(v, float) else f"  {k:30s} {v}", markup=False)
        verdict = "identical" if cmp.identical else (
            "converged answers identical; unconverged puzzles diverge (expected)" if cmp.converged_agreement == 1.0
            else "MISMATCH on converged puzzles")
        output.stdout.print(f"  verdict: {verdict}", markup=False)
    if cmp.converged_agreement < 1.0:
        raise typer.Exit(output.EXIT_UNSOLVED)
