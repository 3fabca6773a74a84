"""ARCSolver: two ranked attempts per test input of an ARC task, by augmentation voting.

    solver = ARCSolver("path/to/arc-model")
    r = solver.solve("task.json")          # ARCResult: r.attempts[i] = [grid, grid] for test input i

For a task the model never saw (every new task), the network is frozen and a fresh puzzle embedding is fitted
per augmented version (dihedral x colour permutation) on the task's demonstration pairs
(``hrm_sdk.training.embedding_fit``), within ``fit_steps``; then every version predicts the test inputs, the
predictions are de-augmented and voted on (count, then mean halting confidence), and the top two become the
attempts. Fitting needs gradients, so this route runs on the PyTorch backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrm_sdk.data import arc
from hrm_sdk.data.arc_voting import vote
from hrm_sdk.errors import HRMError

from .base import Solver


@dataclass
class ARCResult:
    task_id: str
    attempts: list  # per test input: up to `attempts` grids (lists of lists), best first
    candidates: list  # per test input: [{"grid", "votes", "mean_q"}] of every distinct answer
    route: str  # "fitted": embeddings fitted on the demonstrations
    fit_loss: tuple[float, float]  # demonstration loss at the start and the end of fitting
    seconds: float
    correct: list | None = None  # per test input, when the task file has test outputs: in the attempts?
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"task": self.task_id, "attempts": self.attempts, "route": self.route,
                "fit_loss": [round(x, 4) for x in self.fit_loss], "seconds": round(self.seconds, 3),
                "correct": self.correct, "candidates": self.candidates}

    def submission(self) -> dict:
        """This task in the ARC Prize submission shape."""
        return {self.task_id: [{f"attempt_{k + 1}": a for k, a in enumerate(att)} for att in self.attempts]}


class ARCSolver(Solver):
    task = "arc"

    def __init__(self, model=None, backend: str = "pytorch", device: str | None = None, batch_size: int = 64,
                 max_steps: int | None = None, versions: int = 8, fit_steps: int = 200, fit_lr: float = 1e-2,
                 attempts: int = 2, seed: int = 0):
        if backend not in ("pytorch", "auto"):
            raise HRMError("ARC tasks need the PyTorch backend (embeddings are fitted with gradients)")
        super().__init__(model, "pytorch", device, batch_size, max_steps)
        self.versions, self.fit_steps, self.fit_lr, self.attempts, self.seed = versions, fit_steps, fit_lr, attempts, seed

    def solve(self, task) -> ARCResult:
        import torch

        from hrm_sdk.training.embedding_fit import fit_puzzle_embeddings

        t0 = time.perf_counter()
        task = self._task(task)
        augs = arc.task_augmentations(task, self.versions - 1, np.random.default_rng(self.seed))
        demo_in, demo_out, demo_ver = [], [], []
        for v, aug in enumerate(augs):
            for inp, out in task.train:
                x, y = arc.encode_pair(aug.apply(inp), aug.apply(out))
                demo_in.append(x)
                demo_out.append(y)
                demo_ver.append(v)
        model = self.backend.graph.model
        fit = fit_puzzle_embeddings(model, np.stack(demo_in), np.stack(demo_out), np.asarray(demo_ver), len(augs),
                                    steps=self.fit_steps, lr=self.fit_lr, seed=self.seed, device=self.backend.device)
        items, keys = [], []
        for v, aug in enumerate(augs):
            for i, (inp, _) in enumerate(task.test):
                items.append((arc.encode_grid(aug.apply(inp)), v))
                keys.append((i, v))
        saved = model.puzzle_emb
        try:
            model.puzzle_emb = fit.table.to(saved.dtype)
            with torch.no_grad():
                results = self.run(items)
        finally:
            model.puzzle_emb = saved
        preds = np.stack([r.prediction for r in results]).astype(np.uint8)
        ranked = vote([task.id] * len(keys), [k[0] for k in keys], [k[1] for k in keys], preds,
                      np.array([r.q_halt for r in results]), augs)
        attempts, candidates, correct = [], [], []
        for i, (_, truth) in enumerate(task.test):
            cands = ranked.get((task.id, i), [])
            attempts.append([c.grid.tolist() for c in cands[: self.attempts]])
            candidates.append([{"grid": c.grid.tolist(), "votes": int(c.count), "mean_q": round(float(c.mean_q), 4)}
                               for c in cands])
            if truth is not None:
                correct.append(any(np.array_equal(c.grid, truth) for c in cands[: self.attempts]))
        return ARCResult(task_id=task.id, attempts=attempts, candidates=candidates, route="fitted",
                         fit_loss=(fit.losses[0], float(np.mean(fit.losses[-10:]))), seconds=time.perf_counter() - t0,
                         correct=correct if len(correct) == len(task.test) else None)

    @staticmethod
    def _task(task) -> arc.ArcTask:
        if isinstance(task, arc.ArcTask):
            return task
        if isinstance(task, dict):
            import json

            return arc.parse_task(json.dumps(task), "<task>")
        if isinstance(task, (str, Path)) and Path(task).is_file():
            return arc.load_task(task)
        if isinstance(task, str):
            return arc.parse_task(task, "<task>")
        raise HRMError(f"cannot read an ARC task from {type(task).__name__}")
