"""The backend interface: run one segment for a batch of slots whose states stay where the backend keeps them.

The host-side ACT loop (``runtime/act.py``) owns which puzzle sits in which slot. It loads puzzles with
``load`` (the slot restarts from the initial states at its next segment), runs ``step(n)`` for slots
``[0, n)`` and reads back only the halting values, and calls ``fetch_logits`` for the slots that halted. Once
no puzzles are left to load, it ``move``s the last running puzzles down into freed slots (backends with
``supports_move``), so that ``n`` counts only running puzzles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..artefact import SegmentMeta


class Backend(ABC):
    name: str = "backend"
    max_batch: int | None = None  # the largest batch the artefact accepts (TensorRT profile max)
    fixed_batch: bool = False  # step() always runs all slots (compiled or bound shapes)
    supports_move: bool = False  # move() is implemented (_move_states)

    def __init__(self, meta: SegmentMeta):
        self.meta = meta
        self.capacity = 0

    def allocate(self, capacity: int) -> None:
        """Make room for `capacity` slots (all empty)."""
        if self.max_batch is not None and capacity > self.max_batch:
            capacity = self.max_batch
        self.capacity = capacity
        self.tokens = np.zeros((capacity, self.meta.seq_len), dtype=np.int32)
        self.puzzle_ids = np.zeros(capacity, dtype=np.int32)
        self.reset = np.ones(capacity, dtype=bool)
        self._allocate_states(capacity)

    def load(self, slots: np.ndarray, tokens: np.ndarray, puzzle_ids: np.ndarray) -> None:
        """Put new puzzles into `slots`; they start from the initial states at the next step."""
        self.tokens[slots] = tokens
        self.puzzle_ids[slots] = puzzle_ids
        self.reset[slots] = True

    def move(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Move the puzzles in slots `src` (inputs and states, mid-run) to the empty slots `dst`."""
        self.tokens[dst] = self.tokens[src]
        self.puzzle_ids[dst] = self.puzzle_ids[src]
        self.reset[dst] = self.reset[src]
        self._move_states(src, dst)

    def _move_states(self, src: np.ndarray, dst: np.ndarray) -> None:
        raise NotImplementedError(f"{self.name} cannot move states between slots")

    def step(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Run one segment for slots [0, n); -> (q_halt, q_continue) as fp32 [n] on the host."""
        n = self.capacity if self.fixed_batch else n
        q_halt, q_continue = self._run(n)
        self.reset[:n] = False
        return q_halt, q_continue

    @abstractmethod
    def _allocate_states(self, capacity: int) -> None: ...

    @abstractmethod
    def _run(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """One segment on slots [0, n) using self.tokens/puzzle_ids/reset; states stay on the device."""

    @abstractmethod
    def fetch_logits(self, slots: np.ndarray) -> np.ndarray:
        """fp32 [len(slots), seq_len, vocab] logits of the last step for these slots."""

    def on_canvas(self, seq_len: int) -> "Backend":
        """This backend running puzzles of ``seq_len`` tokens instead of the model's own (ARC's canvas-size
        buckets). Graphs and engines are built for one length: only the PyTorch backend can."""
        if seq_len == self.meta.seq_len:
            return self
        from ...errors import HRMError

        raise HRMError(f"the {self.name} backend runs the model's own {self.meta.seq_len}-token canvas only; a dataset "
                       "built with canvas-size buckets evaluates on --backend pytorch")

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass
