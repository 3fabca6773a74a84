"""The device-resident ACT loop: halting, result capture and slot refilling on the GPU, for the PyTorch backend.

``run_act`` takes this route for a ``TorchBackend`` on CUDA (``backend.resident``) when it is given a finite list
of puzzles; the rules are the host loop's (``runtime/act.py``), so each puzzle's prediction, steps and halting
values are the ones the host loop gives it (rows never interact). What moves off the host:

- All puzzles of the call are copied to the device once. After every segment the device decides which slots
  halted, writes their answers into result tensors (a scatter; slots that did not halt write to a spare row), and
  refills them from the queue with a prefix sum: no host round trip per segment.
- The host looks every ``check_every`` segments (one small copy): to hand out the results finished so far and to
  learn whether the queue ran dry. From then on it looks every segment and, once at most half the slots still run,
  moves the running puzzles into the first slots and continues at a bucket of half the size (``B, B/2, B/4, ...``),
  so the tail of a call costs what its running puzzles cost. The segment is compiled once per bucket shape.

    results = list(run_resident(backend, [(tokens, puzzle_id), ...], batch_size=768, policy=ACTPolicy()))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .act import ACTPolicy, SegmentResult

MIN_BUCKET = 16  # below this a smaller shape saves nothing measurable (and costs one more compiled shape)


def run_resident(backend, items: Sequence[tuple[np.ndarray, int]], batch_size: int = 64,
                 policy: ACTPolicy | None = None, check_every: int = 4) -> Iterator[SegmentResult]:
    """Solve every (tokens, puzzle_id) item on ``backend``'s device; results come out in batches as puzzles finish."""
    policy = policy or ACTPolicy()
    min_steps, max_steps = policy.resolve(backend.meta.halt_max_steps)
    by_q_rule = policy.halting == "q"
    t = backend.torch
    dev = backend.device
    N = len(items)
    if N == 0:
        return
    queue_tok = t.from_numpy(np.stack([np.asarray(tok, dtype=np.int32) for tok, _ in items])).to(dev)
    queue_ids = t.as_tensor(np.asarray([pid for _, pid in items], dtype=np.int32), device=dev)
    S = queue_tok.shape[1]

    # Results: row N is the spare row that slots which did not halt write into.
    out_pred = t.zeros(N + 1, S, dtype=t.int64, device=dev)
    out_conf = t.zeros(N + 1, S, dtype=t.float32, device=dev)
    out_steps = t.zeros(N + 1, dtype=t.int64, device=dev)
    out_q = t.zeros(N + 1, 2, dtype=t.float32, device=dev)
    out_by_q = t.zeros(N + 1, dtype=t.bool, device=dev)
    finished = t.zeros(N + 1, dtype=t.bool, device=dev)
    emitted = np.zeros(N, dtype=bool)

    B = max(1, min(batch_size, N))
    first = t.arange(B, device=dev)
    item = t.where(first < N, first, -1)  # the input index each slot holds, -1 = empty
    steps = t.zeros(B, dtype=t.int64, device=dev)
    tok = queue_tok[first.clamp(max=N - 1)]
    ids = queue_ids[first.clamp(max=N - 1)]
    reset = t.ones(B, dtype=t.bool, device=dev)
    z_H, z_L = backend.new_states(B)
    next_item = t.tensor(min(B, N), dtype=t.int64, device=dev)
    exhausted = B >= N
    segment = 0

    while True:
        z_H, z_L, logits, q_halt, q_cont = backend.run_segment(tok, ids, z_H, z_L, reset)
        q_halt, q_cont = q_halt.float(), q_cont.float()
        active = item >= 0
        steps = steps + active
        by_q = (q_halt > q_cont) & (steps >= min_steps) if by_q_rule else t.zeros_like(active)
        done = active & ((steps >= max_steps) | by_q)
        dest = t.where(done, item, N)
        lf = logits.float()
        out_pred[dest] = lf.argmax(-1)
        out_conf[dest] = 1.0 / t.exp(lf - lf.amax(-1, keepdim=True)).sum(-1)
        out_steps[dest] = steps
        out_q[dest] = t.stack((q_halt, q_cont), -1)
        out_by_q[dest] = by_q
        finished[dest] = True
        # Refill: the k-th slot that halted (in slot order) takes queue item next_item + k.
        new = next_item + t.cumsum(done, 0) - 1
        take = done & (new < N)
        item = t.where(done, t.where(take, new, -1), item)
        src = new.clamp(max=N - 1)
        tok = t.where(take[:, None], queue_tok[src], tok)
        ids = t.where(take, queue_ids[src], ids)
        steps = t.where(done, 0, steps)
        reset = take
        next_item = (next_item + done.sum()).clamp(max=N)  # no host scalar: a copy would wait for the GPU
        segment += 1

        if not exhausted and segment % check_every:
            continue
        running, queued = (int(v) for v in t.stack(((item >= 0).sum(), next_item)).tolist())
        yield from _emit(finished, emitted, out_pred, out_conf, out_steps, out_q, out_by_q)
        exhausted = queued >= N
        if exhausted and running == 0:
            return
        if exhausted and running <= len(item) // 2 and len(item) // 2 >= MIN_BUCKET:
            size = len(item)
            while size // 2 >= max(running, MIN_BUCKET):
                size //= 2
            keep = t.nonzero(item >= 0).squeeze(1)
            pad = size - len(keep)
            pick = t.cat((keep, keep[:1].expand(pad))) if pad else keep  # padding rows repeat a running one
            item = t.cat((item[keep], t.full((pad,), -1, dtype=item.dtype, device=dev)))
            steps, tok, ids, reset = steps[pick], tok[pick], ids[pick], reset[pick]
            z_H, z_L = z_H[pick], z_L[pick]


def _emit(finished, emitted, out_pred, out_conf, out_steps, out_q, out_by_q) -> Iterator[SegmentResult]:
    """The results finished since the last look, copied to the host."""
    fin = finished[:-1].cpu().numpy() & ~emitted
    idx = np.flatnonzero(fin)
    if not len(idx):
        return
    emitted[idx] = True
    sel = out_pred.new_tensor(idx)
    pred = out_pred[sel].cpu().numpy()
    conf = out_conf[sel].cpu().numpy()
    steps = out_steps[sel].cpu().numpy()
    q = out_q[sel].cpu().numpy()
    by_q = out_by_q[sel].cpu().numpy()
    for k, i in enumerate(idx):
        yield SegmentResult(index=int(i), prediction=pred[k], confidence=conf[k], steps=int(steps[k]),
                            q_halt=float(q[k, 0]), q_continue=float(q[k, 1]), halted_by="q" if by_q[k] else "max")
