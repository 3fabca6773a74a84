"""The one table of model formats: what each artefact is, which backend runs it, and how it is exported.

``exporters`` reads it to validate ``hrm export FORMAT`` arguments; ``runtime.load`` reads it to pick the
backend from a file's suffix; ``hrm info`` prints it. Adding a format means adding a row here, a backend
class, and (for exported formats) an exporter function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtefactError


@dataclass(frozen=True)
class Format:
    name: str  # as typed on the command line
    aliases: tuple[str, ...]
    suffix: str  # the artefact's file suffix (a model directory counts as .safetensors)
    backend: str  # "module:Class" under hrm_sdk.runtime.backends, imported on demand
    extra: str  # pip extra that provides the runtime
    export_args: tuple[str, ...]  # options `hrm export` accepts for this format
    precisions: tuple[str, ...]
    description: str


FORMATS: tuple[Format, ...] = (
    Format("pytorch", ("pt", "torch", "safetensors"), ".safetensors", "torch_backend:TorchBackend", "torch",
           (), ("fp32", "bf16"), "trained checkpoint: safetensors weights + model.json"),
    Format("onnx", ("ort", "onnxruntime"), ".onnx", "onnx_backend:OnnxBackend", "gpu",
           ("precision", "opset", "check", "out", "weights"), ("fp32", "fp16", "int8"),
           "one ACT segment as a static ONNX graph (int8: MatMul weights quantized from the fp32 graph, for CPUs)"),
    Format("tensorrt", ("trt", "engine"), ".engine", "tensorrt_backend:TensorRTBackend", "tensorrt-rtx",
           ("precision", "batch", "workspace", "timing_cache", "cache_dir", "out"), ("fp32", "fp16", "bf16"),
           "TensorRT plan built from the ONNX segment; metadata in a .engine.json sidecar"),
)


def get_format(name: str) -> Format:
    """Look a format up by name or alias; a typo gets the closest valid name in the error."""
    key = name.lower().lstrip(".")
    for f in FORMATS:
        if key == f.name or key in f.aliases:
            return f
    import difflib

    names = [f.name for f in FORMATS]
    close = difflib.get_close_matches(key, names + [a for f in FORMATS for a in f.aliases], n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ArtefactError(f"unknown format {name!r}{hint}; valid formats: {', '.join(names)}")


def format_of(path: str | Path) -> Format:
    """The format of an artefact path: a model directory or .safetensors/.json is PyTorch, .onnx, .engine."""
    p = Path(path)
    if p.is_dir() or p.suffix == ".json" and not p.name.endswith(".engine.json"):
        return FORMATS[0]
    for f in FORMATS:
        if p.suffix == f.suffix:
            return f
    raise ArtefactError(f"{p}: cannot tell the model format from the suffix {p.suffix!r}; expected a model "
                        f"directory or one of {', '.join(f.suffix for f in FORMATS)}")
