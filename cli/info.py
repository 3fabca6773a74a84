"""`hrm info`: installed backends, the GPU and its compute capability, and TensorRT availability."""

from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess

from . import output
from .options import ReportFormat, ReportOpt


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _gpu() -> dict | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = out.strip().splitlines()[0] if out.strip() else ""
    parts = [p.strip() for p in line.split(",")]
    return dict(zip(("name", "compute_capability", "driver", "memory"), parts)) if len(parts) == 4 else None


@output.handle_errors
def info(fmt: ReportOpt = ReportFormat.human) -> None:
    """Report what this installation can run on: backends, GPU, TensorRT."""
    from hrm_sdk import __version__
    from hrm_sdk.runtime.formats import FORMATS

    providers = []
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
    except ImportError:
        pass
    trt = next(((d, v) for d in ("tensorrt", "tensorrt-rtx-cu13-bindings") if (v := _version(d))), None)
    record = {
        "hrm_sdk": __version__,
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
        "onnxruntime_providers": providers,
        "tensorrt": f"{trt[0]} {trt[1]}" if trt else None,
        "gpu": _gpu(),
        "formats": [{"format": f.name, "suffix": f.suffix, "extra": f.extra, "precisions": list(f.precisions)}
                    for f in FORMATS],
    }
    if fmt == ReportFormat.json:
        output.emit_json(record)
        return
    gpu = record["gpu"]
    rows = [("hrm-sdk", __version__), ("torch", record["torch"] or "not installed (pip install 'hrm-sdk[torch]')"),
            ("onnxruntime", f"{record['onnxruntime']} ({', '.join(p.removesuffix('ExecutionProvider') for p in providers)})"
             if record["onnxruntime"] else "not installed"),
            ("tensorrt", record["tensorrt"] or "not installed (pip install 'hrm-sdk[tensorrt-rtx]')"),
            ("gpu", f"{gpu['name']}, compute capability {gpu['compute_capability']}, driver {gpu['driver']}"
             if gpu else "none found")]
    for k, v in rows:
        output.stdout.print(f"{k:12s} {v}", markup=False)
    output.stdout.print("formats      " + ", ".join(f"{f.name} ({f.suffix})" for f in FORMATS), markup=False)
