"""What every solver shares: resolving a model (a bundled name or a path), opening it with the runtime's one
opener (``hrm_sdk.runtime.open``: the best backend available), and running the ACT loop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hrm_sdk import runtime, tasks
from hrm_sdk.errors import HRMError
from hrm_sdk.runtime import ACTPolicy, Views, run_act, run_views

from . import registry

log = logging.getLogger(__name__)
BACKENDS = runtime.BACKENDS


def task_views(task: str, k: int) -> Views:
    """The K test-time views of a task for ``hrm_sdk.runtime.views`` (its ``Task.view_maps``: fixed Sudoku
    symmetries or the first K dihedral transforms of a maze, identity first). Raises HRMError for a K the task
    cannot have (ARC votes over the augmented versions of its own pipeline)."""
    apply, invert = tasks.get(task).view_maps(k)
    return Views(k, apply, invert)


_SOLVERS: dict = {}  # task -> Solver subclass, filled as the subclasses are defined


def solver_class(task: str):
    """The solver class of a task: a ``Solver`` subclass whose ``task`` is it (``solvers/<task>.py`` is
    imported to find it)."""
    import importlib

    tasks.get(task)  # an unknown task fails with the list of known ones
    if task not in _SOLVERS:
        try:
            importlib.import_module(f"{__package__}.{task}")
        except ModuleNotFoundError:
            pass
    if task not in _SOLVERS:
        raise HRMError(f"no solver for {task} puzzles (expected a Solver subclass in solvers/{task}.py)")
    return _SOLVERS[task]


@dataclass
class SolverConfig:
    batch_size: int = 64
    max_steps: int | None = None  # None: the model's halt_max_steps
    min_steps: int = 1
    halting: str = "q"  # "q" (stop when the model is confident) or "max" (always max_steps)


class Solver:
    task = ""
    views: Views | None = None  # test-time views (subclasses that support them); None: the puzzle as given
    pick = None  # (inputs row, ViewResult) -> (answer, confidence, extra): a solver's own choice among the votes

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "task" in cls.__dict__ and cls.task:  # a class that names its task; subclasses (stubs) do not replace it
            _SOLVERS[cls.task] = cls

    def __init__(self, model: str | Path | None = None, backend: str = "auto", device: str | None = None,
                 batch_size: int = 64, max_steps: int | None = None, min_steps: int = 1, halting: str = "q",
                 precision: str | None = None):
        self.model_path = registry.resolve(model, self.task)
        self.backend = runtime.open(self.model_path, backend, device, precision=precision)
        meta = self.backend.meta
        if meta.task != self.task:
            raise HRMError(f"{self.model_path} is a {meta.task} model; it cannot solve {self.task} puzzles")
        self.config = SolverConfig(batch_size, max_steps, min_steps, halting)
        self.policy = ACTPolicy(max_steps=max_steps, min_steps=min_steps, halting=halting)
        self.policy.resolve(meta.halt_max_steps)  # validate now, not mid-run
        self.on_result = None
        log.info("%s solver: %s on %s", self.task, self.model_path, self.backend.describe())

    # --- the JSON API (``hrm serve``, cluster batch solving): hrm_sdk.serving calls these, never a task's name ---
    result_key: str | None = "puzzles"  # the list's key in ``hrm solve TASK --format json``; None: a request holds
    # one item and is answered with its result's ``to_dict()`` (ARC: one task per request)
    request_item = "puzzle"  # a request's field for one item (and, where ``result_key`` is set, + "s" for a list)
    request_options: dict = {"views": int, "max_steps": int}  # per-request options: name -> type
    shared_loop = True  # concurrent requests may share the ACT loop (continuous batching); False: one request at
    # a time, on the solver's own default backend (ARC fits embeddings per task)

    @classmethod
    def parse_text(cls, text: str, source: str = "<input>") -> list:
        """The puzzles of a puzzle file's text, each knowing its source and line (PuzzleParseError if malformed)."""
        raise HRMError(f"{cls.task} puzzles cannot be read from a file's text")

    @classmethod
    def check_item(cls, item, where: str):
        """One puzzle as JSON carries it -> what ``solve_items`` takes, its shape and values checked before any
        compute (HRMError naming ``where``)."""
        return item

    def solve_items(self, items: list, options: dict, source: str = "<request>") -> list:
        """The results of ``items`` (parsed by ``parse_text`` or checked by ``check_item``) in order, under a
        request's own ``options`` (those of ``request_options`` other than views and max_steps, which the
        caller sets on a copy of the solver); ``source`` names a request's puzzles."""
        return self.solve_many(items)

    @classmethod
    def evaluate(cls, data, options) -> dict:
        """``hrm eval`` for this task (``solvers.evaluate.EvalOptions``): the network alone, the task's answer
        checks, the views pass and what the solver adds (``evaluation_extras``)."""
        from .evaluate import evaluate_model

        options.refuse(("route", "versions", "votes", "fit_steps", "fit_loss", "tasks_per_batch"), "for ARC")
        options.refuse(("start", "records"), "for the ARC fitted route (--route fitted)")
        options.refuse(("compile",), "for ARC")
        o = options
        return evaluate_model(o.model, cls.task, data, o.limit, o.backend, o.device, o.batch_size, o.repair,
                              views=o.views, precision=o.precision)

    def evaluation_extras(self, inputs, labels, repair: bool = True) -> dict:
        """Sections ``hrm eval`` adds for what this solver does beyond the network (Sudoku: the repair
        route); ``inputs``/``labels`` are the test set's tokens. None by default."""
        return {}

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
        for r in run_act(self.backend, list(items), self.config.batch_size, policy or self.policy, keep_logits):
            results.append(r)
            if self.on_result is not None:
                self.on_result()
        results.sort(key=lambda r: r.index)
        return results
