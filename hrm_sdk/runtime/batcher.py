"""Continuous batching across callers: one ACT loop on one backend, fed from a thread-safe queue.

A ``Batcher`` owns a backend and runs ``run_act`` in a background thread. Any thread may submit puzzles; each
queued puzzle joins a free slot of the running batch at the next segment (not when the batch drains), so
puzzles of concurrent requests share one batch and a replica's CPU or GPU stays full under many small
requests. Rows never interact, so each puzzle's result is the one ``run_act`` gives it alone.

    batcher = Batcher(runtime.open("model.onnx"), batch_size=64)
    future = batcher.submit(tokens)                       # concurrent.futures.Future[SegmentResult]
    results = list(batcher.run_act(None, items))          # run_act's interface: finish order, local indices
    batcher.close()

A future cancelled before its puzzle is loaded never takes a slot (a client that went away); one already
running finishes its segments and its result is dropped. If the backend fails, the puzzles in the batch get
the exception and the loop starts again for the ones still queued.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace

import numpy as np

from ..errors import HRMError
from .act import ACTPolicy, SegmentResult, run_act
from .backends.base import Backend

log = logging.getLogger(__name__)


class Cancelled(HRMError):
    """The caller went away (``Batcher.run_act(cancelled=...)``)."""


@dataclass
class BatcherStats:
    puzzles: int = 0  # puzzles finished
    segments: int = 0  # puzzle-segments run (the sum of every finished puzzle's steps)
    steps: int = 0  # backend.step calls (batched segments)
    rows: int = 0  # rows computed over all steps (rows / steps: the mean batch occupancy)
    max_rows: int = 0  # the fullest batch seen
    failures: int = 0  # backend errors (each fails the puzzles then in the batch)


@dataclass
class _Job:
    tokens: np.ndarray
    puzzle_id: int
    future: Future


class _Counting:
    """The backend as run_act sees it, counting step calls and rows."""

    def __init__(self, backend: Backend, stats: BatcherStats):
        self._backend, self._stats = backend, stats

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def step(self, n: int):
        self._stats.steps += 1
        self._stats.rows += n
        self._stats.max_rows = max(self._stats.max_rows, n)
        return self._backend.step(n)


class Batcher:
    """One backend, one policy, one ACT loop in a thread; ``submit`` from any thread."""

    def __init__(self, backend: Backend, batch_size: int = 64, policy: ACTPolicy | None = None,
                 name: str = "hrm-batcher"):
        self.backend = backend
        self.batch_size = batch_size
        self.policy = policy or ACTPolicy()
        self.policy.resolve(backend.meta.halt_max_steps)  # fail here, not in the thread
        self.stats = BatcherStats()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running: dict[int, _Job] = {}  # run_act index -> job, for the loop now running
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- callers ---------------------------------------------------------------------------------------------
    def submit(self, tokens: np.ndarray, puzzle_id: int = 0) -> Future:
        """Queue one puzzle; the future's result is its SegmentResult (index 0, logits kept)."""
        future: Future = Future()
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
        away: ``Cancelled`` is raised within 0.1 s), its queued puzzles are cancelled and take no slot."""
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
                f.cancel()

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
    def _feed(self) -> Iterator[tuple[np.ndarray, int] | None]:
        index = 0
        while True:
            job = None
            with self._cv:
                while self._queue:
                    candidate = self._queue.popleft()
                    if candidate.future.set_running_or_notify_cancel():  # False: cancelled while queued
                        job = candidate
                        break
            if job is None:
                yield None  # nothing now: run_act keeps going with what it holds, or ends if it holds nothing
                continue
            self._running[index] = job
            index += 1
            yield job.tokens, job.puzzle_id

    def _loop(self) -> None:
        counted = _Counting(self.backend, self.stats)
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue and self._closed:
                    return
            try:
                for r in run_act(counted, self._feed(), self.batch_size, self.policy, keep_logits=True):
                    job = self._running.pop(r.index)
                    self.stats.puzzles += 1
                    self.stats.segments += r.steps
                    job.future.set_result(replace(r, index=0))
            except Exception as exc:  # noqa: BLE001 - the callers get it; the loop serves the next ones
                self.stats.failures += 1
                log.exception("ACT loop failed; failing the %d puzzles in the batch", len(self._running))
                for job in self._running.values():
                    job.future.set_exception(exc)
            self._running.clear()
