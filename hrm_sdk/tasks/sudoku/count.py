"""Counting a Sudoku's solutions (up to a limit) in plain Python: no numba, no compile, no import cost.

The one-puzzle solve path uses it to prove uniqueness before it calls an answer solved (``exact.solve_batch``
does the same for batches, compiled by numba, which costs about 0.4 s to import and load on a cold start).
Candidates are 9-bit masks; naked singles are propagated, then the search branches on the cell with the fewest
candidates. The hardest hard-test puzzles take milliseconds to tens of milliseconds here.

    from hrm_sdk.tasks.sudoku.count import count_solutions
    count_solutions(puzzle, limit=2)   # 0 (contradiction), 1 (unique) or 2 (several); puzzle: 81 ints, 0 = blank
"""

from __future__ import annotations

ALL = 0x1FF
_UNITS = ([[r * 9 + c for c in range(9)] for r in range(9)] + [[r * 9 + c for r in range(9)] for c in range(9)]
          + [[(br + r) * 9 + bc + c for r in range(3) for c in range(3)] for br in (0, 3, 6) for bc in (0, 3, 6)])
PEERS = [sorted({p for u in _UNITS if i in u for p in u} - {i}) for i in range(81)]  # the 20 peers of each cell
_BITS = [bin(m).count("1") for m in range(512)]


def _assign(cand: list[int], cell: int, bit: int) -> bool:
    """Place digit ``bit`` at ``cell`` and propagate naked singles; False on a contradiction."""
    stack = [(cell, bit)]
    while stack:
        cell, bit = stack.pop()
        if not cand[cell] & bit:
            return False
        cand[cell] = bit
        for p in PEERS[cell]:
            m = cand[p]
            if m & bit:
                m &= ~bit
                if not m:
                    return False
                cand[p] = m
                if _BITS[m] == 1:
                    stack.append((p, m))
    return True


def _count(cand: list[int], limit: int) -> int:
    best, best_n = -1, 10
    for i in range(81):
        n = _BITS[cand[i]]
        if 1 < n < best_n:
            best, best_n = i, n
            if n == 2:
                break
    if best < 0:  # every cell is decided (propagation keeps decided cells consistent)
        return 1
    found, m = 0, cand[best]
    while m and found < limit:
        bit = m & -m
        m ^= bit
        trial = cand[:]
        if _assign(trial, best, bit):
            found += _count(trial, limit - found)
    return found


def count_solutions(puzzle, limit: int = 2) -> int:
    """Solutions of ``puzzle`` (81 digits, 0 blank), counted up to ``limit``."""
    cand = [ALL] * 81
    for i, d in enumerate(int(x) for x in puzzle):
        if d and not _assign(cand, i, 1 << (d - 1)):
            return 0
    return _count(cand, limit)
