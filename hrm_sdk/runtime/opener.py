"""The one way to open a model: ``hrm_sdk.runtime.open(model, backend="auto", device=...)``.

Every command and every solver opens models here. A model directory holds what the formats table lists
(``model.json`` + ``model.safetensors``, and maybe ``model.onnx``, ``*.engine``); ``backend="auto"`` takes the
fastest one that runs here: a TensorRT engine on a supported GPU, else ONNX Runtime (CUDA, then CPU), else
PyTorch. A file path (.onnx/.engine/.safetensors/model.json) runs on its own format's backend. A bundled model's
name is resolved by the caller (``solvers.registry.resolve``), so the runtime knows nothing of the solvers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ArtefactError, HRMError, MissingExtraError
from .formats import format_of, get_format

log = logging.getLogger(__name__)
BACKENDS = ("auto", "tensorrt", "onnxruntime", "pytorch")


def backend_class(fmt_name: str):
    """The backend class of a format row, imported on demand."""
    import importlib

    fmt = get_format(fmt_name)
    module, cls = fmt.backend.split(":")
    return getattr(importlib.import_module(f"{__package__}.backends.{module}"), cls)


def open_model(model: str | Path, backend: str = "auto", device: str | None = None, compile: bool = False,
               precision: str | None = None, **kwargs):
    """Open a model path on a backend. ``backend``: auto | tensorrt | onnxruntime | pytorch (or a format name:
    onnx = onnxruntime). ``compile`` (PyTorch weights; ``backend`` auto or pytorch) runs the segment through
    ``torch.compile`` at a fixed batch; ``precision`` (fp32 | bf16) is the PyTorch backend's compute precision
    (an exported artefact's is fixed at export), so it picks PyTorch too; other keyword arguments go to the
    backend class."""
    path = Path(model)
    backend = {"onnx": "onnxruntime"}.get(backend, backend)
    if backend not in BACKENDS:
        raise HRMError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if compile:  # only PyTorch compiles: pick it even where an engine or an ONNX file lies beside the weights
        if backend not in ("auto", "pytorch"):
            raise HRMError(f"compiling is for the PyTorch backend, not {backend}")
        backend = "pytorch"
        kwargs["compile"] = True
    if precision:
        kind = backend if path.is_dir() or not path.suffix else format_of(path).name
        if kind not in ("auto", "pytorch"):
            what = {"onnxruntime": "an ONNX graph", "onnx": "an ONNX graph", "tensorrt": "a TensorRT engine"}[kind]
            raise HRMError(f"--precision is for the PyTorch backend; {what} keeps the precision it was exported "
                           "with (hrm export)")
        backend = "pytorch"
        kwargs["precision"] = precision
    if not path.is_dir():  # a file (or a missing path: its format's backend says what is wrong)
        fmt = format_of(path)
        if backend not in ("auto", {"onnx": "onnxruntime"}.get(fmt.name, fmt.name)):
            raise HRMError(f"{path} is a {fmt.name} artefact; it cannot run on {backend}")
        if fmt.name == "pytorch" and path.is_file():
            path = path.parent
        return backend_class(fmt.name)(path, device=device, **kwargs)
    if (path / "model.json").exists() or (path / "model.safetensors").exists():
        # all or nothing: a directory with a broken card or weights is refused, whichever artefact would run
        from ..checkpoint import verify_model_dir

        card = verify_model_dir(path)
        return _matching(path, card, _open_dir(path, backend, device, **kwargs))
    return _open_dir(path, backend, device, **kwargs)


def _matching(path: Path, card: dict, opened):
    """The opened backend, once its metadata agrees with the directory's card (task and source weights)."""
    meta = opened.meta
    if card.get("task") and meta.task != card["task"]:
        raise ArtefactError(f"{path}: the card is a {card['task']} model but its {opened.name} artefact is a "
                            f"{meta.task} model; re-export it with: hrm export onnx {path}")
    if opened.name != "pytorch" and meta.source_sha256 and meta.source_sha256 != card.get("weights_sha256"):
        raise ArtefactError(f"{path}: its {opened.name} artefact was exported from other weights than "
                            f"model.safetensors (sha256 {meta.source_sha256[:12]}, the card says "
                            f"{str(card.get('weights_sha256'))[:12]}); re-export it with: hrm export onnx {path}")
    return opened


def _open_dir(path: Path, backend: str, device: str | None, **kwargs):
    tried = []
    if backend in ("auto", "tensorrt"):
        for engine in sorted(path.glob("*.engine")):
            try:
                return backend_class("tensorrt")(engine, device=device)
            except (ArtefactError, MissingExtraError) as exc:
                if backend == "tensorrt":
                    raise
                tried.append(f"{engine.name}: {exc}")
        if backend == "tensorrt":
            raise ArtefactError(f"{path}: no TensorRT engine; build one with: hrm export tensorrt {path}")
    if backend in ("auto", "onnxruntime"):
        onnx = path / "model.onnx"
        if onnx.is_file():
            return backend_class("onnx")(onnx, device=device)
        if backend == "onnxruntime":
            raise ArtefactError(f"{path}: no model.onnx; export one with: hrm export onnx {path}")
    if (path / "model.safetensors").is_file():
        return backend_class("pytorch")(path, device=device, **kwargs)
    raise ArtefactError(f"{path}: nothing runnable (no engine, model.onnx or model.safetensors)"
                        + (f"; tried {'; '.join(tried)}" if tried else ""))


def load(path: str | Path, device: str | None = None, **kwargs):
    """Open one artefact exactly as its format says (a model directory: its PyTorch weights), with no choice of
    backend: for tests and tools that compare backends. Everything else opens with ``open_model``."""
    return backend_class(format_of(path).name)(path, device=device, **kwargs)
