"""`hrm verify MODEL`: run two backends on the same puzzles and compare them segment by segment."""

from __future__ import annotations

from typing import Annotated

import typer

from . import output
from .options import DeviceOpt, ReportFormat, ReportOpt


@output.handle_errors
def verify(
    model: Annotated[str, typer.Argument(help="The artefact to check: .onnx, .engine, a model directory (its best "
                                              "backend here, as hrm solve runs it) or a bundled model's name.")],
    against: Annotated[str, typer.Option("--against", "-a", help="Reference model directory (default: the folder "
                                                                 "the artefact lies in, when it holds the model "
                                                                 "metadata, model.json).")] = "",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many puzzles.")] = 32,
    puzzles: Annotated[int | None, typer.Option("--puzzles", min=1, hidden=True)] = None,  # the old name of -n
    data: Annotated[str, typer.Option(help="Dataset split to take puzzles from (default: bundled examples).")] = "",
    device: DeviceOpt = "",
    batch_size: Annotated[int, typer.Option(min=1, help="Puzzles per lockstep batch.")] = 32,
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Compare logits, halting segments and predictions of two backends (like polygraphy run --onnxrt --trt)."""
    output.setup_logging()
    import numpy as np

    from hrm_sdk import runtime
    from hrm_sdk.errors import HRMError
    from hrm_sdk.runtime.verify import compare
    from hrm_sdk.solvers.registry import resolve

    n = puzzles or limit
    path = resolve(model)
    ref_path = resolve(against) if against else (path if path.is_dir() else path.parent)
    if not (ref_path / "model.json").is_file() and not ref_path.suffix == ".json":
        raise HRMError(f"{ref_path}: no model metadata (model.json) to compare {path.name} with; name the model it "
                       f"was exported from with --against MODEL")
    checked = runtime.open(path, device=device or None)
    reference = runtime.open(ref_path, "pytorch", device="cpu")
    if reference.meta.task != checked.meta.task:
        raise HRMError(f"--against {against or ref_path}: a {reference.meta.task} model; {path.name} is a "
                       f"{checked.meta.task} model")
    if data:
        from hrm_sdk.data.dataset import read_split

        split = read_split(data)
        items = [(np.asarray(split.inputs[i]), int(split.puzzle_ids[i])) for i in range(min(n, split.meta.size))]
    else:
        from hrm_sdk import tasks

        items = tasks.get(checked.meta.task).check_items(n)
    with output.progress(f"comparing {len(items)} puzzles") as p:
        cmp = compare(reference, checked, items, batch_size=batch_size)
    record = cmp.to_dict() | {"seconds": round(p.elapsed, 2)}
    if fmt == ReportFormat.json:
        output.emit_json(record)
    else:
        output.stdout.print(f"{cmp.b}  vs  {cmp.a}: {output.plural(cmp.puzzles, 'puzzle')} x "
                            f"{output.plural(cmp.segments, 'segment')}", markup=False)
        for k in ("first_segment_max_abs_logits", "max_abs_logits", "max_abs_q", "converged", "converged_agreement",
                  "halting_agreement", "prediction_agreement", "final_cell_agreement"):
            v = record[k]
            output.stdout.print(f"  {k:30s} {v:.4g}" if isinstance(v, float) else f"  {k:30s} {v}", markup=False)
        verdict = "identical" if cmp.identical else (
            "converged answers identical; unconverged puzzles diverge (expected)" if cmp.converged_agreement == 1.0
            else "MISMATCH on converged puzzles")
        output.stdout.print(f"  verdict: {verdict}; {output.seconds(p.elapsed)}", markup=False)
    if cmp.converged_agreement < 1.0:
        output.message(f"converged answers differ on {1 - cmp.converged_agreement:.1%} of the puzzles (exit 1)")
        raise typer.Exit(output.EXIT_UNSOLVED)
