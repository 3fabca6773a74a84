"""Exact Sudoku solver, difficulty rating and unique-solution puzzle generator (numba).

The solver keeps a 9-bit candidate mask per cell, propagates naked and hidden singles to a fixed point, and
branches depth-first on the first cell (row-major) with the fewest candidates, trying digits in ascending
order. It can search on past the first solution, so ``count_solutions(p, limit=2) == 1`` proves uniqueness.

Difficulty is the number of **guesses**: each candidate digit tried at a branch point counts one, over the
whole search until a second solution is ruled out (``limit=2``). This reproduces the ``guesses`` column of the
shared collections (``shared/data/sudoku/*.txt``) exactly on all 93,158 puzzles; on a unique puzzle the
full tree is searched, so the order in which digits are tried does not change the count, but the tie-break
between equally constrained cells (the first one) and treating "a digit with no place left in a unit" as a
dead end do.

Usage::

    from hrm_sdk.tasks.sudoku import exact as ss
    sol = ss.solve(puzzle)                  # uint8[81] or None; puzzle is uint8[81] / [9,9], 0 = blank
    ss.count_solutions(puzzle, limit=2)     # 0, 1 or 2
    ss.rate(puzzle)                         # guesses
    sols, counts, guesses = ss.solve_batch(puzzles)          # uint8[N,81] in, one compiled loop
    p, s = ss.generate(np.random.default_rng(0), "hard")     # minimal unique puzzle with 10..99 guesses
    P, S, G = ss.generate_many(seed=0, n=100, difficulty="medium")

The generator fills a random grid (the search with digits tried in random order), removes clues in random
order while the solution stays unique (giving a minimal puzzle, ~24 clues), then rates it and keeps it if
its guesses fall in the asked range. About 42% of such puzzles are easy, 44% medium, 15% hard and 0.07%
extreme; on one core that is ~4,400 puzzles/s for "any", ~1,800/s easy or medium, ~640/s hard and ~2/s
extreme.

Benchmark: ``python -m scripts.bench_sudoku_solver`` (hard-test: ~8,000 puzzles/s of CPU time on one core).

numba is imported here only; other modules import this one lazily. Functions compile on first call (~6 s)
and are cached on disk (``cache=True``).
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit

log = logging.getLogger(__name__)

# Difficulty levels as inclusive ranges of guesses.
EASY = (0, 0)  # singles only
MEDIUM = (1, 9)
HARD = (10, 99)
EXTREME = (100, 2**31 - 1)
ANY = (0, 2**31 - 1)
LEVELS: dict[str, tuple[int, int]] = {"any": ANY, "easy": EASY, "medium": MEDIUM, "hard": HARD, "extreme": EXTREME}
# Attempts allowed per puzzle when max_tries is None. Random minimal puzzles are ~42% easy, ~44% medium,
# ~15% hard and only ~1 in 1,500-2,500 extreme, so ranges starting at 100+ guesses get a larger budget.
DEFAULT_MAX_TRIES = 1_000
DEFAULT_MAX_TRIES_EXTREME = 200_000

_ALL = 0x1FF  # all nine candidates
# Search state, one int64 row: candidate masks of the 81 cells, then the digits placed in each of the 27
# units (rows 0-8, columns 9-17, boxes 18-26), then the number of placed cells.
_PLACED = 81
_NPLACED = 108
_STATE = 109


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit members [27,9], units of each cell [81,3], peers of each cell [81,20], popcount [512]."""
    units = np.zeros((27, 9), np.int64)
    for i in range(9):
        for j in range(9):
            units[i, j] = i * 9 + j
            units[9 + i, j] = j * 9 + i
            units[18 + i, j] = (i // 3 * 3 + j // 3) * 9 + (i % 3 * 3 + j % 3)
    cell_units = np.array([(c // 9, 9 + c % 9, 18 + c // 27 * 3 + c % 9 // 3) for c in range(81)], np.int64)
    peers = np.array([sorted(set(units[cell_units[c]].ravel().tolist()) - {c}) for c in range(81)], np.int64)
    popcount = np.array([bin(m).count("1") for m in range(512)], np.int64)
    return units, cell_units, peers, popcount


_UNITS, _CELL_UNITS, _PEERS, _POPCOUNT = _build_tables()


# ----------------------------------------------------------------------------- compiled core


@njit(cache=True)
def _place_queued(st: np.ndarray, queue: np.ndarray, n: int) -> bool:
    """Place the single-candidate cells in ``queue[:n]`` and every naked single that follows; False on a
    contradiction (a cell left without candidates)."""
    i = 0
    while i < n:
        c = queue[i]
        i += 1
        b = st[c]
        st[_PLACED + _CELL_UNITS[c, 0]] |= b
        st[_PLACED + _CELL_UNITS[c, 1]] |= b
        st[_PLACED + _CELL_UNITS[c, 2]] |= b
        st[_NPLACED] += 1
        keep = ~b
        for k in range(20):
            p = _PEERS[c, k]
            m = st[p]
            nm = m & keep
            st[p] = nm  # unconditional store: cheaper than a mispredicted branch
            if nm != m and nm & (nm - 1) == 0:
                if nm == 0:
                    return False
                queue[n] = p
                n += 1
    return True


@njit(cache=True)
def _propagate(st: np.ndarray, queue: np.ndarray, n: int) -> bool:
    """Naked and hidden singles to a fixed point, starting from the queued cells; False on a contradiction
    (an empty cell, or a digit with no place left in some unit)."""
    if not _place_queued(st, queue, n):
        return False
    changed = True
    while changed:
        changed = False
        for u in range(27):
            once = 0  # digits with at least one place in the unit
            twice = 0  # ... with at least two
            if u < 9:  # rows and columns indexed directly: ~15% faster than through _UNITS
                for k in range(9):
                    m = st[u * 9 + k]
                    twice |= once & m
                    once |= m
            elif u < 18:
                for k in range(9):
                    m = st[k * 9 + u - 9]
                    twice |= once & m
                    once |= m
            else:
                for k in range(9):
                    m = st[_UNITS[u, k]]
                    twice |= once & m
                    once |= m
            if once != _ALL:
                return False
            hidden = once & ~twice & ~st[_PLACED + u]
            while hidden:
                b = hidden & -hidden
                hidden ^= b
                if st[_PLACED + u] & b:  # placed meanwhile by an earlier single of this pass
                    continue
                cell = -1
                for k in range(9):
                    if st[_UNITS[u, k]] & b:
                        cell = _UNITS[u, k]
                        break
                if cell < 0:
                    return False
                st[cell] = b
                queue[0] = cell
                if not _place_queued(st, queue, 1):
                    return False
                changed = True
    return True


@njit(cache=True)
def _init_state(puzzle: np.ndarray, st: np.ndarray, queue: np.ndarray) -> bool:
    st[:81] = _ALL
    st[81:] = 0
    n = 0
    for c in range(81):
        d = puzzle[c]
        if d:
            st[c] = 1 << (d - 1)
            queue[n] = c
            n += 1
    return _propagate(st, queue, n)


@njit(cache=True)
def _pick_cell(st: np.ndarray) -> int:
    """The first cell (row-major) with the fewest candidates among the unsolved ones."""
    best = 10
    cell = -1
    for c in range(81):
        n = _POPCOUNT[st[c]]
        if 1 < n < best:
            best = n
            cell = c
            if n == 2:
                break
    return cell


@njit(cache=True)
def _nth_bit(mask: int, n: int) -> int:
    for _ in range(n):
        mask &= mask - 1
    return mask & -mask


@njit(cache=True)
def _write_solution(st: np.ndarray, out: np.ndarray) -> None:
    for c in range(81):
        b = st[c]
        d = 1
        while b > 1:
            b >>= 1
            d += 1
        out[c] = d


@njit(cache=True)
def _search(puzzle: np.ndarray, limit: int, randomize: bool, work: np.ndarray, out: np.ndarray,
            guesses: np.ndarray) -> int:
    """Count solutions of ``puzzle`` up to ``limit``; the first one goes to ``out``, the number of tried
    candidates to ``guesses[0]``. ``work`` is scratch of shape [83, _STATE]: row 0 the live state, rows
    1.. the stack of states at open branch points. With ``randomize`` digits are tried in random order
    (numba's generator, seeded by the caller)."""
    st = work[0]
    queue = np.empty(81, np.int64)
    cells = np.empty(82, np.int64)
    left = np.empty(82, np.int64)  # candidates not yet tried at each open branch point
    depth = 0
    count = 0
    tried = 0
    ok = _init_state(puzzle, st, queue)
    while True:
        if ok:
            if st[_NPLACED] == 81:
                if count == 0:
                    _write_solution(st, out)
                count += 1
                if count >= limit:
                    break
            else:
                c = _pick_cell(st)
                work[depth + 1] = st
                cells[depth] = c
                left[depth] = st[c]
                depth += 1
        while depth > 0 and left[depth - 1] == 0:
            depth -= 1
        if depth == 0:
            break
        rem = left[depth - 1]
        if randomize:
            b = _nth_bit(rem, np.random.randint(0, _POPCOUNT[rem]))
        else:
            b = rem & -rem
        left[depth - 1] = rem ^ b
        st[:] = work[depth]
        c = cells[depth - 1]
        st[c] = b
        queue[0] = c
        tried += 1
        ok = _propagate(st, queue, 1)
    guesses[0] = tried
    return count


@njit(cache=True)
def _solve_batch(puzzles: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = puzzles.shape[0]
    solutions = np.zeros((n, 81), np.uint8)
    counts = np.zeros(n, np.int32)
    guesses = np.zeros(n, np.int32)
    work = np.empty((83, _STATE), np.int64)
    g = np.zeros(1, np.int64)
    for i in range(n):
        counts[i] = _search(puzzles[i], limit, False, work, solutions[i], g)
        guesses[i] = g[0]
        if counts[i] == 0:
            solutions[i] = 0
    return solutions, counts, guesses


@njit(cache=True)
def _generate_one(lo: int, hi: int, work: np.ndarray, puzzle: np.ndarray, solution: np.ndarray) -> int:
    """One random minimal puzzle; its guesses if within [lo, hi], else -1. Uses numba's seeded generator."""
    g = np.zeros(1, np.int64)
    scratch = np.empty(81, np.uint8)
    puzzle[:] = 0
    _search(puzzle, 1, True, work, solution, g)  # a random full grid
    puzzle[:] = solution
    for c in np.random.permutation(81):
        d = puzzle[c]
        puzzle[c] = 0
        if _search(puzzle, 2, False, work, scratch, g) != 1:
            puzzle[c] = d
    _search(puzzle, 2, False, work, scratch, g)
    return g[0] if lo <= g[0] <= hi else -1


@njit(cache=True)
def _generate_many(seed: int, n: int, lo: int, hi: int, max_tries: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``n`` puzzles in [lo, hi] guesses; stops early (returning how many were made) when one puzzle takes
    more than ``max_tries`` attempts. Also returns the total number of attempts."""
    np.random.seed(seed)
    puzzles = np.zeros((n, 81), np.uint8)
    solutions = np.zeros((n, 81), np.uint8)
    guesses = np.zeros(n, np.int32)
    work = np.empty((83, _STATE), np.int64)
    attempts = 0
    for i in range(n):
        g = -1
        tries = 0
        while g < 0 and tries < max_tries:
            tries += 1
            g = _generate_one(lo, hi, work, puzzles[i], solutions[i])
        attempts += tries
        if g < 0:
            return puzzles[:i], solutions[:i], guesses[:i], attempts
        guesses[i] = g
    return puzzles, solutions, guesses, attempts


# ----------------------------------------------------------------------------- public API


def _as_batch(puzzle) -> tuple[np.ndarray, bool]:
    """uint8 [N,81] C-contiguous view/copy of one puzzle ([81] or [9,9]) or a batch ([N,81] or [N,9,9]),
    and whether the input was a single puzzle."""
    a = np.asarray(puzzle)
    single = a.shape in ((81,), (9, 9))
    if not single and not (a.ndim == 2 and a.shape[1] == 81) and not (a.ndim == 3 and a.shape[1:] == (9, 9)):
        raise ValueError(f"expected a puzzle of shape [81] or [9,9], or a batch [N,81] / [N,9,9]; got {a.shape}")
    if a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 9):
            raise ValueError("puzzle digits must be 0..9 (0 = blank)")
        a = a.astype(np.uint8)
    elif a.size and a.max() > 9:
        raise ValueError("puzzle digits must be 0..9 (0 = blank)")
    return np.ascontiguousarray(a.reshape(-1, 81)), single


def solve_batch(puzzles: np.ndarray, limit: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve a batch in one compiled loop.

    Returns (solutions uint8[N,81], counts int32[N], guesses int32[N]): the first solution found (zeros
    where there is none), the number of solutions up to ``limit``, and the candidates tried until the
    search ended (with ``limit=2``, the difficulty rating of unique puzzles).
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    batch, _ = _as_batch(puzzles)
    return _solve_batch(batch, int(limit))


def solve(puzzle: np.ndarray) -> np.ndarray | None:
    """The solution as uint8[81] (the first one found if there are several), or None if there is none.
    A batch [N,81] gives uint8[N,81] with zero rows where there is no solution."""
    batch, single = _as_batch(puzzle)
    solutions, counts, _ = _solve_batch(batch, 1)
    if not single:
        return solutions
    return solutions[0] if counts[0] else None


def count_solutions(puzzle: np.ndarray, limit: int = 2) -> int | np.ndarray:
    """Number of solutions, counting no further than ``limit`` (int32[N] for a batch)."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    batch, single = _as_batch(puzzle)
    _, counts, _ = _solve_batch(batch, int(limit))
    return int(counts[0]) if single else counts


def rate(puzzle: np.ndarray) -> int | np.ndarray:
    """Difficulty in guesses: candidates tried until a second solution is ruled out (int32[N] for a batch).
    Meaningful for unique puzzles; for others it is the effort spent finding two solutions, or ruling out
    any."""
    batch, single = _as_batch(puzzle)
    _, _, guesses = _solve_batch(batch, 2)
    return int(guesses[0]) if single else guesses


def _level(difficulty: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(difficulty, str):
        if difficulty not in LEVELS:
            raise ValueError(f"unknown difficulty {difficulty!r}; expected one of {', '.join(LEVELS)} or (lo, hi)")
        return LEVELS[difficulty]
    lo, hi = (int(x) for x in difficulty)
    if not 0 <= lo <= hi:
        raise ValueError(f"difficulty range must satisfy 0 <= lo <= hi, got {difficulty}")
    return lo, hi


def generate_many(seed: int, n: int, difficulty: str | tuple[int, int] = "any",
                  max_tries: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` minimal unique-solution puzzles whose guesses fall in ``difficulty``, reproducible for ``seed``.

    Each attempt fills a random grid, removes clues in random order while the solution stays unique, and
    rates the result. Returns (puzzles uint8[n,81], solutions uint8[n,81], guesses int32[n]). Raises
    RuntimeError when one puzzle needs more than ``max_tries`` attempts (None: ``DEFAULT_MAX_TRIES``, or
    ``DEFAULT_MAX_TRIES_EXTREME`` when the range starts at 100 guesses or more).
    """
    lo, hi = _level(difficulty)
    if max_tries is None:
        max_tries = DEFAULT_MAX_TRIES_EXTREME if lo >= EXTREME[0] else DEFAULT_MAX_TRIES
    if n < 0 or max_tries < 1:
        raise ValueError(f"need n >= 0 and max_tries >= 1, got n={n}, max_tries={max_tries}")
    puzzles, solutions, guesses, attempts = _generate_many(int(seed) % 2**32, int(n), lo, hi, int(max_tries))
    if len(puzzles) < n:
        raise RuntimeError(f"no puzzle with {lo}..{hi} guesses in {max_tries} attempts (difficulty={difficulty!r},"
                           f" made {len(puzzles)} of {n}); raise max_tries or widen the range")
    log.debug("generated %d puzzles (%s) in %d attempts", n, difficulty, attempts)
    return puzzles, solutions, guesses


def generate(rng: np.random.Generator, difficulty: str | tuple[int, int] = "any",
             max_tries: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One minimal unique-solution puzzle and its solution (uint8[81] each) with guesses in ``difficulty``
    (a name in ``LEVELS`` or an inclusive (lo, hi) range); the seed is drawn from ``rng``. ``max_tries`` as in
    ``generate_many``."""
    puzzles, solutions, _ = generate_many(int(rng.integers(2**32)), 1, difficulty, max_tries)
    return puzzles[0], solutions[0]
