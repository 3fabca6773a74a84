"""The on-disk dataset format and the sample stream the trainer draws from.

A built dataset is a directory with one sub-directory per split (``train/``, ``test/``), each holding
``dataset.json`` (``DatasetMeta``) and ``.npy`` arrays: ``inputs`` and ``labels`` (uint8 ``[N, seq_len]``, label
0 = ignored) and ``puzzle_ids`` (int32 ``[N]``), plus any task-specific arrays. Splits are written to a temporary
directory and renamed into place, so a half-written split is never mistaken for a finished one.

Training does not materialise augmented copies: a ``Sampler`` turns indices of an epoch permutation into
(augmented) rows on the fly, and ``SampleStream`` hands out a seeded, resumable sequence of such rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DatasetError

FORMAT_VERSION = 1
BASE_ARRAYS = ("inputs", "labels", "puzzle_ids")


@dataclass
class DatasetMeta:
    task: str  # "sudoku" | "maze" | "arc"
    split: str  # "train" | "test" | ...
    vocab_size: int
    seq_len: int
    num_puzzle_ids: int
    size: int  # examples in this split
    augment: bool = False  # the training sampler augments rows on the fly
    seed: int = 0  # the build's seed
    sources: list = field(default_factory=list)  # [{"path", "sha256", "count"}] of the files read
    build: dict = field(default_factory=dict)  # the builder's arguments, for reproducing it
    extra: dict = field(default_factory=dict)  # task-specific facts (e.g. ARC task names)
    format: int = FORMAT_VERSION


@dataclass
class Split:
    path: Path
    meta: DatasetMeta
    arrays: dict  # name -> np.ndarray (memory-mapped)

    @property
    def inputs(self) -> np.ndarray:
        return self.arrays["inputs"]

    @property
    def labels(self) -> np.ndarray:
        return self.arrays["labels"]

    @property
    def puzzle_ids(self) -> np.ndarray:
        return self.arrays["puzzle_ids"]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def source_record(path: str | os.PathLike, count: int) -> dict:
    return {"path": os.path.basename(os.fspath(path)), "sha256": sha256_file(path), "count": int(count)}


def write_split(out_dir: str | os.PathLike, meta: DatasetMeta, arrays: dict) -> Path:
    """Write one split atomically to ``out_dir/meta.split``."""
    for name in BASE_ARRAYS:
        if name not in arrays:
            raise ValueError(f"split {meta.split}: missing array {name!r}")
    n = len(arrays["inputs"])
    if arrays["inputs"].shape != (n, meta.seq_len) or arrays["labels"].shape != (n, meta.seq_len):
        raise ValueError(f"split {meta.split}: inputs/labels must be [N, {meta.seq_len}]")
    meta.size = n
    final = Path(out_dir) / meta.split
    tmp = Path(out_dir) / f".{meta.split}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, arr in arrays.items():
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))
    (tmp / "dataset.json").write_text(json.dumps(asdict(meta), indent=2) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def read_split(path: str | os.PathLike, mmap: bool = True) -> Split:
    """Open a split directory; a missing or incomplete one raises DatasetError naming the path."""
    path = Path(path)
    meta_file = path / "dataset.json"
    if not meta_file.is_file():
        raise DatasetError(f"{path}: not a dataset split (no dataset.json); build one with 'hrm data build'")
    try:
        raw = json.loads(meta_file.read_text())
        known = {f.name for f in fields(DatasetMeta)}
        meta = DatasetMeta(**{k: v for k, v in raw.items() if k in known})
    except (json.JSONDecodeError, TypeError) as exc:
        raise DatasetError(f"{meta_file}: unreadable dataset metadata ({exc})") from exc
    if meta.format != FORMAT_VERSION:
        raise DatasetError(f"{meta_file}: dataset format {meta.format}, this SDK reads {FORMAT_VERSION}; rebuild it")
    arrays = {}
    for file in sorted(path.glob("*.npy")):
        try:
            arrays[file.stem] = np.load(file, mmap_mode="r" if mmap else None)
        except (ValueError, OSError) as exc:
            raise DatasetError(f"{file}: corrupted array ({exc}); rebuild the dataset") from exc
    for name in BASE_ARRAYS:
        if name not in arrays:
            raise DatasetError(f"{path}: missing {name}.npy; rebuild the dataset")
        if len(arrays[name]) != meta.size:
            raise DatasetError(f"{path}: {name}.npy has {len(arrays[name])} rows, dataset.json says {meta.size}")
    return Split(path=path, meta=meta, arrays=arrays)


# -----------------------------------------------------------------------------
# Sampling


class Sampler(Protocol):
    """Turns indices in ``range(epoch_size)`` into training rows (augmented when the split asks for it)."""

    epoch_size: int

    def materialize(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> inputs uint8 [n, seq_len], labels uint8 [n, seq_len], puzzle_ids int32 [n]."""
        ...


class ArraySampler:
    """Rows of a split as stored, passed through the task's ``augment_batch`` when the split asks for it."""

    def __init__(self, split: Split, augment_batch=None):
        self.split = split
        self.augment_batch = augment_batch if split.meta.augment else None
        self.epoch_size = split.meta.size

    def materialize(self, indices, rng):
        inputs = np.asarray(self.split.inputs[indices])
        labels = np.asarray(self.split.labels[indices])
        ids = np.asarray(self.split.puzzle_ids[indices], dtype=np.int32)
        if self.augment_batch is not None:
            inputs, labels = self.augment_batch(inputs, labels, rng)
        return inputs, labels, ids


class SampleStream:
    """An endless, seeded sequence of training rows: a fresh permutation per epoch, no repeats within one.

    ``take(n)`` returns the next n rows. ``state_dict()``/``load_state_dict()`` capture the position and the
    RNG exactly, so a resumed run sees the same rows an uninterrupted one would have.
    """

    def __init__(self, sampler: Sampler, seed: int):
        self.sampler = sampler
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._new_epoch_perm()

    def _new_epoch_perm(self) -> None:
        self.cursor = 0
        self._perm_state = self.rng.bit_generator.state  # enough to redraw the permutation on resume
        self.perm = self.rng.permutation(self.sampler.epoch_size)

    def take(self, n: int):
        idx = []
        while n > 0:
            if self.cursor == len(self.perm):
                self.epoch += 1
                self._new_epoch_perm()
            k = min(n, len(self.perm) - self.cursor)
            idx.append(self.perm[self.cursor:self.cursor + k])
            self.cursor += k
            n -= k
        indices = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)
        return self.sampler.materialize(indices, self.rng)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "perm_rng": self._perm_state,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.rng.bit_generator.state = state["perm_rng"]
        self._new_epoch_perm()
        self.cursor = int(state["cursor"])
        self.rng.bit_generator.state = state["rng"]
