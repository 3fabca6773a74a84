"""Breadth-first search and path checks (plain numpy, batched over mazes)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .codec import Maze, CHARSET, GOAL, MOVES, OPEN, PAD, PATH, START, WALL, _square, as_grid

log = logging.getLogger(__name__)


def _shift_or(frontier: np.ndarray) -> np.ndarray:
    """Cells 4-adjacent to any frontier cell, for a batch ``[B, H, W]``."""
    out = np.zeros_like(frontier)
    out[:, 1:, :] |= frontier[:, :-1, :]
    out[:, :-1, :] |= frontier[:, 1:, :]
    out[:, :, 1:] |= frontier[:, :, :-1]
    out[:, :, :-1] |= frontier[:, :, 1:]
    return out


def bfs_distances(passable: np.ndarray, sources: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """Moves from the nearest source through passable cells, for a batch ``[B, H, W]``; -1 where unreachable.
    With ``targets``, stops once every maze's target is reached (farther cells stay -1)."""
    dist = np.where(sources, 0, -1).astype(np.int32)
    visited = sources.copy()
    frontier = sources.copy()
    d = 0
    while frontier.any():
        if targets is not None and (visited | ~targets).all():
            break
        d += 1
        frontier = _shift_or(frontier) & passable & ~visited
        visited |= frontier
        dist[frontier] = d
    return dist


def _batch_grids(mazes) -> np.ndarray:
    """Token rows ``[B, H*W]`` (square) or ``[B, H, W]`` -> ``[B, H, W]`` with path marks cleared."""
    arr = np.asarray(mazes)
    if arr.ndim == 2:
        arr = arr.reshape(len(arr), *_square(arr.shape[1]))
    return np.where(arr == PATH, np.uint8(OPEN), arr).astype(np.uint8)


def shortest_path_lengths(mazes: np.ndarray) -> np.ndarray:
    """BFS moves from S to G for a batch of mazes (tokens ``[B, H*W]`` or ``[B, H, W]``); -1 when G is
    unreachable or S/G is missing."""
    grids = _batch_grids(mazes)
    start, goal = grids == START, grids == GOAL
    dist = bfs_distances((grids != WALL) & (grids != PAD), start, goal)
    at_goal = np.where(goal, dist, -1).max(axis=(1, 2))  # one goal per maze
    return np.where(start.any(axis=(1, 2)), at_goal, -1)


def shortest_path_length(maze) -> int | None:
    """Moves on a shortest 4-neighbour path from S to G through non-wall cells (Maze-Hard's
    ``shortest_path_steps``); None when G is unreachable."""
    steps = int(shortest_path_lengths(as_grid(maze)[None])[0])
    return None if steps < 0 else steps


def count_shortest_paths(maze) -> int:
    """How many distinct shortest S->G paths the maze has (Maze-Hard's ``num_shortest_paths``); 0 when none.
    Dynamic programming over BFS layers from S, in int64 while the counts are small, else exact Python ints."""
    grid = np.where(as_grid(maze) == PATH, OPEN, as_grid(maze))
    start, goal = grid == START, grid == GOAL
    dist = bfs_distances(((grid != WALL) & (grid != PAD))[None], start[None], goal[None])[0]
    if not (goal & (dist >= 0)).any():
        return 0
    target = int(dist[goal][0])
    counts = start.astype(np.int64)
    for d in range(1, target + 1):
        prev = np.where(dist == d - 1, counts, 0)
        if prev.dtype == np.int64 and prev.max() > 2 ** 60:
            prev = prev.astype(object)  # four neighbours summed must stay below 2**63
        total = np.zeros_like(prev)
        total[1:, :] += prev[:-1, :]
        total[:-1, :] += prev[1:, :]
        total[:, 1:] += prev[:, :-1]
        total[:, :-1] += prev[:, 1:]
        counts = np.where(dist == d, total, counts)
    return int(counts[goal][0])


def canonical_answers(mazes: np.ndarray) -> np.ndarray:
    """The benchmark's answer for a batch of mazes (tokens ``[B, H*W]`` or ``[B, H, W]``, same shape out):
    the lexicographically first shortest path from S in move order down, left, right, up, marked ``o``.
    Mazes whose goal is unreachable come back unmarked."""
    arr = np.asarray(mazes)
    grids = _batch_grids(arr)
    b, h, w = grids.shape
    out = grids.copy()
    goal = grids == GOAL
    dist = bfs_distances((grids != WALL) & (grids != PAD), goal)  # moves to G
    rows = np.arange(b)
    has_start = (grids == START).any(axis=(1, 2))
    flat_start = (grids == START).reshape(b, -1).argmax(1)
    r, c = flat_start // w, flat_start % w
    active = has_start & (dist[rows, r, c] > 1)
    while active.any():
        here = dist[rows, r, c]
        nr, nc = r.copy(), c.copy()
        chosen = ~active
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            ok = ~chosen & inside
            ok[ok] = dist[rows[ok], rr[ok], cc[ok]] == here[ok] - 1
            nr[ok], nc[ok] = rr[ok], cc[ok]
            chosen |= ok
        r, c = nr, nc
        out[rows[active], r[active], c[active]] = PATH
        active &= dist[rows, r, c] > 1
    return out.reshape(arr.shape)


def canonical_answer(maze) -> np.ndarray:
    """The benchmark's answer (tokens ``[H*W]``) for one maze; see ``canonical_answers``."""
    return canonical_answers(as_grid(maze)[None])[0].reshape(-1)


def shortest_path(maze) -> list[tuple[int, int]] | None:
    """The benchmark's shortest path from S to G as (row, col) cells, S and G included; None if unreachable."""
    grid = as_grid(maze)
    if shortest_path_length(grid) is None:
        return None
    return path_from_grid(canonical_answer(grid).reshape(grid.shape))


@dataclass
class PathCheck:
    """Verdict on a predicted grid: ``valid`` (the ``o`` cells with S and G form one simple 4-connected path
    through open cells, walls/S/G unchanged), ``optimal`` (valid and as short as BFS), the path's ``length``
    in moves (None if not a path), the maze's ``shortest`` (None if unsolvable), and ``reason`` for a failure."""

    valid: bool
    optimal: bool
    length: int | None
    shortest: int | None
    reason: str = ""


def _trace(grid: np.ndarray) -> tuple[list[tuple[int, int]] | None, str]:
    """Follow the marked path of a token grid from S to G: (cells, "") or (None, why it is not one path)."""
    on = (grid == PATH) | (grid == START) | (grid == GOAL)
    starts, goals = np.argwhere(grid == START), np.argwhere(grid == GOAL)
    if len(starts) != 1 or len(goals) != 1:
        return None, f"expected one S and one G, found {len(starts)} S and {len(goals)} G"
    h, w = grid.shape
    goal = tuple(int(x) for x in goals[0])

    def marked_neighbours(cell):
        r, c = cell
        return [(r + dr, c + dc) for dr, dc in MOVES
                if 0 <= r + dr < h and 0 <= c + dc < w and on[r + dr, c + dc]]

    path = [tuple(int(x) for x in starts[0])]
    seen = {path[0]}
    while path[-1] != goal:
        nxt = [n for n in marked_neighbours(path[-1]) if n not in seen]
        if len(path) > 1 and len(nxt) + 1 < len(marked_neighbours(path[-1])):
            return None, f"path touches itself at {path[-1]}"
        if not nxt:
            return None, f"path breaks off at {path[-1]}" if len(path) > 1 else "no path cell next to S"
        if len(nxt) > 1:
            return None, f"path branches at {path[-1]}"
        path.append(nxt[0])
        seen.add(nxt[0])
    if len(marked_neighbours(goal)) != 1:
        return None, f"path touches G {goal} more than once"
    stray = on.copy()
    stray[tuple(np.array(path).T)] = False
    if stray.any():
        r, c = np.argwhere(stray)[0]
        return None, f"stray path cell at {(int(r), int(c))}"
    return path, ""


def path_from_grid(pred_grid) -> list[tuple[int, int]] | None:
    """The path marked in a (predicted) grid as (row, col) cells from S to G inclusive, or None when the
    ``o`` cells with S and G are not exactly one simple path (gaps, branches, stray cells, a path touching
    itself). Walls are not checked here; see ``check_path``."""
    path, _ = _trace(as_grid(pred_grid))
    return path


def check_path(maze, predicted) -> PathCheck:
    """Check a predicted grid (tokens, characters or a ``Maze``) against the maze.

    A path that touches itself (two non-consecutive cells adjacent) is ambiguous on a grid and is counted
    invalid; an optimal path never does.
    """
    grid = as_grid(maze)
    grid = np.where(grid == PATH, np.uint8(OPEN), grid)
    shortest = shortest_path_length(grid)
    if isinstance(predicted, Maze) and predicted.marked is not None:
        predicted = predicted.marked
    pred = np.asarray(predicted)
    if pred.dtype.kind in "ui" and pred.size == grid.size:
        pred = pred.reshape(grid.shape)
    pred = as_grid(pred, grid.shape)

    def fail(reason: str, length: int | None = None) -> PathCheck:
        return PathCheck(False, False, length, shortest, reason)

    if pred.shape != grid.shape:
        return fail(f"prediction is {pred.shape}, the maze is {grid.shape}")
    bad = np.argwhere((pred == PAD) | (pred > PATH))
    if len(bad):
        return fail(f"token {int(pred[tuple(bad[0])])} at {tuple(int(x) for x in bad[0])} is not a maze cell")
    changed = np.argwhere((pred != grid) & ~((grid == OPEN) & (pred == PATH)))
    if len(changed):
        at = tuple(int(x) for x in changed[0])
        return fail(f"cell {at} is {CHARSET[pred[at] - 1]!r} in the prediction but {CHARSET[grid[at] - 1]!r}"
                    " in the maze")
    if shortest is None:
        return fail("the maze has no path from S to G")
    path, reason = _trace(pred)
    if path is None:
        return fail(reason)
    length = len(path) - 1
    if length != shortest:
        return PathCheck(True, False, length, shortest, f"path has {length} moves, the shortest has {shortest}")
    return PathCheck(True, True, length, shortest)


def valid_optimal(inputs: np.ndarray, predictions: np.ndarray, shortest: np.ndarray | None = None) -> np.ndarray:
    """Vectorised: does each predicted grid mark a shortest S->G path of its maze? (bool ``[B]``)

    Walls, S and G must be unchanged, ``o`` only on open cells, S and G with one marked neighbour, every ``o``
    with two, and exactly ``shortest - 1`` of them. Such cells form an S-G path plus possibly cycles; the path
    has at least ``shortest - 1`` cells, so the count leaves no cycles and the path is a shortest one.
    """
    grids = _batch_grids(inputs)
    pred = np.asarray(predictions).reshape(grids.shape)
    if shortest is None:
        shortest = shortest_path_lengths(grids)
    same = ((pred == grids) | ((grids == OPEN) & (pred == PATH))).all(axis=(1, 2))
    on = (pred == PATH) | (pred == START) | (pred == GOAL)
    deg = np.zeros(pred.shape, np.int8)
    deg[:, 1:, :] += on[:, :-1, :]
    deg[:, :-1, :] += on[:, 1:, :]
    deg[:, :, 1:] += on[:, :, :-1]
    deg[:, :, :-1] += on[:, :, 1:]
    ends = (pred == START) | (pred == GOAL)
    degrees_ok = (~on | (ends & (deg == 1)) | ((pred == PATH) & (deg == 2))).all(axis=(1, 2))
    count_ok = (pred == PATH).sum(axis=(1, 2)) == np.asarray(shortest) - 1
    return same & degrees_ok & count_ok & (np.asarray(shortest) > 0)
