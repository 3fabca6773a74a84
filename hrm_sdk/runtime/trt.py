"""Which TensorRT is installed, and which GPU is here: the facts engines are built for and checked against.

    from hrm_sdk.runtime import trt
    rt = trt.load()                    # -> TensorRT(module, flavour="tensorrt-rtx", version="1.7.1.116")
    trt.gpu_compute_capability()       # -> (9, 0), or None without a GPU

Two flavours share TensorRT 10's Python API (Builder, OnnxParser, optimisation profiles, Runtime,
``execute_async_v3``); full ``tensorrt`` is preferred when both are installed:

- ``tensorrt``: full TensorRT. It builds for the GPU it runs on (a GPU is needed to build), tunes kernels at
  build time (timing cache), and still accepts precision flags (``BuilderFlag.FP16``/``BF16``, weak typing) in
  10.x. It runs on Hopper (the H100, sm_90) too.
- ``tensorrt_rtx_bindings`` (PyPI ``tensorrt-rtx-cu13-bindings`` + ``-libs``): TensorRT for RTX 1.7.
  What differs, as read from the installed 1.7.1.116 bindings and NVIDIA's TensorRT-RTX docs:
  - Networks are always strongly typed (``create_network(0)`` already has ``STRONGLY_TYPED``); ``BuilderFlag``
    has no FP16/BF16/INT8. An fp16 or bf16 engine must be built from an fp16 or bf16 ONNX graph.
  - Builds ahead of time on a machine with no GPU. Targets are chosen with
    ``config.num_compute_capabilities = n`` and ``config.set_compute_capability(ComputeCapability.SM86, i)``
    (SM75, SM80, SM86, SM89, SM120, SM121; ``CURRENT`` uses the local GPU and fails without one). With no
    target set, the engine is portable to compute capability 8.0, 8.6, 8.9, 12.0 and later.
    Hopper (sm_90) is not supported: an engine cannot be deserialised on an H100.
  - Kernels are compiled just in time on the user's GPU; an ``IRuntimeCache`` (through
    ``engine.create_runtime_config()``) keeps them between runs.
  - Timing caches are deprecated no-ops since 1.2 (the bindings warn so; older docs say they make the build query
    a GPU, though a CPU-only 1.7.1 build with one attached still succeeded), so none is used.
  - ``IProgressMonitor`` works as in TensorRT 10, including cancelling with ``step_complete() -> False``.
  - ``Runtime.get_engine_validity(plan)`` checks a plan's header, but needs a CUDA driver.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import HRMError, MissingExtraError

log = logging.getLogger(__name__)
MODULES = (("tensorrt", "tensorrt"), ("tensorrt_rtx_bindings", "tensorrt-rtx"))
DISPLAY = {"tensorrt": "TensorRT", "tensorrt-rtx": "TensorRT-RTX"}
# Where a TensorRT-RTX engine built without a target runs (its own error message lists 8.0 8.6 8.9 12.0 12.1 >12.0).
RTX_PORTABLE = ((8, 0), (8, 6), (8, 9))
PORTABLE = "portable"
LEVELS = {"INTERNAL_ERROR": logging.CRITICAL, "ERROR": logging.ERROR, "WARNING": logging.WARNING,
          "INFO": logging.DEBUG, "VERBOSE": 5}
trt_log = logging.getLogger("hrm_sdk.tensorrt")  # TensorRT's own messages


@dataclass(frozen=True)
class TensorRT:
    module: ModuleType
    flavour: str  # "tensorrt" | "tensorrt-rtx"
    version: str

    def describe(self) -> str:
        return f"{DISPLAY[self.flavour]} {self.version}"


def load() -> TensorRT:
    """The installed TensorRT flavour, full TensorRT first; MissingExtraError names the extra when neither is."""
    for module_name, flavour in MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return TensorRT(module, flavour, str(module.__version__))
    raise MissingExtraError("tensorrt-rtx-cu13-bindings", "tensorrt-rtx", "Building or running TensorRT engines")


def make_logger(rt: TensorRT):
    """A TensorRT ILogger that forwards to logging (``hrm_sdk.tensorrt``) and keeps the errors for messages."""
    base = rt.module.ILogger

    class Logger(base):
        def __init__(self) -> None:
            base.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg: str) -> None:
            level = LEVELS.get(severity.name, logging.INFO)
            if level >= logging.ERROR:
                self.errors.append(msg)
            if trt_log.isEnabledFor(level):
                trt_log.log(level, "%s", msg)

        def last_error(self, default: str = "no error message") -> str:
            return self.errors[-1].splitlines()[0][:300] if self.errors else default

    return Logger()


def cache_root() -> Path:
    """Where hrm keeps caches: $HRM_CACHE_DIR, else ~/.cache/hrm (engines/ and runtime/ below it)."""
    return Path(os.environ.get("HRM_CACHE_DIR") or Path.home() / ".cache" / "hrm").expanduser()


def gpu_compute_capability(device: int = 0) -> tuple[int, int] | None:
    """(major, minor) of a local GPU from cuda-python, else nvidia-smi; None when there is no GPU to ask."""
    cc = _cc_from_cuda(device)
    return cc if cc is not None else _cc_from_nvidia_smi(device)


def _cc_from_cuda(device: int) -> tuple[int, int] | None:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.8
        except ImportError:
            return None
    attr = cudart.cudaDeviceAttr
    err, major = cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMajor, device)
    if err != cudart.cudaError_t.cudaSuccess:
        return None
    err, minor = cudart.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMinor, device)
    return (int(major), int(minor)) if err == cudart.cudaError_t.cudaSuccess else None


def _cc_from_nvidia_smi(device: int) -> tuple[int, int] | None:
    # nvidia-smi numbers GPUs ignoring CUDA_VISIBLE_DEVICES; only the fallback path is affected.
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=compute_cap", "--format=csv,noheader", "-i", str(device)],
                             capture_output=True, text=True, timeout=20, check=True).stdout.strip()
        major, minor = out.splitlines()[0].split(".")
        return int(major), int(minor)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def sm_name(cc: tuple[int, int]) -> str:
    return f"sm_{cc[0]}{cc[1]}"


def parse_sm(text: str) -> tuple[int, int]:
    """'sm_86', 'sm86', '86' or '8.6' -> (8, 6)."""
    s = text.strip().lower()
    m = re.fullmatch(r"(\d+)\.(\d)", s) or re.fullmatch(r"(?:sm_?)?(\d+)(\d)", s)
    if not m:
        raise HRMError(f"compute capability {text!r} is not of the form sm_86 or 8.6")
    return int(m.group(1)), int(m.group(2))


def describe_target(target: str) -> str:
    return "sm_80, sm_86, sm_89 and sm_120+ (a portable TensorRT-RTX engine)" if target == PORTABLE else target


def runs_on(target: str, cc: tuple[int, int], flavour: str) -> bool:
    """Whether an engine built for `target` ('sm_86', 'sm_86,sm_120' or 'portable') runs on a GPU of `cc`."""
    if target == PORTABLE:
        return flavour == "tensorrt-rtx" and (cc in RTX_PORTABLE or cc[0] >= 12)
    return cc in {parse_sm(t) for t in target.split(",")}
