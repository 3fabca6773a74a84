"""The Maze-Hard dataset build: train.csv (+ generated mazes) and test.csv."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .codec import ACCEPT_CAP, MIN_PATH, SEQ_LEN, TASK, VOCAB_SIZE, WALL_FRACTION
from .parse import read_csv
from .augment import apply_dihedral
from .generate import generate_many

log = logging.getLogger(__name__)


def _find_sources(source_dir: Path) -> tuple[Path, Path]:
    for folder in (source_dir, source_dir / "maze-hard"):
        if (folder / "train.csv").is_file() and (folder / "test.csv").is_file():
            return folder / "train.csv", folder / "test.csv"
    raise FileNotFoundError(f"{source_dir}: no train.csv and test.csv; expected the shared maze-hard folder")


def _seen_in(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Which ``rows`` equal one of the 8 dihedral transforms of a ``reference`` row (bool ``[N]``)."""
    seen = {r.tobytes() for t in range(8) for r in apply_dihedral(reference, t)}
    return np.array([r.tobytes() in seen for r in rows], dtype=bool)


def build(out_dir: str | os.PathLike, source_dir: str | os.PathLike, seed: int = 0, generate: int = 0,
          augment: bool = True, relabel: bool = True, workers: int | None = None) -> list[Path]:
    """Build ``train`` (train.csv + ``generate`` generated mazes) and ``test`` (test.csv, never augmented or
    mixed with generated data) under ``out_dir``; returns the split paths. Train mazes equal to a test maze
    up to rotation or reflection are dropped.

    ``augment`` lets the trainer apply random dihedral transforms on the fly; ``relabel`` makes it re-mark
    the tie-break rule's path after each transform (see ``augment_batch``). Each split also stores
    ``steps.npy`` (int16 shortest-path moves).
    """
    from ...data.dataset import DatasetMeta, source_record, write_split

    train_csv, test_csv = _find_sources(Path(source_dir))
    args = dict(seed=seed, generate=generate, augment=augment, relabel=relabel, min_path=MIN_PATH,
                wall_prob=list(WALL_FRACTION), cap=ACCEPT_CAP)
    train_in, train_lab, train_steps = read_csv(train_csv)
    sources = [source_record(train_csv, len(train_in))]
    if generate:
        gen_in, gen_lab, gen_steps = generate_many(seed, generate, workers=workers)
        train_in = np.concatenate([train_in, gen_in])
        train_lab = np.concatenate([train_lab, gen_lab])
        train_steps = np.concatenate([train_steps, gen_steps])
        sources.append({"path": f"generator(seed={seed}, min_path={MIN_PATH})", "sha256": None, "count": generate})
    test_in, test_lab, test_steps = read_csv(test_csv)
    keep = ~_seen_in(train_in, test_in)
    if not keep.all():
        log.warning("dropped %d train mazes that equal a test maze up to rotation/reflection", int((~keep).sum()))
        train_in, train_lab, train_steps = train_in[keep], train_lab[keep], train_steps[keep]
    out = []
    for split, x, y, steps, src, aug in (
            ("train", train_in, train_lab, train_steps, sources, augment),
            ("test", test_in, test_lab, test_steps, [source_record(test_csv, len(test_in))], False)):
        meta = DatasetMeta(task=TASK, split=split, vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN, num_puzzle_ids=1,
                           size=len(x), augment=aug, seed=seed, sources=src, build=args,
                           extra={"relabel": bool(aug and relabel), "generated": generate if split == "train" else 0})
        arrays = {"inputs": x, "labels": y, "puzzle_ids": np.zeros(len(x), np.int32), "steps": steps.astype(np.int16)}
        out.append(write_split(out_dir, meta, arrays))
        log.info("wrote %s: %d mazes", out[-1], len(x))
    return out
