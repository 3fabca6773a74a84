"""What every evaluation reports, shared by the trainer's periodic evaluation (``training.evaluate``, PyTorch),
``hrm eval`` (``runtime.evaluate``, any backend) and ``hrm bench``: exact accuracy at these fixed segment budgets,
besides ACT halting; what counts as exact; the peak used for MFU. numpy only; no layer above it."""

import os

import numpy as np

BUDGETS = (1, 2, 4, 8, 16, 32, 64)
# Dense bf16 matmul peak used for MFU, measured on this project's H100/H200 (SXM).
PEAK_FLOPS = {"H100": 798e12, "H200": 798e12}


def exact(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per puzzle (last axis: positions): every labelled position predicted; label 0 is "ignore"."""
    labels = np.asarray(labels).astype(np.int64)
    return ((pred == labels) | (labels == 0)).all(-1)


def peak_flops(device_name: str) -> float | None:
    """The bf16 peak for MFU of a GPU named like ``torch.cuda.get_device_name()``; ``HRM_PEAK_FLOPS``
    overrides; None for a device whose peak is not known."""
    if os.environ.get("HRM_PEAK_FLOPS"):
        return float(os.environ["HRM_PEAK_FLOPS"])
    return next((v for k, v in PEAK_FLOPS.items() if k in device_name), None)
