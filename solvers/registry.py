"""The bundled models: where they live, how a solver finds its default, and what ``hrm models`` lists.

A bundled model is a directory under ``solvers/models/<task>/`` with ``model.json`` (config and card),
``model.safetensors`` (fp16 weights), ``model.onnx`` (+ ``model.onnx.json``; fp16-stored weights, fp32
compute, so the solve path runs on ONNX Runtime without torch) and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hrm_sdk.errors import CheckpointError

MODELS_DIR = Path(__file__).parent / "models"


@dataclass
class ModelInfo:
    name: str
    task: str
    path: str
    arch: str
    params: int
    results: dict = field(default_factory=dict)  # measured numbers from the model card, with where/how


def bundled() -> list[ModelInfo]:
    out = []
    for card_path in sorted(MODELS_DIR.glob("*/model.json")):
        card = json.loads(card_path.read_text())
        out.append(ModelInfo(name=card_path.parent.name, task=card.get("task", "?"), path=str(card_path.parent),
                             arch=card["model"]["arch"], params=card.get("num_params", 0),
                             results=card.get("results", {})))
    return out


def resolve(model: str | Path | None, task: str | None = None) -> Path:
    """A model argument -> a path: None is the task's bundled default; a bare name is a bundled model (every
    command that takes a model resolves it here, so ``hrm export onnx sudoku`` works as ``--model sudoku``)."""
    if (model is None or str(model) == "") and task is None:
        raise CheckpointError("no model given")
    if model is None or str(model) == "":
        path = MODELS_DIR / task
        if not (path / "model.json").is_file():
            raise CheckpointError(f"no bundled {task} model in this installation; pass a model with --model PATH")
        return path
    path = Path(model)
    if not path.exists() and (MODELS_DIR / str(model) / "model.json").is_file():
        return MODELS_DIR / str(model)
    if not path.exists():
        names = ", ".join(m.name for m in bundled()) or "none"
        raise CheckpointError(f"{model}: no such model file or directory (bundled models: {names})")
    return path
