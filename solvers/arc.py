"""ARCSolver: two ranked attempts per test input of an ARC task, by augmentation voting.

    solver = ARCSolver("path/to/arc-model")
    r = solver.solve("task.json")          # ARCResult: r.attempts[i] = [grid, grid] for test input i
    rs = solver.solve_many(arc.parse_tasks(text, "challenges.json", errors="collect"))  # a batch; bad tasks: r.error

Two routes, both ending in augmentation voting (every version predicts the test inputs; predictions are
de-augmented and ranked by vote count, then mean halting confidence; the top two become the attempts):

- ``known``: the model was trained on this task (its id is in the model's ``arc_versions.npz``, written by the
  trainer), so each trained version's puzzle embedding is used as is.
- ``fitted``: any other task. A fresh puzzle embedding (one per augmented version, dihedral x colour permutation,
  or one per task for a model trained that way) is fitted on the task's demonstration pairs
  (``hrm_sdk.training.embedding_fit``), within ``fit_steps``, with the token loss the network was trained with
  (``fit_loss="auto"``, read from the model card). ``tune="all"`` (the default) fine-tunes the whole network
  with it, one task at a time, holding one demonstration pair out (under every version) to keep the best state
  and stop early; ``tune="embedding"`` keeps the network frozen and fits several tasks in one batch. A fit whose
  loss turns non-finite or rises gives the task an ``error`` result, never an answer. Fitting needs gradients,
  so the solver runs on the PyTorch backend.

A model trained on canvas-size buckets (``hrm data build arc --buckets``; its card lists the sides) runs each task
on the canvas it was trained on (a known task) or on the smallest that holds its grids (``arc.task_side``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrm_sdk.tasks import arc
from hrm_sdk.tasks.arc.voting import vote
from hrm_sdk.tasks.text import ItemError, settle
from hrm_sdk.errors import FitError, HRMError, PuzzleParseError

from .base import Solver

log = logging.getLogger(__name__)


@dataclass
class ARCResult:
    task_id: str
    attempts: list  # per test input: up to `attempts` grids (lists of lists), best first
    candidates: list  # per test input: [{"grid", "votes", "mean_q"}] of every distinct answer
    route: str  # "known": the model's trained embeddings; "fitted": embeddings fitted on the demonstrations
    fit_loss: tuple[float, float] | None  # demonstration loss at the start and the end of fitting ("fitted")
    seconds: float
    correct: list | None = None  # per test input, when the task file has test outputs: in the attempts?
    matched: list | None = None  # the same: the number (1-based) of the attempt that matched, or None
    extra: dict = field(default_factory=dict)
    error: str | None = None  # why the task was not answered (it could not be read: file:line and what); or None

    @classmethod
    def unreadable(cls, item: ItemError) -> "ARCResult":
        """The result of a task of a batch that could not be read: no attempts, ``error`` says where and what."""
        return cls(task_id=item.name or Path(item.source).stem, attempts=[], candidates=[], route="", fit_loss=None,
                   seconds=0.0, error=item.message)

    def to_dict(self) -> dict:
        return {"task": self.task_id, "attempts": self.attempts, "route": self.route or None,
                "fit_loss": [round(x, 4) for x in self.fit_loss] if self.fit_loss else None,
                "fit": self.extra.get("fit"), "seconds": round(self.seconds, 3),
                "correct": self.correct, "candidates": self.candidates, "error": self.error}

    def submission(self, attempts: int = 2) -> dict:
        """This task in the ARC Prize submission shape; a missing attempt (no decodable answer) is [[0]]; a task
        that could not be read, ``{"error": ...}`` in place of its attempts."""
        if self.error is not None:
            return {self.task_id: {"error": self.error}}
        return {self.task_id: [{f"attempt_{k + 1}": att[k] if k < len(att) else [[0]] for k in range(attempts)}
                               for att in self.attempts]}


class ARCSolver(Solver):
    task = "arc"

    def __init__(self, model=None, backend: str = "pytorch", device: str | None = None, batch_size: int = 64,
                 max_steps: int | None = None, versions: int = 8, fit_steps: int = 200, fit_lr: float = 1e-2,
                 attempts: int = 2, seed: int = 0, route: str = "auto", fit_loss: str = "auto",
                 compile: bool = False, tune: str = "all", tune_lr: float = 1e-4):
        if backend not in ("pytorch", "auto"):
            raise HRMError("ARC tasks need the PyTorch backend (embeddings are fitted with gradients)")
        if route not in ("auto", "fitted"):
            raise HRMError(f"route {route!r}: use auto (trained embeddings when the model knows the task) or fitted")
        for name, value in (("versions", versions), ("fit steps", fit_steps), ("attempts", attempts)):
            if value < 1:
                raise HRMError(f"ARC {name} must be at least 1, got {value}")
        if fit_loss not in ("auto", "softmax", "stablemax"):
            raise HRMError(f"fit loss {fit_loss!r}: use auto (the model's training loss), softmax or stablemax")
        if tune not in ("embedding", "all"):
            raise HRMError(f"tune {tune!r}: use all (fine-tune the network with the embedding) or embedding")
        if not tune_lr > 0:
            raise HRMError(f"ARC tune lr must be positive, got {tune_lr}")
        super().__init__(model, "pytorch", device, batch_size, max_steps)
        self.versions, self.fit_steps, self.fit_lr, self.attempts, self.seed = versions, fit_steps, fit_lr, attempts, seed
        self.route = route
        self.fit_loss = self._trained_loss() if fit_loss == "auto" else fit_loss
        self.compile = compile  # fit through a torch.compile'd segment (made at the first fit, then reused)
        self.tune, self.tune_lr = tune, tune_lr
        from hrm_sdk.checkpoint import read_card

        self.canvas_sides = tuple(read_card(self.model_path).get("dataset", {}).get("build", {}).get("buckets") or ())

    result_key = None  # one task per request, answered with its --format jsonl object
    request_item = "task"
    request_options = {"task_id": str}
    shared_loop = False

    @classmethod
    def parse_text(cls, text: str, source: str = "<input>") -> list[arc.ArcTask]:
        return [arc.parse_task(text, source)]

    @classmethod
    def check_item(cls, item, where: str) -> arc.ArcTask:
        if not isinstance(item, dict):
            raise HRMError(f"{where}: expected an ARC task {{'train': [...], 'test': [...]}}, "
                           f"got {type(item).__name__}")
        import json

        return arc.parse_task(json.dumps(item), where, task_id="task")

    def solve_items(self, items: list, options: dict, source: str = "<request>") -> list[ARCResult]:
        import dataclasses

        return [self.solve(dataclasses.replace(t, id=options.get("task_id", t.id))) for t in items]

    def _trained_loss(self) -> str:
        """The token loss in the model card's training config (softmax for cards without one)."""
        from hrm_sdk.checkpoint import read_card

        loss = read_card(self.model_path).get("train_config", {}).get("train", {}).get("loss", "softmax")
        return loss if loss in ("softmax", "stablemax") else "softmax"

    def known_versions(self, task_id: str) -> tuple[list, np.ndarray, int] | None:
        """(augmentations, puzzle ids, canvas side) of the versions the model was trained on for this task, if any."""
        path = self.model_path / "arc_versions.npz" if self.model_path.is_dir() else None
        if path is None or not path.is_file():
            return None
        tasks, table, trained = arc.load_versions(path)
        if task_id not in tasks or not trained[tasks.index(task_id)]:
            return None
        vs = np.flatnonzero(table.task == tasks.index(task_id))
        sides = arc.load_task_sides(path)
        side = arc.MAX_SIZE if sides is None else int(sides[tasks.index(task_id)])
        return [table[int(v)] for v in vs], table.puzzle_ids(vs, arc.load_embedding_mode(path)), side

    def _side(self, task: arc.ArcTask) -> int:
        """The canvas side a new task runs on: the smallest bucket that holds it, 30 for an unbucketed model."""
        return arc.task_side(task, self.canvas_sides) if self.canvas_sides else arc.MAX_SIZE

    def solve_many(self, tasks) -> list[ARCResult]:
        """Each task of a batch in turn (``solve``), results in input order: ArcTasks, task dicts, task files or
        JSON texts, and ItemErrors (``arc.parse_tasks(..., errors="collect")``). A task that cannot be read gets
        a result of its own with ``error`` set and no compute spent on it; only a batch of which not one task
        can be read is refused with PuzzleParseError."""
        items = []
        for k, t in enumerate(tasks):
            try:
                items.append(t if isinstance(t, ItemError) else self._task(t))
            except PuzzleParseError as exc:
                items.append(ItemError.of(exc, None if exc.source != "<task>" else f"task {k + 1}"))
        if not items:
            raise HRMError("no ARC tasks given")
        return [ARCResult.unreadable(t) if isinstance(t, ItemError) else self.solve(t) for t in settle(items, "task")]

    def solve(self, task) -> ARCResult:
        t0 = time.perf_counter()
        task = self._task(task)
        known = self.known_versions(task.id) if self.route == "auto" else None
        if known is not None:
            augs, ids, side = known
            results = self._predict(task, augs, ids, side)
            return self._result(task, augs, results, "known", None, t0, side)
        return self._solve_fitted(task, t0)

    @classmethod
    def evaluate(cls, data, options) -> dict:
        """``hrm eval arc``: the known route votes over a built test split's versions (``evaluate_arc``); the
        fitted route fits embeddings per task on tasks with known outputs (``evaluate_arc_fitted``). The record
        carries its one-line summary under ``summary``."""
        from .evaluate import evaluate_arc, evaluate_arc_fitted

        o = options
        o.refuse(("views",), "for sudoku and maze; ARC votes over its own augmented versions")
        o.refuse(("precision",), "for sudoku and maze (ARC runs bf16 on a GPU, fp32 on a CPU)")
        o.refuse(("repair",), "for sudoku")
        if o.route == "fitted":
            record = evaluate_arc_fitted(o.model, data, o.limit, o.device, o.versions, o.fit_steps, fit_loss=o.fit_loss,
                                         tasks_per_batch=o.tasks_per_batch, start=o.start, records=o.records,
                                         compile=o.compile, tune=o.tune)
            record["summary"] = (f"ARC, fitted route: {record['tasks']} tasks from {data}, {o.versions} versions, "
                                 f"{o.fit_steps} fitting steps ({record['fit_loss_kind']} loss, tune {o.tune}; "
                                 f"{record['failed_fits']} failed fits), "
                                 f"{record['seconds_per_task']:.2f} s per task: pass@1 {record['pass@1']:.2%}, "
                                 f"pass@2 {record['pass@2']:.2%}")
            return record
        if o.route != "known":
            raise HRMError(f"--route {o.route}: use known or fitted")
        o.refuse(("start", "records", "tune"), "for the ARC fitted route (--route fitted)")
        if o.votes < 0:
            raise HRMError(f"--votes must be 0 (all) or more, got {o.votes}")
        record = evaluate_arc(o.model, data, o.limit, o.backend, o.device, o.batch_size, compile=o.compile,
                              votes=o.votes)
        record["summary"] = (f"ARC: {record['tasks']} tasks, {record['rows']} augmented test inputs, "
                             f"{record['segments']} segments in {record['seconds']:.1f} s: pass@1 "
                             f"{record['pass@1']:.2%}, pass@2 {record['pass@2']:.2%}")
        return record

    def _predict(self, task, augs, ids, side: int):
        items = [(_encode(aug.apply(inp), side), int(pid)) for aug, pid in zip(augs, ids) for inp, _ in task.test]
        return self._run_with_table(items, None, side)

    def _run_with_table(self, items, table, side: int = arc.MAX_SIZE):
        """The ACT loop over (tokens, row) items on a side x side canvas, rows indexing `table` (fitted
        embeddings) when given."""
        own = self.backend
        self.backend = own.on_canvas(side * side)  # the same network; its own slots for this canvas
        try:
            with own.puzzle_table(table):
                return self.run(items)
        finally:
            self.backend = own

    def _per_task_embedding(self) -> bool:
        """Whether the model was trained with one embedding per task (shared by its versions): then the fitted
        route fits one embedding per task, else one per version."""
        from hrm_sdk.checkpoint import read_card

        return read_card(self.model_path).get("dataset", {}).get("build", {}).get("embedding") == "task"

    def _solve_fitted(self, task, t0) -> ARCResult:
        return self.fit_and_solve([task], t0)[0]

    def fit_and_solve(self, tasks: list, t0: float | None = None) -> list[ARCResult]:
        """The fitted route for several tasks. ``tune="embedding"``: their embeddings are fitted in one batch
        (each task keeps its own rows in flight, ``embedding_fit``) and their test inputs predicted together,
        which keeps a GPU busy where one task's 16-row batches do not; each result's ``seconds`` is its share of
        the wall time. ``tune="all"``: one task after another, each with weights of its own."""
        t0 = time.perf_counter() if t0 is None else t0
        tasks = [self._task(t) for t in tasks]
        if self.tune == "all":
            return [r for k, task in enumerate(tasks)
                    for r in self._fit_or_fail([task], t0 if k == 0 else time.perf_counter())]
        by_side: dict[int, list[int]] = {}  # tasks fitted in one batch share a canvas
        for k, task in enumerate(tasks):
            by_side.setdefault(self._side(task), []).append(k)
        out: list = [None] * len(tasks)
        for ks in by_side.values():
            for k, r in zip(ks, self._fit_or_fail([tasks[k] for k in ks], t0)):
                out[k] = r
        return out

    def _fit_or_fail(self, tasks: list, t0: float) -> list[ARCResult]:
        """``_fit_group``; a failed fit (``FitError``: the loss turned non-finite or rose) gives each of its tasks
        an error result instead of answers."""
        try:
            return self._fit_group(tasks, t0)
        except FitError as exc:
            log.warning("%s: %s", ", ".join(t.id for t in tasks), exc)
            return [ARCResult(task_id=t.id, attempts=[], candidates=[], route="fitted", fit_loss=None,
                              seconds=time.perf_counter() - t0, error=str(exc)) for t in tasks]

    def _fit_group(self, tasks: list, t0: float) -> list[ARCResult]:
        aug_sets = [arc.task_augmentations(t, self.versions - 1, np.random.default_rng(self.seed)) for t in tasks]
        side = max(self._side(t) for t in tasks)
        per_task = self._per_task_embedding()
        # Row of the fitted table per (task k, version v): one per version, or one per task.
        offsets = np.concatenate([[0], np.cumsum([1 if per_task else len(a) for a in aug_sets])])
        row = (lambda k, v: offsets[k]) if per_task else (lambda k, v: offsets[k] + v)  # noqa: E731
        demo_in, demo_out, demo_ver, demo_task, held = [], [], [], [], []
        for k, (task, augs) in enumerate(zip(tasks, aug_sets)):
            for v, aug in enumerate(augs):
                for j, (inp, out) in enumerate(task.train):
                    demo_in.append(_encode(aug.apply(inp), side))
                    demo_out.append(_encode(aug.apply(out), side))
                    demo_ver.append(row(k, v))
                    demo_task.append(k)
                    # fine-tuning: the last demonstration pair is held out (when there are two or more)
                    held.append(self.tune == "all" and len(task.train) > 1 and j == len(task.train) - 1)
        if self.backend.device.type == "cpu":
            log.warning("fitting %d embeddings%s for %d steps on the CPU, which is slow: 8 embeddings take about "
                        "18 s a step on 2 cores (an hour for the default 200 steps; a GPU needs seconds in all)",
                        int(offsets[-1]), " and the network" if self.tune == "all" else "", self.fit_steps)
        fit = self.backend.fit_puzzle_embeddings(np.stack(demo_in), np.stack(demo_out), np.asarray(demo_ver),
                                                 int(offsets[-1]), compile=self.compile, steps=self.fit_steps,
                                                 lr=self.fit_lr, seed=self.seed, loss=self.fit_loss,
                                                 groups=np.asarray(demo_task), tune=self.tune, net_lr=self.tune_lr,
                                                 holdout=np.asarray(held) if any(held) else None)
        items = [(_encode(aug.apply(inp), side), int(row(k, v)))
                 for k, (task, augs) in enumerate(zip(tasks, aug_sets))
                 for v, aug in enumerate(augs) for inp, _ in task.test]
        with self.backend.network_weights(fit.network):
            results = self._run_with_table(items, fit.table, side)
        share = (time.perf_counter() - t0) / len(tasks)
        out, start = [], 0
        for k, (task, augs) in enumerate(zip(tasks, aug_sets)):
            n = len(augs) * len(task.test)
            losses = fit.group_losses[:, k]
            r = self._result(task, augs, results[start:start + n], "fitted",
                             (float(losses[0]), float(np.mean(losses[-10:]))), t0, side)
            r.seconds = share
            r.extra["fit"] = {"tune": self.tune, "steps": len(fit.losses), "best_step": fit.best_step,
                              "holdout": fit.holdout[-1] if fit.holdout else None}
            out.append(r)
            start += n
        return out

    def _result(self, task, augs, results, route, fit_loss, t0, side: int = arc.MAX_SIZE) -> ARCResult:
        keys = [(i, v) for v in range(len(augs)) for i in range(len(task.test))]
        preds = arc.pad_canvas(np.stack([r.prediction for r in results]).astype(np.uint8), side)
        ranked = vote([task.id] * len(keys), [k[0] for k in keys], [k[1] for k in keys], preds,
                      np.array([r.q_halt for r in results]), augs)
        attempts, candidates, matched = [], [], []
        for i, (_, truth) in enumerate(task.test):
            cands = ranked.get((task.id, i), [])
            attempts.append([c.grid.tolist() for c in cands[: self.attempts]])
            candidates.append([{"grid": c.grid.tolist(), "votes": int(c.count), "mean_q": round(float(c.mean_q), 4)}
                               for c in cands])
            if truth is not None:
                matched.append(next((k + 1 for k, c in enumerate(cands[: self.attempts])
                                     if np.array_equal(c.grid, truth)), None))
        known = len(matched) == len(task.test)
        return ARCResult(task_id=task.id, attempts=attempts, candidates=candidates, route=route, fit_loss=fit_loss,
                         seconds=time.perf_counter() - t0, correct=[m is not None for m in matched] if known else None,
                         matched=matched if known else None)

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


def _encode(grid, side: int) -> np.ndarray:
    """A grid on a side x side canvas (the 30x30 encoding's top-left corner; the grid fits by construction)."""
    tokens = arc.encode_grid(grid)
    return tokens if side == arc.MAX_SIZE else arc.crop_canvas(tokens[None], side)[0]
