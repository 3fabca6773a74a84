"""One package per puzzle type: ``hrm_sdk/tasks/<name>/`` holds its codec, parsers, symmetries (training
augmentation and test-time views), answer checks, dataset build, examples and task-specific metrics, behind
the small protocol of ``hrm_sdk.tasks.base.Task``. The solvers, the trainer, evaluation and the CLI look a task
up here (``get(name)``) instead of testing its name, so a new puzzle type is one package here (with a module
attribute ``SPEC``, its ``Task``) plus one solver class.

    from hrm_sdk import tasks
    spec = tasks.get("maze")                     # the Task of a dataset's or a model's ``task`` field
    spec.view_maps(4), spec.check_items(16), spec.answer_checks(inputs, predictions)
    from hrm_sdk.tasks import maze               # the codec API of one task: maze.parse_file, maze.check_path ...

Conventions shared by every task package:

- Tokens are ``np.uint8`` arrays of shape ``[..., SEQ_LEN]``; token 0 is PAD everywhere. A label of 0 is
  ignored by the loss, so "ignore" needs no separate id.
- Each package defines ``TASK``, ``VOCAB_SIZE``, ``SEQ_LEN`` and pure-numpy ``encode``/``decode`` functions.
- Parsers raise ``hrm_sdk.errors.PuzzleParseError`` naming the source, line and column.
- Augmentations are invertible and vectorised over a batch of token rows, seeded by a ``np.random.Generator``.
- Nothing here imports torch, and nothing here imports the runtime, training or anything above them; numba is
  imported only when a kernel first runs, so the solve path on ONNX Runtime starts fast.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import Task  # noqa: F401

_registered: dict[str, Task] = {}
_BUILT_IN_ORDER = ("sudoku", "maze", "arc")  # how messages list them; any other package comes after


def names() -> tuple[str, ...]:
    """Every known task: the packages here, then any registered with ``register``."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if m.ispkg]
    ordered = [n for n in _BUILT_IN_ORDER if n in found] + sorted(n for n in found if n not in _BUILT_IN_ORDER)
    return tuple(ordered + [n for n in _registered if n not in ordered])


def register(task: Task) -> Task:
    """Make a task known without a package here (tests, plug-ins); returns it."""
    _registered[task.name] = task
    return task


def unregister(name: str) -> None:
    _registered.pop(name, None)


def get(name: str) -> Task:
    """The ``Task`` of a puzzle type; ConfigError naming the known ones for any other name."""
    if name in _registered:
        return _registered[name]
    if name not in names():
        from ..errors import ConfigError

        raise ConfigError(f"unknown task {name!r}; expected one of {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}").SPEC


def make_sampler(split):
    """The training sampler for a dataset split: its task's (``Task.make_sampler``)."""
    return get(split.meta.task).make_sampler(split)


def make_samplers(split) -> list:
    """The training samplers of a split, one per row shape (``Task.make_samplers``)."""
    return get(split.meta.task).make_samplers(split)
