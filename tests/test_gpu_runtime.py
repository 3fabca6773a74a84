"""GPU parity check of the runtime (issue #3): the CPU test `test_onnx_matches_pytorch_on_200_puzzles`, on CUDA.

The tiny HRM of the test fixture (300 steps on 32 Sudoku puzzles, trained on the CPU), exported to ONNX, is
compared on the same 200 puzzles (32 seen in training, 168 not): PyTorch on CUDA (fp32) against ONNX Runtime on
the CPU and, with onnxruntime-gpu, on CUDA: predictions, halting segments and first-segment logits must agree.
Skipped without CUDA; on the GPU machine (DEVELOPERS.md):

    HRM_SHARED_DATA=.carry/data HRM_RUNTIME_CHECK_OUT=$OUT/runtime_check.json python3 -m pytest -m gpu -s
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from test_runtime import puzzles



def _no_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return True
    return not torch.cuda.is_available()


pytestmark = [pytest.mark.gpu, pytest.mark.slow, pytest.mark.skipif(_no_cuda(), reason="no CUDA device")]


def test_pytorch_cuda_matches_onnx_runtime(tiny_model, tiny_onnx):
    import onnxruntime as ort
    import torch

    from hrm_sdk.runtime import load
    from hrm_sdk.runtime.verify import compare

    items = puzzles(32) + puzzles(168, start=1000)
    ref = load(tiny_model, device="cuda", precision="fp32")
    pairs = {"pytorch cuda fp32 vs onnxruntime cpu": load(tiny_onnx, device="cpu")}
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pairs["pytorch cuda fp32 vs onnxruntime cuda"] = load(tiny_onnx, device="cuda")
    doc = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "onnxruntime": ort.__version__,
           "puzzles": len(items), "pairs": {}}
    for name, other in pairs.items():
        d = compare(ref, other, items, batch_size=50).to_dict()
        same = (d["halting_agreement"] == 1.0 and d["prediction_agreement"] == 1.0
                and d["first_segment_max_abs_logits"] < 1e-3)
        doc["pairs"][name] = {**{k: v for k, v in d.items() if k != "mismatched"}, "identical": same}
        print(name, doc["pairs"][name], flush=True)
    if os.environ.get("HRM_RUNTIME_CHECK_OUT"):
        Path(os.environ["HRM_RUNTIME_CHECK_OUT"]).write_text(json.dumps(doc, indent=1))
    assert all(p["identical"] for p in doc["pairs"].values()), doc
