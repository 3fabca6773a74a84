"""Typed puzzle solvers on top of the hrm_sdk runtime.

    from hrm_sdk.solvers import SudokuSolver
    result = SudokuSolver().solve("53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79")
    result.solved, result.route, result.grid

Every solver loads a model (the bundled default, a model directory, an .onnx or an .engine), picks the best
available backend, runs the ACT loop, and checks each answer before calling it solved. Importing this
package is cheap; nothing here imports torch unless the PyTorch backend is chosen.
"""

from __future__ import annotations

__all__ = ["SudokuSolver", "MazeSolver", "ARCSolver"]


def __getattr__(name: str):
    if name == "SudokuSolver":
        from .sudoku import SudokuSolver

        return SudokuSolver
    if name == "MazeSolver":
        from .maze import MazeSolver

        return MazeSolver
    if name == "ARCSolver":
        from .arc import ARCSolver

        return ARCSolver
    raise AttributeError(name)
