"""numba kernels of the maze generator and the batch relabelling.

The project's one pattern for numba (as ``hrm_sdk.tasks.sudoku.exact``): the kernels live in a module of their
own that imports numba at its top and decorates them with ``njit(cache=True)`` (compiled on first call, cached
on disk between processes); every other module imports it inside the functions that need it, so importing a
task never imports numba.

Written as plain Python over flat arrays. Grids are padded with a wall border (index (r + 1) * (w + 2) + c + 1),
so neighbours need no bounds checks, and a BFS marks the cells it reached with its own ``stamp`` instead of
clearing arrays, so it costs what it reaches.
"""

from __future__ import annotations

import numpy as np

from ...errors import require
from .codec import _square

_njit = require("numba", "train", "maze generation").njit(cache=True, nogil=True)


@_njit
def _k_bfs(passable, w2, src, dist, parent, queue, stamp, mark):
    """BFS from ``src``, neighbours in the tie-break order down, left, right, up; the first parent wins.
    Reached cells get ``stamp == mark``; returns how many, listed by distance in ``queue`` (farthest last)."""
    stamp[src] = mark
    dist[src] = 0
    parent[src] = -1
    queue[0] = src
    head, tail = 0, 1
    while head < tail:
        p = queue[head]
        head += 1
        d = dist[p] + 1
        q = p + w2  # down
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
        q = p - 1  # left
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
        q = p + 1  # right
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
        q = p - w2  # up
        if passable[q] and stamp[q] != mark:
            stamp[q] = mark
            dist[q] = d
            parent[q] = p
            queue[tail] = q
            tail += 1
    return tail


@_njit
def _k_pair_counts(passable, n_open, w2, m, order, da, dc, parent, queue, stamp, bound, counts, cells):
    """counts[s] = how many cells are >= m moves from s; returns their sum (ordered pairs >= m apart).

    Exact, but BFS runs from few cells. Components are visited from the cell nearest the grid's centre
    (``order``) outwards; one with at most m cells, or whose first BFS root r has 2 * ecc(r) < m, holds no
    such pair, and the search stops when the unvisited cells are too few to hold one. In the others,
    ``bound[v] >= ecc(v)`` starts at d(r, v) + ecc(r) and tightens with ecc(u) + d(u, v) for each further
    root u: the far end a of r's longest shortest path, the midpoint of a's (central, so a tight bound), then
    every cell whose bound still reaches m, which gets its count."""
    stamp[:] = 0
    counts[:] = 0
    mark = 0
    total = 0
    unvisited = n_open
    for i in range(len(order)):
        if unvisited <= m:
            break
        root = order[i]
        if not passable[root] or stamp[root] != 0:
            continue
        mark += 1
        size = _k_bfs(passable, w2, root, da, parent, queue, stamp, mark)
        unvisited -= size
        e0 = da[queue[size - 1]]
        if size <= m or 2 * e0 < m:
            continue
        for j in range(size):
            v = queue[j]
            cells[j] = v
            bound[v] = da[v] + e0
        mark += 1
        t = _k_bfs(passable, w2, queue[size - 1], da, parent, queue, stamp, mark)
        ea = da[queue[t - 1]]
        centre = queue[t - 1]
        for _ in range(ea // 2):
            centre = parent[centre]
        for j in range(t):
            v = queue[j]
            bound[v] = min(bound[v], da[v] + ea)
        mark += 1
        t = _k_bfs(passable, w2, centre, dc, parent, queue, stamp, mark)
        ec = dc[queue[t - 1]]
        for j in range(t):
            v = queue[j]
            bound[v] = min(bound[v], dc[v] + ec)
        for j in range(size):
            u = cells[j]
            if bound[u] < m:
                continue
            mark += 1
            t = _k_bfs(passable, w2, u, da, parent, queue, stamp, mark)
            ecc = da[queue[t - 1]]
            k = 0
            while da[queue[t - 1 - k]] >= m:
                k += 1
            counts[u] = k
            total += k
            for jj in range(t):
                v = queue[jj]
                bound[v] = min(bound[v], da[v] + ecc)
            bound[u] = -1
    return total


@_njit
def _k_mark(passable, h, w, s, g, parent, row_in, row_label):
    """Write one maze's input and label rows (unpadded tokens); the label marks the parent chain g -> s."""
    w2 = w + 2
    for r in range(h):
        for c in range(w):
            row_in[r * w + c] = 2 if passable[(r + 1) * w2 + c + 1] else 1
    row_in[(s // w2 - 1) * w + s % w2 - 1] = 3
    row_in[(g // w2 - 1) * w + g % w2 - 1] = 4
    row_label[:] = row_in
    p = parent[g]
    while p != s:
        row_label[(p // w2 - 1) * w + p % w2 - 1] = 5
        p = parent[p]


@_njit
def _k_generate(seed, count, h, w, m, walls_lo, walls_hi, cap, max_layouts, inputs, labels, steps):
    """Up to ``count`` mazes with S and G >= m moves apart; returns (made, layouts tried).

    Per layout: a wall count uniform in [walls_lo, walls_hi] placed uniformly; the layout is kept with
    probability min(1, f / cap), f = the fraction of ordered (S, G) pairs of open cells >= m apart, and then
    (S, G) is drawn uniformly among those pairs. For f <= cap this is exactly drawing a layout, S and G
    uniformly and rejecting short pairs (the Maze-Hard recipe), without paying for the rejected draws."""
    np.random.seed(seed)
    n = h * w
    w2 = w + 2
    size2 = (h + 2) * w2
    passable = np.zeros(size2, np.bool_)
    perm = np.arange(n)
    da = np.empty(size2, np.int32)
    dc = np.empty(size2, np.int32)
    parent = np.empty(size2, np.int32)
    queue = np.empty(size2, np.int32)
    stamp = np.zeros(size2, np.int32)
    bound = np.empty(size2, np.int32)
    counts = np.empty(size2, np.int64)
    cells = np.empty(size2, np.int32)
    order = np.empty(n, np.int32)  # padded cells by distance from the grid's centre
    near = np.argsort(np.abs(2 * (np.arange(n) // w) - (h - 1)) + np.abs(2 * (np.arange(n) % w) - (w - 1)))
    for i in range(n):
        order[i] = (near[i] // w + 1) * w2 + near[i] % w + 1
    made = 0
    layouts = 0
    while made < count and layouts < max_layouts:
        layouts += 1
        k = np.random.randint(walls_lo, walls_hi + 1)
        for r in range(h):
            passable[(r + 1) * w2 + 1:(r + 1) * w2 + 1 + w] = True
        for i in range(k):  # partial Fisher-Yates: a uniform k-subset whatever order perm is in
            j = i + np.random.randint(n - i)
            cell = perm[j]
            perm[j] = perm[i]
            perm[i] = cell
            passable[(cell // w + 1) * w2 + cell % w + 1] = False
        n_open = n - k
        if n_open < 2:
            continue
        total = _k_pair_counts(passable, n_open, w2, m, order, da, dc, parent, queue, stamp, bound, counts, cells)
        if total == 0 or np.random.random() * cap >= total / (n_open * (n_open - 1.0)):
            continue
        j = np.random.randint(total)
        s = 0
        while j >= counts[s]:
            j -= counts[s]
            s += 1
        t = _k_bfs(passable, w2, s, da, parent, queue, stamp, -1)
        g = queue[t - 1 - j]
        _k_mark(passable, h, w, s, g, parent, inputs[made], labels[made])
        steps[made] = da[g]
        made += 1
    return made, layouts


@_njit
def _k_relabel(inputs, h, w, labels):
    """Labels marking the tie-break rule's shortest path for each row of ``inputs``; rows without a path
    from S to G are copied unmarked. Returns how many rows had no path."""
    w2 = w + 2
    size2 = (h + 2) * w2
    passable = np.zeros(size2, np.bool_)
    dist = np.empty(size2, np.int32)
    parent = np.empty(size2, np.int32)
    queue = np.empty(size2, np.int32)
    stamp = np.zeros(size2, np.int32)
    missing = 0
    for b in range(inputs.shape[0]):
        s = -1
        g = -1
        for r in range(h):
            for c in range(w):
                x = inputs[b, r * w + c]
                i = (r + 1) * w2 + c + 1
                passable[i] = x != 1 and x != 0
                labels[b, r * w + c] = 2 if x == 5 else x
                if x == 3:
                    s = i
                elif x == 4:
                    g = i
        if s < 0 or g < 0:
            missing += 1
            continue
        _k_bfs(passable, w2, s, dist, parent, queue, stamp, b + 1)
        if stamp[g] != b + 1:
            missing += 1
            continue
        p = parent[g]
        while p != s:
            labels[b, (p // w2 - 1) * w + p % w2 - 1] = 5
            p = parent[p]
    return missing


def relabel_batch(inputs: np.ndarray) -> np.ndarray:
    """``canonical_answers`` for token rows ``[B, H*W]``, compiled (numba); rows without a path stay unmarked."""
    inputs = np.ascontiguousarray(inputs, dtype=np.uint8)
    h, w = _square(inputs.shape[-1])
    labels = np.empty_like(inputs)
    _k_relabel(inputs.reshape(-1, h * w), h, w, labels.reshape(-1, h * w))
    return labels
