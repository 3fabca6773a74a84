"""ARC-AGI: task files (``sources``), the 30x30 canvas codec, task augmentation, the dataset build and its sampler (``data``),
voting over augmented versions and official scoring (``voting``), and two ARC-AGI-1 training tasks as
examples (``examples/``). ``SPEC`` is the task's ``hrm_sdk.tasks.Task``; the rest of this namespace is
``data``'s API."""

from __future__ import annotations

from pathlib import Path

from ..base import Task
from .data import *  # noqa: F401,F403
from .data import SEQ_LEN, TASK, VOCAB_SIZE, encode_grid, load_task, make_sampler, make_samplers, save_versions
from .data import build

EXAMPLES = Path(__file__).parent / "examples"


class ArcSpec(Task):
    name, vocab_size, seq_len = TASK, VOCAB_SIZE, SEQ_LEN
    make_sampler = staticmethod(make_sampler)
    make_samplers = staticmethod(make_samplers)
    build = staticmethod(build)

    def example_items(self):
        items = []
        for f in sorted(EXAMPLES.glob("arc-*.json")):
            t = load_task(f)
            items += [(encode_grid(g), 0) for g, _ in t.train] + [(encode_grid(g), 0) for g, _ in t.test]
        return items

    def view_maps(self, k):
        from ...errors import HRMError

        raise HRMError(f"test-time views are for sudoku and maze, not {self.name} (ARC votes over its own "
                       "augmented versions)")

    def row_groups(self, split, rows):
        from functools import partial

        from .data import MAX_SIZE, canvas_groups, crop_canvas

        return [(r, None if side == MAX_SIZE else partial(crop_canvas, side=side))
                for side, r in canvas_groups(split, rows)]

    def save_model_extras(self, directory, split):
        save_versions(Path(directory) / "arc_versions.npz", split)


SPEC = ArcSpec()
