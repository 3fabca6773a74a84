"""Running models: pick a backend from the artefact, then drive it with the host-side ACT loop.

    from hrm_sdk import runtime
    backend = runtime.open("path/to/model")              # best backend here: engine, ONNX, PyTorch (or a file)
    results = runtime.run_all(backend, [(tokens, 0), ...], batch_size=64)
    voted = runtime.run_views(backend, inputs, runtime.Views(k, apply, invert))   # test-time augmentation voting

Importing this package does not import torch: the ONNX Runtime path starts fast.
"""

from __future__ import annotations

from .act import ACTPolicy, SegmentResult, run_act, run_all  # noqa: F401
from .formats import FORMATS, format_of, get_format  # noqa: F401
from .opener import BACKENDS, backend_class, load, open_model  # noqa: F401
from .views import Candidate, Views, ViewResult, run_views, vote  # noqa: F401

open = open_model  # noqa: A001 (runtime.open: the one opener; the builtin is not used in this module)
