"""Dihedral augmentation: the eight rotations and reflections, test-time views and the training sampler."""

from __future__ import annotations

import functools
import logging

import numpy as np

from ...errors import HRMError
from .codec import DIHEDRAL_INVERSE, SIZE, _DIHEDRAL, _square

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def _perm_table(size: int) -> np.ndarray:
    """Gather indices ``[8, size*size]``: ``x[..., table[t]]`` is transform t of a flattened square grid."""
    idx = np.arange(size * size).reshape(size, size)
    table = np.stack([np.ascontiguousarray(f(idx)).reshape(-1) for f in _DIHEDRAL])
    table.flags.writeable = False
    return table


def dihedral_permutation(t: int, size: int = SIZE) -> np.ndarray:
    """Transform ``t`` (0 id, 1 rot90, 2 rot180, 3 rot270, 4 fliplr, 5 flipud, 6 transpose, 7 anti-transpose,
    as numpy's rot90/fliplr/flipud/.T) as gather indices over the flattened grid."""
    return _perm_table(size)[t]


def apply_dihedral(tokens: np.ndarray, t) -> np.ndarray:
    """Transform ``t`` of flattened square grids ``[..., size*size]``; ``t`` is an int or one per row
    (shape ``tokens.shape[:-1]``)."""
    tokens = np.asarray(tokens)
    table = _perm_table(_square(tokens.shape[-1])[0])
    t = np.asarray(t)
    if t.ndim == 0:
        return tokens[..., table[int(t)]]
    return np.take_along_axis(tokens, table[t], axis=-1)


def invert_dihedral(tokens: np.ndarray, t) -> np.ndarray:
    """Undo ``apply_dihedral(tokens, t)``."""
    return apply_dihedral(tokens, np.asarray(DIHEDRAL_INVERSE)[np.asarray(t)])


def view_transforms(k: int) -> list[int]:
    """The K test-time views (``hrm_sdk.runtime.views``): dihedral transforms 0..k-1, identity first; apply
    with ``apply_dihedral``, undo with ``invert_dihedral``. A view's de-augmented answer is the tie-break path
    of the transformed maze, so it can be another shortest path than the benchmark's label."""
    if not 1 <= k <= len(_DIHEDRAL):
        raise HRMError(f"views must be 1..{len(_DIHEDRAL)} (the rotations and reflections of a maze), got {k}")
    return list(range(k))


def augment_batch(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                  relabel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A random dihedral transform per row, the same for its input and label.

    The transformed label is still a shortest path of the transformed maze, but not the one the benchmark's
    tie-break rule would mark there. ``relabel=True`` re-marks the rule's path (numba, ~5 ms per 1,000 rows),
    so that the augmented labels stay consistent with the test set's.
    """
    t = rng.integers(0, 8, size=len(inputs))
    inputs, labels = apply_dihedral(inputs, t), apply_dihedral(labels, t)
    if relabel:
        from .kernels import relabel_batch

        labels = relabel_batch(inputs)
    return inputs, labels


def make_sampler(split):
    """The training sampler: ``augment_batch``, relabelling when the split was built with ``relabel``."""
    from ...data.dataset import ArraySampler

    relabel = bool(split.meta.extra.get("relabel", False))
    return ArraySampler(split, functools.partial(augment_batch, relabel=True) if relabel else augment_batch)
