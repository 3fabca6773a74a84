"""`hrm export onnx|tensorrt MODEL`: write a portable artefact and say what to run next."""

from __future__ import annotations

from typing import Annotated

import typer

from . import output
from .output import OutputFormat

app = typer.Typer(help="Export a trained model: one ACT segment as ONNX, or a TensorRT engine built from it.",
                  no_args_is_help=True)

FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="human | json.")]


def _report(record: dict, fmt: OutputFormat, next_cmd: str) -> None:
    if fmt == OutputFormat.human:
        for k, v in record.items():
            if k != "check":
                output.stdout.print(f"{k:14s} {v}", markup=False)
        check = record.get("check") or {}
        if "teacher_forced_max_rel_logits" in check:
            free = check["free_running"]
            output.stdout.print(
                f"{'check':14s} {check['puzzles']} puzzles x {check['segments']} segments vs PyTorch, same inputs: "
                f"max relative |logits diff| {check['teacher_forced_max_rel_logits']:.1e}, "
                f"{check['teacher_forced_disagreements']} decisions differ; running free: halting agrees on "
                f"{free['halting_agreement']:.0%}, converged answers on {free['converged_agreement']:.0%}", markup=False)
        output.hint(f"Next: {next_cmd}")
    else:
        output.emit_json(record | {"next": next_cmd})


@app.command()
@output.handle_errors
def onnx(
    model: Annotated[str, typer.Argument(help="Model directory (model.json + model.safetensors) or a bundled model's name.")],
    out: Annotated[str, typer.Option(help="Output .onnx path (default: beside the model).")] = "",
    precision: Annotated[str, typer.Option(help="fp32 | fp16 (| bf16 for TensorRT).")] = "fp32",
    opset: Annotated[int, typer.Option(help="ONNX opset (0 = the exporter's default).")] = 0,
    check: Annotated[bool, typer.Option(help="Compare the graph with PyTorch on real puzzles.")] = True,
    weights: Annotated[str, typer.Option(help="fp16: store weights in fp16 (half the file), compute in fp32.")] = "",
    fmt: FormatOpt = OutputFormat.human,
) -> None:
    """Export one ACT segment as a static ONNX graph, with metadata and a self-check against PyTorch."""
    output.setup_logging()
    from exporters import export
    from exporters.onnx_export import as_dict
    from solvers.registry import resolve

    result = export(resolve(model), "onnx", out=out or None, precision=precision, opset=opset or None, check=check,
                    weights=weights or None)
    _report(as_dict(result), fmt, f"hrm verify {result.path}")


@app.command()
@output.handle_errors
def tensorrt(
    model: Annotated[str, typer.Argument(help="Model directory, .onnx segment or a bundled model's name.")],
    out: Annotated[str, typer.Option(help="Output .engine path (default: beside the ONNX).")] = "",
    precision: Annotated[str, typer.Option(help="fp32 | fp16 | bf16.")] = "fp16",
    batch: Annotated[str, typer.Option(help="Optimisation profile MIN,OPT,MAX (OPT < MAX).")] = "1,64,256",
    workspace: Annotated[float, typer.Option(help="Builder workspace limit, GiB.")] = 4.0,
    timing_cache: Annotated[str, typer.Option(help="Timing cache file (default: in the cache directory).")] = "",
    cache_dir: Annotated[str, typer.Option(help="Engine cache directory (default ~/.cache/hrm/engines).")] = "",
    fmt: FormatOpt = OutputFormat.human,
) -> None:
    """Build a TensorRT engine from the ONNX segment (cached per ONNX, precision, profile, TensorRT, GPU)."""
    output.setup_logging()
    from dataclasses import asdict

    from exporters import export
    from solvers.registry import resolve

    result = export(resolve(model), "tensorrt", out=out or None, precision=precision, batch=batch, workspace=workspace,
                    timing_cache=timing_cache or None, cache_dir=cache_dir or None)
    _report(asdict(result), fmt, f"hrm verify {result.path}")
