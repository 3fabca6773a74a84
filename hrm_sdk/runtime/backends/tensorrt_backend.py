"""TensorRT backend: a plan built by ``hrm export tensorrt`` run with TensorRT 10's Python API and cuda-python.

    with TensorRTBackend("model.fp16.engine") as backend:      # or runtime.load("model.fp16.engine")
        results = run_all(backend, items, batch_size=256)

Device buffers are allocated once for the batch capacity (at most the profile's max). The states ping-pong
between two buffer pairs: each segment reads z_H/z_L from one pair and writes z_H_out/z_L_out into the other,
and the next segment swaps the two addresses, so no state is ever copied. Per segment only tokens, puzzle_ids
and reset go to the device and only q_halt/q_continue come back; logits come back in ``fetch_logits`` for the
rows asked for. cuda-python (``cuda.bindings.runtime``) provides memory and the stream; torch is not imported.

Before the plan is deserialised, its sidecar (``model.fp16.engine.json``) is checked against the plan's sha256,
the ONNX it was built from, the installed TensorRT and the GPU's compute capability; after, the engine's
tensors are checked against the metadata. Each refusal is an ArtefactError saying what to rebuild.

What was verified where: the pre-checks, on CPU (tests/test_tensorrt.py); the CUDA side (allocation, ping-pong,
copies, partial batches, frees, the constructor's refusal of an RTX engine on sm_90) on an H100 with a stand-in
execution context that computes a toy segment on the host, against a numpy backend through run_all. Never run:
deserialising and executing a real engine (TensorRT-RTX does not run on sm_90; full TensorRT cannot be installed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...errors import ArtefactError, HRMError, MissingExtraError
from .. import trt as trt_info
from ..artefact import SegmentMeta, read_sidecar, verify_sha256
from ..engine_io import TensorSpec, check_io, engine_io, expected_io, network_io, sha256_file  # noqa: F401 (re-exported)
from .base import Backend

log = logging.getLogger(__name__)
STATE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
REBUILD = "rebuild with: hrm export tensorrt"
BUILD_KEYS = ("onnx_sha256", "precision", "profile", "flavour", "tensorrt_version", "compute_capability",
              "cache_key", "engine_sha256", "engine_bytes")


# ----------------------------------------------------------------------------- pre-checks (no GPU needed)

def rebuild_hint(meta: SegmentMeta | None) -> str:
    onnx = (meta.build.get("onnx") if meta else None) or "MODEL"
    return f"{REBUILD} {onnx}"


def read_engine_meta(path: str | Path) -> SegmentMeta:
    """The sidecar of an engine, with its build facts; ArtefactError when it is missing or incomplete."""
    p = Path(path)
    if not p.is_file():
        raise ArtefactError(f"{p}: no such engine file; build one with: hrm export tensorrt MODEL")
    meta = read_sidecar(p)
    if meta is None:
        raise ArtefactError(f"{p}: no sidecar {p.name}.json with the engine's metadata; {REBUILD} MODEL")
    missing = [k for k in BUILD_KEYS if k not in meta.build]
    if missing:
        raise ArtefactError(f"{p}.json: no build facts ({', '.join(missing)}): not the sidecar of an engine built "
                            f"by this SDK; {REBUILD} MODEL")
    return meta


def check_plan(path: str | Path, meta: SegmentMeta) -> bytes:
    """The plan's bytes, if they are the ones its sidecar describes (``build.engine_sha256`` and ``engine_bytes``,
    recorded at build: catches flipped bytes, truncation and swapped sidecars; ``artefact.verify_sha256``)."""
    data = Path(path).read_bytes()
    verify_sha256(path, meta, "engine_sha256", "engine", rebuild_hint(meta), data=data, size_key="engine_bytes")
    return data


def check_source(path: str | Path, meta: SegmentMeta) -> None:
    """If the ONNX the engine was built from is still there, it must be the same file (else the engine is stale)."""
    onnx = meta.build.get("onnx")
    if not onnx or not Path(onnx).is_file():
        return
    now = sha256_file(onnx)
    if now != meta.build["onnx_sha256"]:
        other = read_sidecar(onnx)
        what = ("another checkpoint" if other and other.source_sha256 != meta.source_sha256 else "a re-export")
        raise ArtefactError(f"{path}: built from {onnx} with sha256 {meta.build['onnx_sha256'][:12]}, which is now "
                            f"{now[:12]} ({what}); the engine is stale: {REBUILD} {onnx}")


def check_compatible(path: str | Path, meta: SegmentMeta, rt: trt_info.TensorRT, cc: tuple[int, int]) -> None:
    """The engine must come from this TensorRT (flavour and exact version) and target this GPU."""
    b = meta.build
    built_with = f"{trt_info.DISPLAY.get(b['flavour'], b['flavour'])} {b['tensorrt_version']}"
    target = trt_info.describe_target(b["compute_capability"])
    same_trt = (b["flavour"], b["tensorrt_version"]) == (rt.flavour, rt.version)
    if same_trt and trt_info.runs_on(b["compute_capability"], cc, rt.flavour):
        return
    sm = trt_info.sm_name(cc)
    remedy = rebuild_hint(meta)
    if rt.flavour == "tensorrt-rtx" and not trt_info.runs_on(trt_info.PORTABLE, cc, rt.flavour):
        remedy = f"TensorRT-RTX does not run on {sm}: install full TensorRT, then {remedy}"
    raise ArtefactError(f"{path}: built for {target} with {built_with}; this GPU is {sm} with {rt.describe()}: "
                        f"{remedy}")


# ----------------------------------------------------------------------------- CUDA through cuda-python

def _cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError as exc:
        raise MissingExtraError("cuda-bindings", "tensorrt-rtx", "Running TensorRT engines") from exc
    return cudart


def _device_index(device: str | int | None) -> int:
    if device in (None, "auto", "cuda"):
        return 0
    if isinstance(device, int):
        return device
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ArtefactError(f"TensorRT engines run on CUDA GPUs only; device must be 'cuda' or 'cuda:N', got {device!r}")


class Cuda:
    """The few CUDA runtime calls the backend needs, each checked; pointers are plain ints."""

    def __init__(self, device: int):
        self.rt = _cudart()
        self.device = device
        self.call("cudaSetDevice", device)
        self.stream = self.call("cudaStreamCreateWithFlags", self.rt.cudaStreamNonBlocking)
        self.pointers: list[int] = []

    def call(self, fn: str, *args):
        err, *out = getattr(self.rt, fn)(*args)
        if err != self.rt.cudaError_t.cudaSuccess:
            text = self.rt.cudaGetErrorString(err)[1].decode(errors="replace")
            raise HRMError(f"CUDA error in {fn} on GPU {self.device}: {text}")
        return out[0] if len(out) == 1 else None

    def compute_capability(self) -> tuple[int, int]:
        attr = self.rt.cudaDeviceAttr
        return (self.call("cudaDeviceGetAttribute", attr.cudaDevAttrComputeCapabilityMajor, self.device),
                self.call("cudaDeviceGetAttribute", attr.cudaDevAttrComputeCapabilityMinor, self.device))

    def malloc(self, nbytes: int) -> int:
        ptr = int(self.call("cudaMalloc", max(nbytes, 1)))
        self.pointers.append(ptr)
        return ptr

    def to_device(self, dst: int, host: np.ndarray) -> None:
        host = np.ascontiguousarray(host)
        self.call("cudaMemcpyAsync", dst, host.ctypes.data, host.nbytes,
                  self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream)

    def to_host(self, host: np.ndarray, src: int) -> None:
        assert host.flags.c_contiguous
        self.call("cudaMemcpyAsync", host.ctypes.data, src, host.nbytes,
                  self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream)

    def sync(self) -> None:
        self.call("cudaStreamSynchronize", self.stream)

    def close(self) -> None:
        while self.pointers:
            self.call("cudaFree", self.pointers.pop())
        if self.stream is not None:
            self.call("cudaStreamDestroy", self.stream)
            self.stream = None


# ----------------------------------------------------------------------------- the backend

class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, path, device: str | int | None = None):
        self.gpu: Cuda | None = None
        self.path = Path(path)
        index = _device_index(device)
        self.rt = trt_info.load()
        _cudart()  # a missing package is reported before anything is read
        meta = read_engine_meta(self.path)
        super().__init__(meta)
        try:
            self.gpu = Cuda(index)
        except HRMError as exc:  # no GPU or driver: the engine cannot be used here, other backends may
            raise ArtefactError(f"{self.path}: TensorRT engines need an NVIDIA GPU and none can be used here "
                                f"({exc}); run the .onnx instead") from exc
        try:
            check_compatible(self.path, meta, self.rt, self.gpu.compute_capability())
            plan = check_plan(self.path, meta)
            check_source(self.path, meta)
            self._open(plan)
        except BaseException:
            self.close()
            raise

    def _open(self, plan: bytes) -> None:
        trt = self.rt.module
        self.logger = trt_info.make_logger(self.rt)
        self.runtime = trt.Runtime(self.logger)
        try:
            engine = self.runtime.deserialize_cuda_engine(plan)
        except Exception as exc:  # noqa: BLE001 - the bindings raise RuntimeError/TypeError variants
            self.logger.errors.append(str(exc))
            engine = None
        if engine is None:
            raise ArtefactError(f"{self.path}: TensorRT cannot load this plan ({self.logger.last_error()}); "
                                f"{rebuild_hint(self.meta)}")
        self.engine = engine
        check_io(engine_io(engine), self.meta, str(self.path), rebuild_hint(self.meta))
        mins, _, maxs = engine.get_tensor_profile_shape("tokens", 0)
        self.min_batch, self.max_batch = int(mins[0]), int(maxs[0])
        self.runtime_cache, self.runtime_cache_path = None, None
        if self.rt.flavour == "tensorrt-rtx":
            self.context = self._context_with_runtime_cache(engine)
        else:
            self.context = engine.create_execution_context()
        if self.context is None:
            raise HRMError(f"{self.path}: TensorRT could not create an execution context ({self.logger.last_error()})")

    def _context_with_runtime_cache(self, engine):
        """TensorRT-RTX compiles kernels on first use; its runtime cache keeps them on disk between runs."""
        config = engine.create_runtime_config()
        cache = config.create_runtime_cache()
        path = trt_info.cache_root() / "runtime" / f"{self.meta.build['cache_key']}.bin"
        if path.is_file() and not cache.deserialize(path.read_bytes()):
            log.info("runtime cache %s is from another GPU or version; starting a new one", path)
        config.set_runtime_cache(cache)
        self.runtime_cache, self.runtime_cache_path = cache, path
        return engine.create_execution_context(config)

    def describe(self) -> str:
        b = self.meta.build
        return f"tensorrt ({self.rt.describe()}, {b['precision']}, batch {b['profile']['min']}..{self.max_batch})"

    def allocate(self, capacity: int) -> None:
        super().allocate(max(capacity, self.min_batch))

    def _allocate_states(self, capacity: int) -> None:
        m, gpu = self.meta, self.gpu
        self._free_buffers()
        state_bytes = capacity * m.positions * m.hidden_size * STATE_BYTES[m.state_dtype]
        self.states = [(gpu.malloc(state_bytes), gpu.malloc(state_bytes)) for _ in range(2)]
        self.cur = 0
        self.d_in = {"tokens": gpu.malloc(self.tokens.nbytes), "puzzle_ids": gpu.malloc(self.puzzle_ids.nbytes),
                     "reset": gpu.malloc(self.reset.nbytes)}
        self.row_logits = m.seq_len * m.vocab_size * 4
        self.d_out = {"logits": gpu.malloc(capacity * self.row_logits), "q_halt": gpu.malloc(capacity * 4),
                      "q_continue": gpu.malloc(capacity * 4)}
        self.q_halt = np.zeros(capacity, np.float32)
        self.q_continue = np.zeros(capacity, np.float32)
        for name, ptr in {**self.d_in, **self.d_out}.items():
            self._bind(name, ptr)
        self.bound_rows = 0

    def _bind(self, name: str, ptr: int) -> None:
        if not self.context.set_tensor_address(name, ptr):
            raise HRMError(f"{self.path}: TensorRT refused the address of {name} ({self.logger.last_error()})")

    def _run(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        gpu, ctx, m = self.gpu, self.context, self.meta
        n = max(n, self.min_batch)
        if n != self.bound_rows:
            shapes = {"tokens": (n, m.seq_len), "puzzle_ids": (n,), "reset": (n,),
                      "z_H": (n, m.positions, m.hidden_size), "z_L": (n, m.positions, m.hidden_size)}
            for name, shape in shapes.items():
                if not ctx.set_input_shape(name, shape):
                    raise HRMError(f"{self.path}: TensorRT refused batch {n} for {name} (profile "
                                   f"{self.min_batch}..{self.max_batch}): {self.logger.last_error()}")
            self.bound_rows = n
        gpu.to_device(self.d_in["tokens"], self.tokens[:n])
        gpu.to_device(self.d_in["puzzle_ids"], self.puzzle_ids[:n])
        gpu.to_device(self.d_in["reset"], self.reset[:n])
        (zh_in, zl_in), (zh_out, zl_out) = self.states[self.cur], self.states[1 - self.cur]
        for name, ptr in (("z_H", zh_in), ("z_L", zl_in), ("z_H_out", zh_out), ("z_L_out", zl_out)):
            self._bind(name, ptr)
        if not ctx.execute_async_v3(int(gpu.stream)):
            raise HRMError(f"{self.path}: TensorRT failed to run the segment ({self.logger.last_error()})")
        gpu.to_host(self.q_halt[:n], self.d_out["q_halt"])
        gpu.to_host(self.q_continue[:n], self.d_out["q_continue"])
        gpu.sync()
        self.cur = 1 - self.cur  # this segment's outputs are the next one's inputs
        return self.q_halt[:n].copy(), self.q_continue[:n].copy()

    def fetch_logits(self, slots: np.ndarray) -> np.ndarray:
        m = self.meta
        out = np.empty((len(slots), m.seq_len, m.vocab_size), np.float32)
        for k, slot in enumerate(np.asarray(slots)):
            self.gpu.to_host(out[k], self.d_out["logits"] + int(slot) * self.row_logits)
        self.gpu.sync()
        return out

    def _free_buffers(self) -> None:
        if self.gpu is not None:
            self.gpu.sync()
            while self.gpu.pointers:
                self.gpu.call("cudaFree", self.gpu.pointers.pop())
        self.states, self.d_in, self.d_out = [], {}, {}

    def close(self) -> None:
        """Free device memory and the stream, and save TensorRT-RTX's runtime cache; safe to call twice."""
        if getattr(self, "runtime_cache", None) is not None:
            try:
                self.runtime_cache_path.parent.mkdir(parents=True, exist_ok=True)
                self.runtime_cache_path.write_bytes(memoryview(self.runtime_cache.serialize()))
            except OSError as exc:
                log.warning("could not save the runtime cache %s: %s", self.runtime_cache_path, exc)
            self.runtime_cache = None
        # The context uses the buffers and the engine; release them before freeing memory.
        for attr in ("context", "engine", "runtime"):
            if hasattr(self, attr):
                setattr(self, attr, None)
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None

    def __enter__(self) -> "TensorRTBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
