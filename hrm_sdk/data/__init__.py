"""Puzzle codecs, parsers, augmentations, generators and datasets for Sudoku, Maze and ARC.

Conventions shared by every task module (``sudoku``, ``maze``, ``arc``):

- Tokens are ``np.uint8`` arrays of shape ``[..., SEQ_LEN]``; token 0 is PAD everywhere. A label of 0 is
  ignored by the loss, so "ignore" needs no separate id.
- Each module defines ``TASK``, ``VOCAB_SIZE``, ``SEQ_LEN`` and pure-numpy ``encode``/``decode`` functions.
- Parsers raise ``hrm_sdk.errors.PuzzleParseError`` naming the source, line and column.
- Augmentations are invertible and vectorised over a batch of token rows, seeded by a ``np.random.Generator``.
- Nothing here imports torch; numba (the exact Sudoku solver) is imported only when first needed, so the
  solve path on ONNX Runtime starts fast.
"""

TASKS = ("sudoku", "maze", "arc")


def task_module(task: str):
    """The codec module of a task, imported on demand."""
    import importlib

    from ..errors import ConfigError

    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return importlib.import_module(f"{__name__}.{task}")
