"""Sudoku: the codec, parsers, symmetries, checks and dataset build (``codec``), the exact numba solver
(``exact``: checks, counts solutions, rates and generates puzzles) and examples (``examples.txt``).
``SPEC`` is its ``hrm_sdk.tasks.Task``; the rest of this namespace is the codec's API."""

from __future__ import annotations

from pathlib import Path

from .codec import *  # noqa: F401,F403 (the codec's API: sudoku.encode, sudoku.parse_text ...)
from .codec import SEQ_LEN, TASK, VOCAB_SIZE, augment_batch, encode, parse_file, read_collection, view_transforms
from .codec import build as _build
from ..base import Task

EXAMPLES = Path(__file__).parent / "examples.txt"


class SudokuSpec(Task):
    name, vocab_size, seq_len = TASK, VOCAB_SIZE, SEQ_LEN
    source_hint = "sudoku"
    augment_batch = staticmethod(augment_batch)
    build = staticmethod(_build)

    def read_puzzle_file(self, path):
        p, s, _ = read_collection(path)
        return encode(p), encode(s)

    def example_items(self):
        return [(encode(p.cells), 0) for p in parse_file(EXAMPLES)]

    def view_maps(self, k):
        ts = view_transforms(k)
        return (lambda tokens, v: ts[v].apply_tokens(tokens)), (lambda tokens, v: ts[v].invert_tokens(tokens))


SPEC = SudokuSpec()
