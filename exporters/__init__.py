"""Exporters: a trained checkpoint -> an ONNX segment graph -> a TensorRT engine.

``export(model, "onnx" | "tensorrt", **options)`` dispatches through ``hrm_sdk.runtime.formats.FORMATS``, which
also says which options each format accepts. ONNX is always built before an engine; an int8 ONNX
(``precision="int8"``, ``onnx_int8``) is quantized from the fp32 graph.
"""

from __future__ import annotations

from pathlib import Path

from hrm_sdk.errors import HRMError
from hrm_sdk.runtime.formats import get_format


def validate_args(fmt_name: str, options: dict) -> None:
    fmt = get_format(fmt_name)
    bad = sorted(k for k, v in options.items() if v is not None and k not in fmt.export_args)
    if bad:
        raise HRMError(f"option {bad[0]!r} is not supported for format {fmt.name!r}; "
                       f"it takes: {', '.join(fmt.export_args) or 'no options'}")
    precision = options.get("precision")
    if precision is not None and precision not in fmt.precisions:
        raise HRMError(f"precision {precision!r} is not supported for {fmt.name}; choose {', '.join(fmt.precisions)}")


def export(model: str | Path, fmt_name: str, **options):
    """Export `model` (a checkpoint directory, or an .onnx for TensorRT) to a format; returns the result record."""
    fmt = get_format(fmt_name)
    validate_args(fmt.name, options)
    options = {k: v for k, v in options.items() if v is not None}
    if fmt.name == "onnx" and options.get("precision") == "int8":
        from .onnx_int8 import export_onnx_int8

        return export_onnx_int8(model, **{k: v for k, v in options.items() if k != "precision"})
    if fmt.name == "onnx":
        from .onnx_export import export_onnx

        return export_onnx(model, **options)
    if fmt.name == "tensorrt":
        from .tensorrt_build import build_engine

        return build_engine(model, **options)
    raise HRMError(f"{fmt.name} is the training format; nothing to export")
