"""Benchmark the backends on one model: segment latency, solve throughput with ACT halting, accuracy, parity.

    python -m scripts.bench_backends --model runs/x/checkpoints/step_N --onnx model.onnx --data data/sudoku/test

Backends measured (those available): PyTorch on CUDA (bf16 eager, bf16 torch.compile, fp32 eager), PyTorch on
the CPU, ONNX Runtime on the CPU (and CUDA with onnxruntime-gpu). For each: the median time of one segment at
batch 1 and at the solve batch, and puzzles/s solving the first N test puzzles with ACT halting (each puzzle
stops at its first q_halt > q_continue), with their exact accuracy and mean segments. Then a lockstep parity
check of PyTorch (fp32) against ONNX Runtime on each of its devices. Prints a table; the last line of stdout
is one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from hrm_sdk.data.dataset import read_split  # noqa: E402
from hrm_sdk.runtime import run_all  # noqa: E402
from hrm_sdk.runtime.verify import compare  # noqa: E402


def segment_time(backend, tokens: np.ndarray, batch: int, repeats: int = 20) -> float:
    """Median seconds of one segment for `batch` rows (states carried between repeats, like the ACT loop)."""
    backend.allocate(batch)
    backend.load(np.arange(batch), np.resize(tokens, (batch, tokens.shape[1])), np.zeros(batch, np.int32))
    for _ in range(3):
        backend.step(batch)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        backend.step(batch)  # returns host q values: includes the device sync
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def solve(backend, inputs, labels, batch):
    items = [(inputs[i], 0) for i in range(len(inputs))]
    run_all(backend, items[: min(batch, len(items))], batch)  # warm-up (compilation, allocator)
    t = time.perf_counter()
    res = run_all(backend, items, batch)
    dt = time.perf_counter() - t
    pred = np.stack([r.prediction for r in res])
    lab = labels.astype(np.int64)
    exact = ((pred == lab) | (lab == 0)).all(-1)
    return {"puzzles": len(items), "seconds": dt, "puzzles_per_s": len(items) / dt, "exact": float(exact.mean()),
            "mean_steps": float(np.mean([r.steps for r in res]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (checkpoint)")
    ap.add_argument("--onnx", help="exported fp32 ONNX of the same model")
    ap.add_argument("--data", required=True, help="test split directory")
    ap.add_argument("--n", type=int, default=1000, help="puzzles for GPU throughput")
    ap.add_argument("--n-cpu", type=int, default=64, help="puzzles for CPU throughput")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--parity", type=int, default=64, help="puzzles for the lockstep parity check")
    ap.add_argument("--out", help="write the JSON here too")
    args = ap.parse_args()

    import torch

    from hrm_sdk.runtime.backends.onnx_backend import OnnxBackend
    from hrm_sdk.runtime.backends.torch_backend import TorchBackend

    split = read_split(args.data)
    inputs, labels = np.asarray(split.inputs), np.asarray(split.labels)
    rows = []
    configs = []
    if torch.cuda.is_available():
        configs += [("pytorch cuda bf16", dict(device="cuda", precision="bf16"), args.n),
                    ("pytorch cuda bf16 compiled", dict(device="cuda", precision="bf16", compile=True), args.n),
                    ("pytorch cuda fp32", dict(device="cuda", precision="fp32"), args.n)]
    configs.append(("pytorch cpu fp32", dict(device="cpu", precision="fp32"), args.n_cpu))
    for name, kw, n in configs:
        be = TorchBackend(args.model, **kw)
        rows.append({"backend": name, "latency_b1_ms": 1e3 * segment_time(be, inputs, 1),
                     f"segment_b{args.batch}_ms": 1e3 * segment_time(be, inputs, args.batch if "cuda" in name else 16),
                     **solve(be, inputs[:n], labels[:n], args.batch if "cuda" in name else 16)})
        print(rows[-1], flush=True)
        del be
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    if args.onnx:
        import onnxruntime as ort

        devices = ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])
        for dev in devices:
            be = OnnxBackend(args.onnx, device=dev)
            n, b = (args.n, args.batch) if dev == "cuda" else (args.n_cpu, 16)
            rows.append({"backend": f"onnxruntime {dev} fp32", "latency_b1_ms": 1e3 * segment_time(be, inputs, 1),
                         f"segment_b{args.batch}_ms": 1e3 * segment_time(be, inputs, b),
                         **solve(be, inputs[:n], labels[:n], b)})
            print(rows[-1], flush=True)
    parity = None
    if args.onnx and args.parity:
        ref = TorchBackend(args.model, device="cuda" if torch.cuda.is_available() else "cpu", precision="fp32")
        items = [(inputs[i], 0) for i in range(args.parity)]
        parity = {}
        for dev in devices:
            parity[f"onnxruntime {dev}"] = compare(ref, OnnxBackend(args.onnx, device=dev), items,
                                                   batch_size=min(64, args.parity)).to_dict()
            print(dev, {k: v for k, v in parity[f"onnxruntime {dev}"].items() if k != "mismatched"}, flush=True)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"\n{'backend':30s} {'b=1 ms/seg':>11s} {'batch ms/seg':>13s} {'puzzles/s':>10s} {'exact':>7s} {'steps':>6s}")
    for r in rows:
        seg = next(v for k, v in r.items() if k.startswith("segment_b"))
        print(f"{r['backend']:30s} {r['latency_b1_ms']:11.1f} {seg:13.1f} {r['puzzles_per_s']:10.1f} "
              f"{r['exact']:7.3f} {r['mean_steps']:6.2f}")
    doc = {"machine": {"gpu": gpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
                       "torch": torch.__version__}, "batch": args.batch, "rows": rows, "parity": parity}
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
