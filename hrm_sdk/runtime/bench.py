"""Throughput of a model on a backend, and of the reference-style HRM loop beside it, in one process.

``bench_act`` solves puzzles through the ACT loop (``run_all``: the device-resident loop for PyTorch on CUDA, the
host loop otherwise) exactly as a solver's network pass does and reports puzzles/s, segments/s, mean segments,
exact accuracy and MFU; ``bench_segment`` times the bare segment, the rate the loop is measured against. ``bench_reference`` runs the loop the
HRM paper's evaluation uses: a plain compiled segment at HRM-Sudoku shapes (27M parameters, hidden 512, 4+4
layers, 2x2 cycles), all 16 segments for every puzzle, no halting, no slot bookkeeping; it is the anchor the
ACT loop's speed is compared with (``hrm bench`` prints the ratio). The reference's weights are random: only
its speed is measured.

    hrm bench solvers/models/sudoku --data data/sudoku/test --batch-size 768 --backend pytorch --compile
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..metrics import exact, peak_flops
from .act import run_all

log = logging.getLogger(__name__)

# The HRM paper's Sudoku-Extreme model: hidden 512, 8 heads, 4 H and 4 L layers, H_cycles = L_cycles = 2,
# attention with RoPE over 81 cells + 1 puzzle-embedding position; 16 ACT segments at evaluation.
HRM_SUDOKU_SHAPES = dict(arch="hrm", vocab_size=11, seq_len=81, num_puzzle_ids=1, hidden_size=512, num_heads=8,
                         expansion=4.0, H_layers=4, L_layers=4, H_cycles=2, L_cycles=2, puzzle_emb_len=1,
                         pos_encodings="rope", mlp_t=False, halt_max_steps=16)


@dataclass
class BenchResult:
    name: str  # "act", "segment" or "reference"
    backend: str
    batch_size: int
    puzzles: int
    seconds: float
    puzzles_per_s: float
    segments_per_s: float  # puzzle-segments per second
    mean_segments: float
    exact: float | None  # None for the reference (random weights)
    gflop_per_segment: float | None  # per puzzle; None where the backend does not know its graph
    mfu: float | None  # None off a GPU whose peak is known
    loop: str = ""  # act: "resident" (runtime/resident.py) or "host" (runtime/act.py)

    def to_dict(self) -> dict:
        return asdict(self)


def _mfu(flops_per_segment: float | None, segments: float, seconds: float, peak: float | None) -> float | None:
    if not (flops_per_segment and peak and seconds > 0):
        return None
    return flops_per_segment * segments / seconds / peak


def bench_act(backend, inputs: np.ndarray, labels: np.ndarray | None, batch_size: int,
              flops_per_segment: float | None = None, peak: float | None = None, policy=None) -> BenchResult:
    """Solve ``inputs`` [N, seq_len] through the ACT loop after one warm-up batch (compilation, allocator)."""
    items = [(inputs[i], 0) for i in range(len(inputs))]
    run_all(backend, items[:batch_size], batch_size, policy)
    _sync(backend)
    t = time.perf_counter()
    res = run_all(backend, items, batch_size, policy)
    dt = time.perf_counter() - t
    segments = float(sum(r.steps for r in res))
    accuracy = None if labels is None else float(exact(np.stack([r.prediction for r in res]), labels).mean())
    return BenchResult("act", backend.describe(), batch_size, len(items), dt, len(items) / dt, segments / dt,
                       segments / len(items), accuracy,
                       flops_per_segment / 1e9 if flops_per_segment else None,
                       _mfu(flops_per_segment, segments, dt, peak),
                       loop="resident" if getattr(backend, "resident", False) else "host")


def bench_segment(backend, inputs: np.ndarray, batch_size: int, segments: int = 16,
                  flops_per_segment: float | None = None, peak: float | None = None) -> BenchResult:
    """The bare segment: ``segments`` back-to-back segments of one full batch, no halting and no bookkeeping (on a
    backend with ``run_segment`` the states never leave the device; otherwise through ``step``). The rate the ACT
    loop's puzzle-segments/s is measured against."""
    n = min(batch_size, len(inputs))
    tokens = np.asarray(inputs[:n], dtype=np.int32)
    if hasattr(backend, "run_segment"):
        t_ = backend.torch
        tok = t_.from_numpy(tokens).to(backend.device)
        ids = t_.zeros(n, dtype=t_.int32, device=backend.device)
        reset = t_.ones(n, dtype=t_.bool, device=backend.device)

        def run():
            z_H, z_L = backend.new_states(n)
            for _ in range(segments):
                z_H, z_L, *_ = backend.run_segment(tok, ids, z_H, z_L, reset)
            z_H.float().sum().item()
    else:
        def run():
            backend.allocate(n)
            backend.load(np.arange(n), tokens, np.zeros(n, np.int32))
            for _ in range(segments):
                backend.step(n)
    run()  # warm-up
    t = time.perf_counter()
    run()
    dt = time.perf_counter() - t
    return BenchResult("segment", backend.describe(), n, n, dt, n / dt / segments, n * segments / dt,
                       float(segments), None, flops_per_segment / 1e9 if flops_per_segment else None,
                       _mfu(flops_per_segment, n * segments, dt, peak))


def _sync(backend) -> None:
    if getattr(backend, "device", None) is not None and getattr(backend.device, "type", "") == "cuda":
        backend.torch.cuda.synchronize()


def bench_reference(batch_size: int, puzzles: int, device: str = "cuda", compile: bool = True,
                    segments: int = 16, seed: int = 0) -> BenchResult:
    """The reference-style loop at HRM-Sudoku shapes: bf16 autocast on CUDA, every puzzle all ``segments``."""
    import torch

    from ..model import HRM, ModelConfig, SegmentGraph

    torch.manual_seed(seed)
    dev = torch.device(device)
    model = HRM(ModelConfig(**HRM_SUDOKU_SHAPES)).to(dev).eval()
    graph = SegmentGraph(model)
    run = torch.compile(graph, dynamic=False) if compile else graph
    cfg = model.config
    gen = torch.Generator(device="cpu").manual_seed(seed)
    tokens = torch.randint(1, cfg.vocab_size, (batch_size, cfg.seq_len), generator=gen).to(dev)
    ids = torch.zeros(batch_size, dtype=torch.int32, device=dev)
    reset = torch.ones(batch_size, dtype=torch.bool, device=dev)
    no_reset = torch.zeros_like(reset)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def one_batch():
        z = torch.zeros(batch_size, cfg.positions, cfg.hidden_size, device=dev, dtype=dtype)
        z_H, z_L = z, z.clone()
        for s in range(segments):
            z_H, z_L, logits, _, _ = run(tokens, ids, z_H, z_L, reset if s == 0 else no_reset)
        return logits.argmax(-1).cpu()  # the host reads the answer once per batch

    batches = max(1, -(-puzzles // batch_size))
    with torch.inference_mode(), amp:
        one_batch()  # warm-up: compilation
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(batches):
            one_batch()
        dt = time.perf_counter() - t
    n = batches * batch_size
    flops = model.flops_per_segment()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    label = f"reference HRM-Sudoku loop ({name}, {'bf16' if dev.type == 'cuda' else 'fp32'}" \
            f"{', compiled' if compile else ''})"
    return BenchResult("reference", label, batch_size, n, dt, n / dt, n * segments / dt, float(segments), None,
                       flops / 1e9, _mfu(flops, n * segments, dt, peak_flops(name) if dev.type == "cuda" else None))


def segment_flops(model_config: dict) -> float | None:
    """Matmul FLOPs of one segment per puzzle for a model config (``SegmentMeta.model``); None without torch."""
    try:
        import torch

        from ..model import HRM, ModelConfig
    except ImportError:
        return None
    with torch.device("meta"):  # sizes only: no memory, no initialisation
        return HRM(ModelConfig(**model_config)).flops_per_segment()
