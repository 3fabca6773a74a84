"""A Sudoku file of 10,000 lines with 10 bad ones at random places (issue 26: one bad line must not sink a batch).

The good lines are the first 4,000 of hard-test and the first 5,990 of 17-clue; the bad ones are a stray
character, 80 and 82 cells, a '|' and a tab inside a puzzle, three cells, letters, trailing junk, and two
puzzles whose givens contradict each other (read, then refused by the solver)::

    python -m scripts.mixed_file --out data/sudoku-bench/mixed-10000.txt
    hrm solve sudoku data/sudoku-bench/mixed-10000.txt --format jsonl > out.jsonl   # 10,000 records, 10 errors
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data/sudoku", help="folder with hard-test.txt and 17-clue.txt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    good = (shared / "hard-test.txt").read_text().splitlines() + (shared / "17-clue.txt").read_text().splitlines()[:6000]
    good = good[:9990]
    p = good[0].split()[0]
    bad = [p[:40] + "x" + p[41:], p[:80], "11" + p[2:], p + "5", "1 2 3", p[:30] + "|" + p[31:], "9" * 81,
           p.replace(".", "0")[:79] + "?!", "abcdefghi" * 9, p[:10] + "\t" + p[11:]]
    lines = list(good)
    for k, b in zip(sorted(random.Random(args.seed).sample(range(10000), len(bad))), bad):
        lines.insert(k, b)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"{args.out}: {len(lines):,} lines, {len(bad)} bad")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
