"""Pictures of puzzles and answers (``hrm solve ... --png FILE``): one PNG per call, drawn with matplotlib.

- Sudoku: one board per puzzle, the givens in black, the solver's digits in blue (an unsolved puzzle shows its
  givens alone, titled so; one that could not be read, an empty panel with its error).
- Maze: walls, start (green) and goal (red), the answer's path drawn through the cells.
- ARC: the task's demonstration pairs, then each test input with its attempts beside it and the expected output
  when the task file holds it, in ARC's ten standard colours.

matplotlib is imported only here, only when a picture is asked for (``pip install 'hrm-sdk[plots]'``), and
with the Agg backend, so no display is needed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from hrm_sdk.errors import require

# The ten ARC colours (0-9) as the ARC-AGI viewer draws them.
ARC_COLOURS = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF",
               "#870C25")


def _pyplot():
    matplotlib = require("matplotlib", "plots", "Drawing PNG pictures")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _grid_of_axes(plt, n: int, cols: int, size: float):
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _unreadable(ax, result) -> None:
    """The panel of a puzzle that could not be read: its place and the start of its error."""
    ax.axis("off")
    ax.set_title(f"{Path(result.source).name}:{result.line} not read", fontsize=9)
    reason = result.error or ""
    if reason.startswith(f"{result.source}:"):  # 'file:line:column: what' -> 'what'
        reason = re.sub(r"^(\d+:)*\s*", "", reason[len(result.source) + 1:])
    ax.text(0.5, 0.5, reason[:40] + ("..." if len(reason) > 40 else ""), ha="center", va="center", fontsize=8,
            wrap=True, transform=ax.transAxes)


def sudoku(results, path: str | Path) -> Path:
    """Boards of ``SudokuResult``s: givens black, the answer's digits blue."""
    plt = _pyplot()
    fig, axes = _grid_of_axes(plt, len(results), min(len(results), 4), 3.2)
    for ax, r in zip(axes, results):
        if r.puzzle is None:  # a puzzle that could not be read: an empty panel that says so
            _unreadable(ax, r)
            continue
        givens = np.asarray(r.puzzle)
        answer = np.asarray(r.grid) if r.solved and r.grid is not None else None
        ax.set_xlim(0, 9)
        ax.set_ylim(9, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for k in range(10):
            w = 2.0 if k % 3 == 0 else 0.5
            ax.axhline(k, color="black", lw=w)
            ax.axvline(k, color="black", lw=w)
        for i in range(9):
            for j in range(9):
                if givens[i, j]:
                    ax.text(j + 0.5, i + 0.5, str(int(givens[i, j])), ha="center", va="center", fontsize=12,
                            color="black", weight="bold")
                elif answer is not None:
                    ax.text(j + 0.5, i + 0.5, str(int(answer[i, j])), ha="center", va="center", fontsize=12,
                            color="#1f5fbf")
        ax.set_title(f"{Path(r.source).name}:{r.line} " + (f"solved ({r.route})" if r.solved else "NOT solved"), fontsize=9)
    return _save(fig, path)


def maze(results, path: str | Path) -> Path:
    """Mazes of ``MazeResult``s: walls dark, start green, goal red, the answer's path as a line (or its marked
    cells when they do not form a path)."""
    plt = _pyplot()
    fig, axes = _grid_of_axes(plt, len(results), min(len(results), 3), 4.5)
    shade = {"#": 0.15, " ": 1.0, "S": 1.0, "G": 1.0, "o": 1.0}
    for ax, r in zip(axes, results):
        if r.maze is None:
            _unreadable(ax, r)
            continue
        rows = [list(row) for row in r.grid]
        img = np.array([[shade.get(c, 1.0) for c in row] for row in rows])
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ch, colour in (("S", "#2ECC40"), ("G", "#FF4136")):
            for i, j in zip(*np.nonzero(np.array(rows) == ch)):
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color=colour))
        if r.path:
            ys, xs = zip(*r.path)
            ax.plot(xs, ys, color="#0074D9", lw=2)
        else:
            ys, xs = np.nonzero(np.array(rows) == "o")
            ax.scatter(xs, ys, s=6, color="#0074D9")
        ax.set_xticks([])
        ax.set_yticks([])
        how = f"path of {r.length} moves" if r.solved else f"NOT solved: {r.reason}"
        ax.set_title(f"{Path(r.source).name}:{r.line} {how}", fontsize=9)
    return _save(fig, path)


def _arc_grid(ax, grid, title: str) -> None:
    from matplotlib.colors import ListedColormap

    g = np.asarray(grid)
    ax.imshow(g, cmap=ListedColormap(ARC_COLOURS), vmin=0, vmax=9, interpolation="nearest")
    ax.set_xticks(np.arange(-0.5, g.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, g.shape[0], 1), minor=True)
    ax.grid(which="minor", color="#555555", lw=0.5)
    ax.tick_params(which="both", bottom=False, left=False, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)


def arc(task, result, path: str | Path) -> Path:
    """An ARC task: one row per demonstration pair (input, output), then one row per test input with its
    attempts and, when known, the expected output."""
    plt = _pyplot()
    rows = [[(inp, "demo input"), (out, "demo output")] for inp, out in task.train]
    for i, (inp, expected) in enumerate(task.test):
        row = [(inp, f"test {i + 1} input")]
        row += [(att, f"attempt {k + 1}") for k, att in enumerate(result.attempts[i])]
        if expected is not None:
            row.append((expected, "expected"))
        rows.append(row)
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.4 * cols, 2.4 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(cols):
            if c < len(row):
                _arc_grid(axes[r][c], *row[c])
            else:
                axes[r][c].axis("off")
    fig.suptitle(task.id)
    return _save(fig, path)
