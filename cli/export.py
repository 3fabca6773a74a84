"""`hrm export onnx|tensorrt MODEL`: write a portable artefact and say what to run next."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import output
from .options import ReportFormat, ReportOpt, new_app

app = new_app("Export a trained model: one ACT segment as ONNX, or a TensorRT engine built from it.")


class Weights(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"


def default_out(model: Path, suffix: str) -> Path:
    """Where an export goes without -o: the current directory, named after the model (``sudoku.onnx``), never
    into the model's own folder (a bundled model's folder is inside the installed package)."""
    name = (model.parent.name if model.stem == "model" else model.stem) if model.is_file() else model.name
    return Path.cwd() / f"{name or 'model'}{suffix}"


def next_step(artefact: str, model: Path) -> str:
    """The verify command for a new artefact: with --against when it does not lie beside its checkpoint."""
    model_dir = model.parent if model.is_file() else model
    args = ["hrm", "verify", artefact]
    if (model_dir / "model.json").is_file() and Path(artefact).resolve().parent != model_dir.resolve():
        args += ["--against", str(model_dir)]
    return shlex.join(args)


def _report(record: dict, fmt: ReportFormat, next_cmd: str, seconds: float) -> None:
    if fmt == ReportFormat.human:
        for k, v in record.items():
            if k == "seconds":
                v = output.seconds(seconds)
            if k != "check":
                output.stdout.print(f"{k:14s} {v}", markup=False)
        check = record.get("check") or {}
        if "cell_disagreement" in check:  # an int8 graph against its fp32 source (exporters/onnx_int8.py)
            output.stdout.print(
                f"{'check':14s} {output.plural(check['puzzles'], 'puzzle')} x "
                f"{output.plural(check['segments'], 'segment')} vs the fp32 graph, same inputs: max relative "
                f"|logits diff| {check['teacher_forced_max_rel_logits']:.1e}; {check['cell_disagreement']:.2%} of "
                f"cell predictions and {check['halting_disagreement']:.2%} of halting decisions differ", markup=False)
        elif "teacher_forced_max_rel_logits" in check:
            free = check["free_running"]
            output.stdout.print(
                f"{'check':14s} {output.plural(check['puzzles'], 'puzzle')} x "
                f"{output.plural(check['segments'], 'segment')} vs PyTorch, same inputs: "
                f"max relative |logits diff| {check['teacher_forced_max_rel_logits']:.1e}, "
                f"{output.plural(check['teacher_forced_disagreements'], 'decision')} differ; running free: halting "
                f"agrees on {free['halting_agreement']:.0%}, converged answers on {free['converged_agreement']:.0%}",
                markup=False)
        output.hint(f"Next: {next_cmd}")
    else:
        output.emit_json(record | {"seconds": round(seconds, 2), "next": next_cmd})


def _check_opset(opset: int) -> None:
    """An opset the installed onnx knows, refused before the (long) export starts."""
    if not opset:
        return
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not 18 <= opset <= newest:
        from hrm_sdk.errors import HRMError

        raise HRMError(f"--opset {opset}: the exporter writes opsets 18 to {newest} (0 = its default)")


@app.command()
@output.handle_errors
def onnx(
    model: Annotated[str, typer.Argument(help="Model directory (model.json + model.safetensors) or a bundled model's "
                                              "name; for --precision int8 also an fp32 .onnx segment.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output .onnx path (default: ./<model name>.onnx in the "
                                                         "current directory; never the model's own folder).")] = "",
    precision: Annotated[str, typer.Option(help="fp32 | fp16 | int8 (CPU: the fp32 graph's MatMul weights "
                                                "quantized) (| bf16 for TensorRT).")] = "fp32",
    opset: Annotated[int, typer.Option(min=0, help="ONNX opset (0 = the exporter's default).")] = 0,
    check: Annotated[bool, typer.Option(help="Compare the graph with PyTorch on real puzzles.")] = True,
    weights: Annotated[Weights, typer.Option(help="fp16: store weights in fp16 (half the file), compute in fp32.")
                       ] = Weights.fp32,
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Export one ACT segment as a static ONNX graph, with metadata and a self-check against PyTorch (int8: against
    the fp32 graph it is quantized from)."""
    output.setup_logging()
    from hrm_sdk.errors import require
    from hrm_sdk.solvers.registry import resolve

    path = resolve(model)
    if precision != "int8" or path.suffix != ".onnx":
        require("torch", "torch", "ONNX export")
    require("onnx", "torch", "ONNX export")
    _check_opset(opset)
    from hrm_sdk.exporters import export, validate_args
    from hrm_sdk.exporters.onnx_export import as_dict

    validate_args("onnx", {"precision": precision})
    target = Path(out) if out else default_out(path, ".onnx" if precision == "fp32" else f".{precision}.onnx")
    with output.progress(f"exporting {path.name} to ONNX" + (" and checking it" if check else "")) as p:
        result = export(path, "onnx", out=target, precision=precision, opset=opset or None, check=check,
                        weights=None if weights == Weights.fp32 else weights.value)
    _report(as_dict(result), fmt, next_step(result.path, path), p.elapsed)


@app.command()
@output.handle_errors
def tensorrt(
    model: Annotated[str, typer.Argument(help="Model directory, .onnx segment or a bundled model's name.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output .engine path (default: ./<model name>.<precision>"
                                                         ".engine in the current directory).")] = "",
    precision: Annotated[str, typer.Option(help="fp32 | fp16 | bf16.")] = "fp16",
    batch: Annotated[str, typer.Option(help="Optimisation profile MIN,OPT,MAX (OPT < MAX).")] = "1,64,256",
    workspace: Annotated[float, typer.Option(help="Builder workspace limit, GiB.")] = 4.0,
    timing_cache: Annotated[str, typer.Option(help="Timing cache file (default: in the cache directory).")] = "",
    cache_dir: Annotated[str, typer.Option(help="Engine cache directory (default ~/.cache/hrm/engines).")] = "",
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Build a TensorRT engine from the ONNX segment (cached per ONNX, precision, profile, TensorRT, GPU)."""
    output.setup_logging()
    from dataclasses import asdict

    from hrm_sdk.exporters import export
    from hrm_sdk.solvers.registry import resolve

    path = resolve(model)
    target = Path(out) if out else default_out(path, f".{precision}.engine")
    with output.progress(f"building a TensorRT engine from {path.name}") as p:
        result = export(path, "tensorrt", out=target, precision=precision, batch=batch, workspace=workspace,
                        timing_cache=timing_cache or None, cache_dir=cache_dir or None)
    model_dir = path if path.is_dir() else path.parent
    _report(asdict(result), fmt, next_step(result.path, model_dir), p.elapsed)
