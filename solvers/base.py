"""What every solver shares: loading a model, choosing a backend, and running the ACT loop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hrm_sdk import runtime
from hrm_sdk.errors import ArtefactError, HRMError, MissingExtraError
from hrm_sdk.runtime import ACTPolicy, Views, run_act, run_views

from . import registry

log = logging.getLogger(__name__)
BACKENDS = ("auto", "tensorrt", "onnxruntime", "pytorch")


def open_backend(path: Path, backend: str = "auto", device: str | None = None, compile: bool = False):
    """The best backend for a model path: TensorRT engine on a supported GPU, else ONNX Runtime (CUDA, then
    CPU), else PyTorch. A file path (.onnx/.engine/.safetensors) runs on its own format's backend.
    ``compile`` (PyTorch weights; ``backend`` auto or pytorch) runs the segment through ``torch.compile`` at a
    fixed batch."""
    if backend not in BACKENDS:
        raise HRMError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if compile:  # only PyTorch compiles: pick it even where an engine or an ONNX file lies beside the weights
        if backend not in ("auto", "pytorch"):
            raise HRMError(f"compiling is for the PyTorch backend, not {backend}")
        backend = "pytorch"
    torch_kw = {"compile": True} if compile else {}
    if path.is_file():
        fmt = runtime.format_of(path)
        if backend not in ("auto", fmt.name):
            raise HRMError(f"{path} is a {fmt.name} artefact; it cannot run on {backend}")
        if fmt.name == "pytorch":
            path = path.parent
        return runtime.backend_class(fmt.name)(path, device=device, **torch_kw)
    tried = []
    if backend in ("auto", "tensorrt"):
        for engine in sorted(path.glob("*.engine")):
            try:
                return runtime.backend_class("tensorrt")(engine, device=device)
            except (ArtefactError, MissingExtraError) as exc:
                if backend == "tensorrt":
                    raise
                tried.append(f"{engine.name}: {exc}")
        if backend == "tensorrt":
            raise ArtefactError(f"{path}: no TensorRT engine; build one with: hrm export tensorrt {path}")
    if backend in ("auto", "onnxruntime"):
        onnx = path / "model.onnx"
        if onnx.is_file():
            return runtime.backend_class("onnx")(onnx, device=device)
        if backend == "onnxruntime":
            raise ArtefactError(f"{path}: no model.onnx; export one with: hrm export onnx {path}")
    if (path / "model.safetensors").is_file():
        return runtime.backend_class("pytorch")(path, device=device, **torch_kw)
    raise ArtefactError(f"{path}: nothing runnable (no engine, model.onnx or model.safetensors)"
                        + (f"; tried {'; '.join(tried)}" if tried else ""))


def task_views(task: str, k: int) -> Views:
    """The K test-time views of a task for ``hrm_sdk.runtime.views``: fixed Sudoku symmetries (identity first) or
    the first K dihedral transforms of a maze. Raises HRMError for a K the task cannot have (ARC votes over the
    augmented versions of its own pipeline)."""
    if task == "sudoku":
        from hrm_sdk.data import sudoku

        ts = sudoku.view_transforms(k)
        return Views(k, lambda tokens, v: ts[v].apply_tokens(tokens), lambda tokens, v: ts[v].invert_tokens(tokens))
    if task == "maze":
        from hrm_sdk.data import maze

        ds = maze.view_transforms(k)
        return Views(k, lambda tokens, v: maze.apply_dihedral(tokens, ds[v]),
                     lambda tokens, v: maze.invert_dihedral(tokens, ds[v]))
    raise HRMError(f"test-time views are for sudoku and maze, not {task} (ARC votes over its own augmented versions)")


@dataclass
class SolverConfig:
    batch_size: int = 64
    max_steps: int | None = None  # None: the model's halt_max_steps
    min_steps: int = 1
    halting: str = "q"  # "q" (stop when the model is confident) or "max" (always max_steps)


class Solver:
    task = ""
    views: Views | None = None  # test-time views (subclasses that support them); None: the puzzle as given

    def __init__(self, model: str | Path | None = None, backend: str = "auto", device: str | None = None,
                 batch_size: int = 64, max_steps: int | None = None, min_steps: int = 1, halting: str = "q"):
        self.model_path = registry.resolve(model, self.task)
        self.backend = open_backend(self.model_path, backend, device)
        meta = self.backend.meta
        if meta.task != self.task:
            raise HRMError(f"{self.model_path} is a {meta.task} model; it cannot solve {self.task} puzzles")
        self.config = SolverConfig(batch_size, max_steps, min_steps, halting)
        self.policy = ACTPolicy(max_steps=max_steps, min_steps=min_steps, halting=halting)
        self.policy.resolve(meta.halt_max_steps)  # validate now, not mid-run
        self.on_result = None
        log.info("%s solver: %s on %s", self.task, self.model_path, self.backend.describe())

    @property
    def meta(self):
        return self.backend.meta

    def run_views(self, inputs, views: Views, keep_logits: bool = False):
        """``hrm_sdk.runtime.run_views`` with this solver's batch size and policy; `self.on_result`, if set, is
        called once per puzzle when all its views are done."""
        return run_views(self.backend, inputs, views, batch_size=self.config.batch_size, policy=self.policy,
                         keep_logits=keep_logits, on_puzzle=self.on_result)

    def run(self, items, policy: ACTPolicy | None = None, keep_logits: bool = False):
        """The ACT loop over (tokens, puzzle_id) items; results in input order. `self.on_result`, if set,
        is called once per finished puzzle (the CLI's progress bar)."""
        results = []
        for r in run_act(self.backend, items, self.config.batch_size, policy or self.policy, keep_logits):
            results.append(r)
            if self.on_result is not None:
                self.on_result()
        results.sort(key=lambda r: r.index)
        return results
