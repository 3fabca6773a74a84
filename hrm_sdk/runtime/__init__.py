"""Running models: pick a backend from the artefact, then drive it with the host-side ACT loop.

    from hrm_sdk import runtime
    backend = runtime.load("model.onnx")                 # or a model directory, or model.engine
    results = runtime.run_all(backend, [(tokens, 0), ...], batch_size=64)
    voted = runtime.run_views(backend, inputs, runtime.Views(k, apply, invert))   # test-time augmentation voting

Importing this package does not import torch: the ONNX Runtime path starts fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .act import ACTPolicy, SegmentResult, run_act, run_all  # noqa: F401
from .formats import FORMATS, format_of, get_format  # noqa: F401
from .views import Candidate, Views, ViewResult, run_views, vote  # noqa: F401


def backend_class(fmt_name: str):
    """The backend class of a format row, imported on demand."""
    fmt = get_format(fmt_name)
    module, cls = fmt.backend.split(":")
    return getattr(importlib.import_module(f"{__name__}.backends.{module}"), cls)


def load(path: str | Path, device: str | None = None, **kwargs):
    """Open an artefact with the backend its format calls for (see formats.FORMATS)."""
    fmt = format_of(path)
    return backend_class(fmt.name)(path, device=device, **kwargs)
