"""The protocol every puzzle type implements (one subclass per ``hrm_sdk/tasks/<name>/`` package).

Only what the generic code needs is here: the solvers, the trainer, ``hrm eval``, ``hrm verify``, the exporters'
self-check and ``hrm data`` call these and never test a task's name. Each method's default says what a task
without that feature does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DatasetError, HRMError



class Task:
    name: str = ""
    vocab_size: int = 0
    seq_len: int = 0
    answer_check_names: tuple[str, ...] = ()  # the keys of ``answer_checks``
    source_hint: str | None = None  # folder of the shared collections ``hrm data build`` reads, or None

    # --- inputs ---------------------------------------------------------------------------------------------
    def read_puzzle_file(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, labels) tokens of a labelled puzzle file (``hrm eval --data FILE``)."""
        raise DatasetError(f"{path}: evaluate {self.name} from a dataset split directory")

    def example_items(self) -> list[tuple[np.ndarray, int]]:
        """(tokens, puzzle_id) items of the task's shipped example puzzles."""
        raise HRMError(f"no example puzzles for {self.name}")

    def check_items(self, n: int = 16) -> list[tuple[np.ndarray, int]]:
        """n (tokens, puzzle_id) items of real puzzles (the examples, repeated as needed), for parity checks
        (the export's self-check, ``hrm verify``)."""
        items = self.example_items()
        return (items * (n // max(1, len(items)) + 1))[:n]

    # --- symmetries -----------------------------------------------------------------------------------------
    def view_maps(self, k: int):
        """(apply, invert) token maps of K test-time views, view 0 the identity (``hrm_sdk.runtime.Views``).
        HRMError for a K the task cannot have."""
        raise HRMError(f"test-time views are not available for {self.name}")

    def make_sampler(self, split):
        """The training sampler of a split (``hrm_sdk.data.dataset``): rows as stored, augmented on the fly
        by ``augment_batch`` when the split asks for it."""
        from ..data.dataset import ArraySampler

        return ArraySampler(split, getattr(self, "augment_batch", None))

    def make_samplers(self, split) -> list:
        """The training samplers of a split, one per input shape the trainer keeps a batch of (ARC's canvas-size
        buckets; a sampler's ``seq_len``, when it has one, is its rows' length). Most tasks have one."""
        return [self.make_sampler(split)]

    def row_groups(self, split, rows: np.ndarray) -> list[tuple[np.ndarray, object]]:
        """Rows of an evaluation split grouped by the length they run at: [(rows, fn)], where ``fn`` maps stored
        token rows to that length (None: as stored). ARC's bucketed splits crop each task to its canvas."""
        return [(np.asarray(rows), None)]

    # --- checks and metrics ---------------------------------------------------------------------------------
    def answer_checks(self, inputs: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
        """Task-specific checks of answers beyond exact match: name -> bool ``[N]`` (Maze: valid shortest
        path). ``hrm eval`` and the trainer's evaluation report each as a rate."""
        return {}

    # --- models ---------------------------------------------------------------------------------------------
    def save_model_extras(self, directory: Path, split) -> None:
        """Files a model of this task needs beside its weights, written by the trainer with each checkpoint."""
        return None
