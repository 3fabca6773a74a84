"""Maze-Hard: codec, parser, path checks, dihedral augmentation, generator and dataset build.

A maze is a grid of ``# SGo`` characters (wall, open, start, goal, path), row-major. The benchmark mazes are
30x30 (``SEQ_LEN`` 900); parsing and checking work for any size, and ``Maze.shape`` tells the solver layer
what it got.

Tokens: PAD=0, ``#``=1, `` ``=2, ``S``=3, ``G``=4, ``o``=5 (``VOCAB_SIZE`` 6). The input is the maze, the label
is the same grid with one shortest path's cells marked ``o``; every cell is supervised.

Which shortest path. Maze-Hard's ``answer`` marks the path that breadth-first search from S finds when it
visits neighbours in the order down, left, right, up and keeps the first parent that reaches a cell;
equivalently, the lexicographically smallest move sequence from S with down < left < right < up. This rule
reproduces all 2,000 answers of train.csv and test.csv (``scripts/analyze_maze_tiebreak.py``).
``canonical_answer`` marks it, the generator labels with it, and ``augment_batch(..., relabel=True)`` re-marks
it after a rotation or reflection, so every label a model sees follows one rule.

Usage::

    from hrm_sdk.tasks import maze
    mazes = maze.parse_file("my.maze")               # list[Maze]; PuzzleParseError names line and column
    tokens = maze.encode(mazes[0].grid)              # uint8 [900]
    answer = maze.canonical_answer(mazes[0])         # the benchmark's path, tokens [900]
    check = maze.check_path(mazes[0], model_output)  # PathCheck(valid, optimal, length, shortest, reason)
    seen = maze.apply_dihedral(tokens, 1)            # rot90; invert_dihedral undoes it (test-time views)
    maze.build("data/maze", "../shared/data/maze-hard", generate=10_000)

Input files: a maze is consecutive rows of ``# SGo`` characters; an empty line separates mazes; a line of
exactly 900 characters is a whole 30x30 maze (so one maze per line also works); a file starting with the
dataset header ``index,question,answer,...`` is read as the Maze-Hard CSV. Path marks ``o`` in an input are
tolerated: the maze (``Maze.grid``) treats them as open cells and ``Maze.marked`` keeps the marked grid, so a
solved maze can be checked. A row of only spaces is an all-open row when it has the maze's width; any other
blank line separates mazes.

The modules: ``codec`` (constants, ``Maze``, encode/decode), ``parse`` (text and CSV), ``paths`` (BFS and
checks), ``augment`` (dihedral transforms, views, sampler), ``kernels`` (numba, imported on first use),
``generate`` (the generator) and ``build`` (the dataset). numba compiles the generator and the batch
relabelling on first use; parsing, encoding and the checks are plain numpy. ``SPEC`` is the task's
``hrm_sdk.tasks.Task``.
"""

from __future__ import annotations

from pathlib import Path

from ..base import Task
from .augment import *  # noqa: F401,F403
from .build import build  # noqa: F401
from .codec import *  # noqa: F401,F403
from .generate import generate, generate_many  # noqa: F401

from .parse import *  # noqa: F401,F403
from .paths import *  # noqa: F401,F403
from .augment import apply_dihedral, invert_dihedral, make_sampler, view_transforms
from .codec import SEQ_LEN, TASK, VOCAB_SIZE
from .parse import parse_file, read_csv
from .paths import valid_optimal

EXAMPLES = Path(__file__).parent / "examples.txt"


def relabel_batch(inputs):
    """``canonical_answers`` for token rows ``[B, H*W]`` (numba; ``kernels.relabel_batch``)."""
    from .kernels import relabel_batch

    return relabel_batch(inputs)


class MazeSpec(Task):
    name, vocab_size, seq_len = TASK, VOCAB_SIZE, SEQ_LEN
    source_hint = "maze-hard"
    answer_check_names = ("valid_shortest_path",)
    make_sampler = staticmethod(make_sampler)
    build = staticmethod(build)

    def read_puzzle_file(self, path):
        inputs, labels, _ = read_csv(path)
        return inputs, labels

    def example_items(self):
        return [(m.tokens, 0) for m in parse_file(EXAMPLES)]

    def view_maps(self, k):
        ds = view_transforms(k)
        return (lambda tokens, v: apply_dihedral(tokens, ds[v])), (lambda tokens, v: invert_dihedral(tokens, ds[v]))

    def answer_checks(self, inputs, predictions):
        import numpy as np

        return {"valid_shortest_path": valid_optimal(np.asarray(inputs), np.asarray(predictions).astype(np.uint8))}


SPEC = MazeSpec()
