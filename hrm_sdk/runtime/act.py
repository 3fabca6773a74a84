"""The host-side ACT loop: drives any backend segment by segment with continuous batching.

Each slot of the batch holds one puzzle. After every segment the loop reads q_halt/q_continue for all slots,
halts each puzzle on its own (q_halt > q_continue once ``min_steps`` are done, or ``max_steps`` reached, or
only ``max_steps`` with ``halting="max"`` as in the reference evaluation), emits the halted puzzles' results,
and refills their slots from the input queue at once, so the batch stays full while work remains. When the
queue runs dry, the puzzles still running move down into freed slots (backends with ``supports_move``), so
the batch shrinks to them.
Rows never interact, so a puzzle's result does not depend on what shares the batch with it.

An item of ``None`` means "nothing to load right now, more may come": the loop stops loading for this segment,
keeps running what it holds, and asks the iterator again at the next segment (``hrm_sdk.runtime.batcher``
feeds puzzles of concurrent callers this way). The loop ends when it holds no puzzle after asking.

    backend = runtime.load("model.onnx")
    for r in run_act(backend, ((tokens, 0) for tokens in puzzles), batch_size=64):
        print(r.index, r.steps, r.prediction)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import HRMError
from .backends.base import Backend


@dataclass
class ACTPolicy:
    max_steps: int | None = None  # None = the model's halt_max_steps
    min_steps: int = 1
    halting: str = "q"  # "q": stop at q_halt > q_continue; "max": always run max_steps

    def resolve(self, model_max: int) -> tuple[int, int]:
        max_steps = self.max_steps or model_max
        if self.halting not in ("q", "max"):
            raise HRMError(f"halting must be 'q' or 'max', got {self.halting!r}")
        if not 1 <= self.min_steps <= max_steps:
            raise HRMError(f"min_steps must be in 1..max_steps ({max_steps}), got {self.min_steps}")
        return self.min_steps, max_steps


@dataclass
class SegmentResult:
    index: int  # position of the puzzle in the input stream
    prediction: np.ndarray  # int [seq_len]: argmax token per position
    confidence: np.ndarray  # float32 [seq_len]: softmax probability of the predicted token
    steps: int  # segments run
    q_halt: float
    q_continue: float
    halted_by: str  # "q" or "max"
    logits: np.ndarray | None = None  # float32 [seq_len, vocab] when run_act(keep_logits=True)


def softmax_confidence(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """argmax tokens and their softmax probabilities, [..., V] -> ([...], [...])."""
    pred = logits.argmax(-1)
    shifted = logits - logits.max(-1, keepdims=True)
    conf = 1.0 / np.exp(shifted).sum(-1)
    return pred, conf.astype(np.float32)


_END = object()


def run_act(backend: Backend, items: Iterable[tuple[np.ndarray, int]], batch_size: int = 64,
            policy: ACTPolicy | None = None, keep_logits: bool = False) -> Iterator[SegmentResult]:
    """Solve every (tokens, puzzle_id) item; results come out in the order puzzles finish.

    A backend with ``resident`` set (PyTorch on CUDA), given a list or tuple and no ``keep_logits``, runs the
    device-resident loop instead (``runtime/resident.py``): the same rules and results, without a host round trip
    per segment."""
    policy = policy or ACTPolicy()
    if getattr(backend, "resident", False) and not keep_logits and isinstance(items, (list, tuple)):
        from .resident import run_resident

        yield from run_resident(backend, items, batch_size, policy)
        return
    min_steps, max_steps = policy.resolve(backend.meta.halt_max_steps)
    queue = iter(items)
    loaded = 0  # input index of the next puzzle (None items take no index)
    capacity = max(1, batch_size if backend.max_batch is None else min(batch_size, backend.max_batch))
    backend.allocate(capacity)
    slot_item = np.full(capacity, -1, dtype=np.int64)  # input index held by each slot, -1 = empty
    steps = np.zeros(capacity, dtype=np.int64)
    free = list(range(capacity))  # a heap: refill the lowest slots first so active slots stay packed
    exhausted = False

    def refill() -> bool:
        """Load queued puzzles into free slots; False when the iterator said "nothing right now" (None)."""
        nonlocal exhausted, loaded
        slots, toks, ids = [], [], []
        waiting = False
        while free and not exhausted:
            nxt = next(queue, _END)
            if nxt is _END:
                exhausted = True
                break
            if nxt is None:
                waiting = True
                break
            tokens, puzzle_id = nxt
            index, loaded = loaded, loaded + 1
            slot = heapq.heappop(free)
            slots.append(slot)
            toks.append(tokens)
            ids.append(puzzle_id)
            slot_item[slot] = index
            steps[slot] = 0
        if slots:
            backend.load(np.asarray(slots), np.stack(toks), np.asarray(ids, dtype=np.int32))
        return not waiting

    def compact() -> None:
        """With nothing left to load, move the running puzzles above the first holes down into them, so that
        step(n) stops computing finished rows (on a CPU the last slow puzzle of a batch otherwise drags the
        whole batch through every segment it runs)."""
        active = np.flatnonzero(slot_item >= 0)
        src = active[active >= len(active)]
        if not len(src):
            return
        dst = np.setdiff1d(np.arange(len(active)), active)
        backend.move(src, dst)
        slot_item[dst], steps[dst] = slot_item[src], steps[src]
        slot_item[src] = -1
        free[:] = np.flatnonzero(slot_item < 0).tolist()  # sorted, so still a heap

    can_move = getattr(backend, "supports_move", False) and not getattr(backend, "fixed_batch", False)
    refill()
    while (slot_item >= 0).any():
        n = int(np.flatnonzero(slot_item >= 0).max()) + 1
        q_halt, q_cont = backend.step(n)
        q_halt, q_cont = q_halt[:n], q_cont[:n]
        active = slot_item[:n] >= 0
        steps[:n][active] += 1
        at_max = steps[:n] >= max_steps
        by_q = (q_halt > q_cont) & (steps[:n] >= min_steps) if policy.halting == "q" else np.zeros(n, bool)
        done = np.flatnonzero(active & (at_max | by_q))
        if len(done):
            logits = backend.fetch_logits(done)
            pred, conf = softmax_confidence(logits)
            for k, slot in enumerate(done):
                yield SegmentResult(index=int(slot_item[slot]), prediction=pred[k], confidence=conf[k],
                                    steps=int(steps[slot]), q_halt=float(q_halt[slot]), q_continue=float(q_cont[slot]),
                                    halted_by="q" if by_q[slot] else "max", logits=logits[k] if keep_logits else None)
                slot_item[slot] = -1
                heapq.heappush(free, int(slot))
        if free and not exhausted:  # after a plain iterator this loads only into slots freed above
            if not refill() and can_move:
                compact()
        if len(done) and exhausted and can_move:
            compact()


def run_all(backend: Backend, items: Iterable[tuple[np.ndarray, int]], batch_size: int = 64,
            policy: ACTPolicy | None = None, keep_logits: bool = False) -> list[SegmentResult]:
    """run_act, with the results in input order."""
    results = list(run_act(backend, items, batch_size, policy, keep_logits))
    results.sort(key=lambda r: r.index)
    return results
