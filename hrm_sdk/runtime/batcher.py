"""Continuous batching across callers: one ACT loop on one backend, fed from a thread-safe queue.

A ``Batcher`` owns a backend and runs an ACT loop in a background thread. Any thread may submit puzzles; each
queued puzzle joins a free slot of the running batch at the next segment (not when the batch drains), so
puzzles of concurrent requests share one batch and a replica's CPU or GPU stays full under many small
requests. The loop is ``hrm_sdk.runtime.act.run_act``'s (the same halting rule, the same backend calls, the
running puzzles moved down into freed slots when nothing is queued); rows never interact, so each puzzle's
result is the one ``run_act`` gives it alone. What it adds is eviction: a puzzle whose caller went away leaves
its slot at the next segment boundary and costs no further segment.

    batcher = Batcher(runtime.open("model.onnx"), batch_size=64)
    future = batcher.submit(tokens)                       # PuzzleFuture[SegmentResult]
    results = list(batcher.run_act(None, items))          # run_act's interface: finish order, local indices
    future.evict()                                        # the caller went away: queued or running, it leaves
    batcher.close()

If the backend fails, the puzzles in the batch get the exception and the loop starts again for the ones still
queued.
"""

from __future__ import annotations

import collections
import heapq
import logging
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace

import numpy as np

from ..errors import HRMError
from .act import ACTPolicy, SegmentResult, softmax_confidence
from .backends.base import Backend

log = logging.getLogger(__name__)


class Cancelled(HRMError):
    """The caller went away (``Batcher.run_act(cancelled=...)``, ``PuzzleFuture.evict``)."""


@dataclass
class BatcherStats:
    puzzles: int = 0  # puzzles finished
    segments: int = 0  # puzzle-segments run (the sum of every finished puzzle's steps)
    steps: int = 0  # backend.step calls (batched segments)
    rows: int = 0  # rows computed over all steps (rows / steps: the mean batch occupancy)
    max_rows: int = 0  # the fullest batch seen
    failures: int = 0  # backend errors (each fails the puzzles then in the batch)
    evicted: int = 0  # puzzles whose caller went away, taken out of the running batch mid-run
    dropped: int = 0  # puzzles whose caller went away while they were queued (they never took a slot)


class PuzzleFuture(Future):
    """A queued or running puzzle; ``evict()`` takes it out wherever it is (its caller went away)."""

    def __init__(self):
        super().__init__()
        self.evicted = False

    def evict(self) -> None:
        """Queued: it never takes a slot (``cancel``). Running: it leaves its slot before the next segment and
        the future fails with ``Cancelled``."""
        self.evicted = True
        self.cancel()  # succeeds only while it is still queued


@dataclass
class _Job:
    tokens: np.ndarray
    puzzle_id: int
    future: PuzzleFuture


class Batcher:
    """One backend, one policy, one ACT loop in a thread; ``submit`` from any thread."""

    def __init__(self, backend: Backend, batch_size: int = 64, policy: ACTPolicy | None = None,
                 name: str = "hrm-batcher"):
        self.backend = backend
        self.batch_size = batch_size
        self.policy = policy or ACTPolicy()
        self._min_steps, self._max_steps = self.policy.resolve(backend.meta.halt_max_steps)  # fail here
        self.stats = BatcherStats()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running: dict[int, _Job] = {}  # slot -> job, for the loop now running
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- callers ---------------------------------------------------------------------------------------------
    def submit(self, tokens: np.ndarray, puzzle_id: int = 0) -> PuzzleFuture:
        """Queue one puzzle; the future's result is its SegmentResult (index 0, logits kept)."""
        future = PuzzleFuture()
        with self._cv:
            if self._closed:
                raise HRMError("the batcher is closed")
            self._queue.append(_Job(np.asarray(tokens), int(puzzle_id), future))
            self._cv.notify()
        return future

    def run_act(self, backend, items: Iterable[tuple[np.ndarray, int]], batch_size: int | None = None,
                policy: ACTPolicy | None = None, keep_logits: bool = False,
                cancelled: threading.Event | None = None) -> Iterator[SegmentResult]:
        """``run_act``'s interface over the shared loop (``backend`` and ``batch_size`` are the batcher's own):
        results in the order the puzzles finish, indexed by their position in ``items``. A policy other than
        the batcher's is refused. If the caller stops early, or ``cancelled`` is set (a client that went
        away: ``Cancelled`` is raised within 0.1 s), its unfinished puzzles are evicted: the queued ones never
        take a slot, the running ones leave the batch before its next segment."""
        if policy is not None and policy != self.policy:
            raise HRMError(f"this batcher runs {self.policy}, not {policy}")
        futures = {self.submit(tokens, pid): k for k, (tokens, pid) in enumerate(items)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=None if cancelled is None else 0.1,
                                     return_when=FIRST_COMPLETED)
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled(f"cancelled with {len(pending)} of {len(futures)} puzzles unfinished")
                for f in sorted(done, key=futures.__getitem__):
                    r = f.result()
                    yield replace(r, index=futures[f], logits=r.logits if keep_logits else None)
        finally:
            for f in pending:
                f.evict()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop taking puzzles, finish the queued ones, and end the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout)

    def pending(self) -> int:
        """Puzzles queued or running."""
        with self._cv:
            return len(self._queue) + len(self._running)

    # -- the loop thread -------------------------------------------------------------------------------------
    def _loop(self) -> None:
        counted = _Counting(self.backend, self.stats)
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue and self._closed:
                    return
            try:
                self._run(counted)
            except Exception as exc:  # noqa: BLE001 - the callers get it; the loop serves the next ones
                self.stats.failures += 1
                log.exception("ACT loop failed; failing the %d puzzles in the batch", len(self._running))
                for job in self._running.values():
                    if not job.future.done():
                        job.future.set_exception(exc)
            with self._cv:
                self._running.clear()

    def _take(self) -> _Job | None:
        """The next queued puzzle that still has a caller (under the lock), or None."""
        while self._queue:
            job = self._queue.popleft()
            if job.future.set_running_or_notify_cancel():  # False: cancelled (evicted) while queued
                return job
            self.stats.dropped += 1
        return None

    def _run(self, backend: _Counting) -> None:
        """Run until no puzzle is queued or running: run_act's loop over the queue, with eviction."""
        capacity = max(1, self.batch_size if backend.max_batch is None else min(self.batch_size, backend.max_batch))
        backend.allocate(capacity)
        running, slot_of = self._running, np.full(capacity, -1, dtype=np.int64)  # slot_of: 1 = occupied
        steps = np.zeros(capacity, dtype=np.int64)
        free = list(range(capacity))  # a heap: the lowest slots first, so the occupied ones stay packed
        can_move = backend.supports_move and not backend.fixed_batch

        def refill() -> None:
            slots, jobs = [], []
            with self._cv:
                while free:
                    job = self._take()
                    if job is None:
                        break
                    slot = heapq.heappop(free)
                    running[slot], slot_of[slot], steps[slot] = job, 1, 0
                    slots.append(slot)
                    jobs.append(job)
            if slots:
                backend.load(np.asarray(slots), np.stack([j.tokens for j in jobs]),
                             np.asarray([j.puzzle_id for j in jobs], dtype=np.int32))

        def release(slot: int) -> None:
            with self._cv:
                del running[slot]
            slot_of[slot] = -1
            heapq.heappush(free, slot)

        def evict() -> None:
            for slot in [s for s, j in list(running.items()) if j.future.evicted]:
                if not running[slot].future.done():
                    running[slot].future.set_exception(Cancelled("the caller went away"))
                self.stats.evicted += 1
                release(slot)

        def compact() -> None:
            """Nothing queued: move the running puzzles above the first holes down into them, so that step(n)
            stops computing empty rows (as run_act does once its input runs dry)."""
            active = np.flatnonzero(slot_of >= 0)
            src = active[active >= len(active)]
            if not len(src):
                return
            dst = np.setdiff1d(np.arange(len(active)), active)[: len(src)]
            backend.move(src, dst)
            with self._cv:
                for s, d in zip(src.tolist(), dst.tolist()):
                    running[d] = running.pop(s)
            slot_of[dst], steps[dst], slot_of[src] = 1, steps[src], -1
            free[:] = np.flatnonzero(slot_of < 0).tolist()  # sorted, so still a heap

        refill()
        while True:
            evict()
            if not running:
                refill()
                if not running:
                    return
            elif free and can_move:
                with self._cv:
                    queued = bool(self._queue)
                if not queued:
                    compact()
            n = int(np.flatnonzero(slot_of >= 0).max()) + 1
            q_halt, q_cont = backend.step(n)
            q_halt, q_cont = q_halt[:n], q_cont[:n]
            active = slot_of[:n] >= 0
            steps[:n][active] += 1
            at_max = steps[:n] >= self._max_steps
            by_q = ((q_halt > q_cont) & (steps[:n] >= self._min_steps) if self.policy.halting == "q"
                    else np.zeros(n, bool))
            done = np.flatnonzero(active & (at_max | by_q))
            if len(done):
                logits = backend.fetch_logits(done)
                pred, conf = softmax_confidence(logits)
                for k, slot in enumerate(done.tolist()):
                    job = running[slot]
                    self.stats.puzzles += 1
                    self.stats.segments += int(steps[slot])
                    if not job.future.done():
                        job.future.set_result(SegmentResult(
                            index=0, prediction=pred[k], confidence=conf[k], steps=int(steps[slot]),
                            q_halt=float(q_halt[slot]), q_continue=float(q_cont[slot]),
                            halted_by="q" if by_q[slot] else "max", logits=logits[k]))
                    release(slot)
            refill()


class _Counting:
    """The backend as the loop sees it, counting step calls and rows."""

    def __init__(self, backend: Backend, stats: BatcherStats):
        self._backend, self._stats = backend, stats

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def step(self, n: int):
        self._stats.steps += 1
        self._stats.rows += n
        self._stats.max_rows = max(self._stats.max_rows, n)
        return self._backend.step(n)
