"""``hrm bench``: a model's ACT-loop throughput on a backend, with the reference-style HRM loop beside it.

One process, one device: for each batch size, the model solves the test puzzles through the same host ACT loop
the solvers use (``hrm_sdk.runtime.bench.bench_act``), and, on a CUDA device, the reference HRM-Sudoku loop
runs at the same batch (``bench_reference``), so the ratio of the two compares like with like.
"""

from __future__ import annotations

import platform

from hrm_sdk import runtime
from hrm_sdk.errors import HRMError
from hrm_sdk.metrics import peak_flops
from hrm_sdk.runtime.bench import bench_act, bench_reference, bench_segment, segment_flops

from . import registry
from .evaluate import load_test_set


def bench_model(task: str, data: str, model: str | None = None, backend: str = "auto", device: str | None = None,
                batch_sizes: tuple[int, ...] = (256,), limit: int = 0, compile: bool = False,
                reference: bool = True, progress=None, host_loop: bool = False, segment: bool = True,
                precision: str | None = None) -> dict:
    """Throughput records for each batch size; ``reference`` adds the reference loop where a GPU runs, ``segment``
    the bare segment's rate (``loop_efficiency``: the ACT loop's puzzle-segments/s over it). ``host_loop`` keeps
    the PyTorch backend on the host ACT loop (the device-resident loop is its default on CUDA)."""
    if not batch_sizes or min(batch_sizes) < 1:
        raise HRMError(f"--batch-size must be at least 1, got {list(batch_sizes)}")
    path = registry.resolve(model, task)
    inputs, labels = load_test_set(data, task)
    if limit:
        inputs, labels = inputs[:limit], labels[:limit]
    record = {"task": task, "model": str(path), "data": str(data), "puzzles": len(inputs),
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "runs": []}
    cuda_name = _cuda_name(device)
    peak = peak_flops(cuda_name) if cuda_name else None
    for batch in batch_sizes:
        be = runtime.open(path, backend, device, compile=compile, precision=precision)
        if be.meta.task != task:
            raise HRMError(f"{path} is a {be.meta.task} model, not a {task} one")
        if host_loop:
            be.resident = False
        flops = segment_flops(be.meta.model)
        gpu_peak = peak if "cuda" in be.describe() else None
        act = bench_act(be, inputs, labels, batch, flops, gpu_peak)
        run = {"act": act.to_dict()}
        if progress:
            progress(f"batch {batch}: {act.puzzles_per_s:,.0f} puzzles/s on {act.backend} ({act.loop} loop)")
        if segment:
            seg = bench_segment(be, inputs, batch, flops_per_segment=flops, peak=gpu_peak)
            run["segment"] = seg.to_dict()
            run["loop_efficiency"] = act.segments_per_s / seg.segments_per_s
            if progress:
                progress(f"batch {batch}: bare segment {seg.segments_per_s:,.0f} puzzle-segments/s, loop keeps "
                         f"{run['loop_efficiency']:.0%}")
        be.close()
        if reference and cuda_name:
            ref = bench_reference(batch, len(inputs), device=device or "cuda")
            run["reference"] = ref.to_dict()
            run["ratio"] = act.puzzles_per_s / ref.puzzles_per_s
            if progress:
                progress(f"batch {batch}: reference {ref.puzzles_per_s:,.0f} puzzles/s, ratio {run['ratio']:.2f}")
        record["runs"].append(run)
    record["device"] = cuda_name or "cpu"
    return record


def _cuda_name(device: str | None) -> str | None:
    """The GPU's name where the benchmark runs on CUDA (device cuda, or auto with a GPU present)."""
    if device and not device.startswith("cuda"):
        return None
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(torch.device(device or "cuda"))
