"""ONNX Runtime backend: the exported segment on the CPU, or on CUDA with onnxruntime-gpu.

On the CPU the states are numpy arrays and batches shrink as puzzles finish. On CUDA the states live in
device OrtValues bound through IOBinding and swapped between input and output each segment (ping-pong),
so only tokens, ids and reset flags go to the device and only q_halt/q_continue come back per segment.
An int8 graph (``precision`` int8 in its sidecar, ``exporters/onnx_int8.py``) always runs on the CPU, with fp32
states. Importing this module does not import torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dataclasses import fields

from ...errors import ArtefactError, HRMError, MissingExtraError, clip
from ..artefact import INPUTS, METADATA_KEY, OUTPUTS, STATE_DTYPES, SegmentMeta, read_sidecar, verify_sha256
from .base import Backend

log = logging.getLogger(__name__)
NP_DTYPES = {"float32": np.float32, "float16": np.float16}
CPU_MEM_ARENA = False  # ONNX Runtime's CPU memory arena (see open_session); True restores its default
# Rows per ONNX Runtime call on the CPU (OnnxBackend._run): a call's transient activations grow by about 10 MB a
# row for the shipped Sudoku model (its SwiGLU intermediates), so 100 rows in one call peaked at 1.1 GB RSS and
# 8 rows at 48 MB above the loaded model; the rows are independent, so the split changes no result.
CPU_ROWS = 8


def available_providers() -> list[str]:
    import onnxruntime as ort

    return ort.get_available_providers()


def preload_cuda_libraries() -> None:
    """Load the CUDA libraries of the pip `nvidia-*` packages (torch's, or onnxruntime-gpu[cuda,cudnn]'s) so the
    CUDA provider finds them without LD_LIBRARY_PATH. A no-op where onnxruntime has no `preload_dlls`."""
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001 - best effort: the session reports what is really missing
            log.debug("onnxruntime.preload_dlls failed: %s", exc)


def _malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere: macOS, musl, Windows)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM: list = []


def release_freed_memory() -> None:
    """Give the heap pages that the last ONNX Runtime calls freed back to the system. Without the arena ONNX
    Runtime frees its buffers after each call, but glibc keeps freed memory mapped (its mmap threshold rises
    after large frees), so RSS stayed near the largest call's peak; ``malloc_trim(0)`` returns it. A no-op
    where the C library has no ``malloc_trim``."""
    if not _TRIM:
        _TRIM.append(_malloc_trim())
    if _TRIM[0] is not None:
        _TRIM[0](0)


def open_session(path: str | Path, providers: list[str] | None = None, threads: int = 0):
    """An InferenceSession, with corrupt or foreign files turned into ArtefactError."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingExtraError("onnxruntime", "gpu", "Running ONNX models") from exc
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: no such ONNX file; export one with: hrm export onnx MODEL")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    cpu_only = all((p[0] if isinstance(p, tuple) else p) == "CPUExecutionProvider"
                   for p in (providers or ["CPUExecutionProvider"]))
    if cpu_only and not CPU_MEM_ARENA:
        # The CPU arena keeps the largest activations ever allocated and grows in chunks: solve_many in batches
        # of 100 held 1.6 GB RSS for an 11 MB model. Without it (and without the memory-pattern planner, which
        # pre-allocates per input shape) memory is returned after each run; the segment's cost is its matmuls.
        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
    if cpu_only:
        # Basic graph optimisations only: the extended ones add nothing on the CPU for these graphs and the
        # segment ran 4% slower with them (8 rows, 2 cores; outputs bit-identical) and the session took 0.06 s
        # longer to create.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types for bad files
        raise ArtefactError(f"{path}: not a loadable ONNX graph ({str(exc).splitlines()[0][:160]}); the file is "
                            "truncated or corrupted: re-export it with: hrm export onnx MODEL") from exc


def reexport_command(path: str | Path) -> str:
    """The export that rewrites this graph and its sidecar: from the model directory it lies in, when it does."""
    model = Path(path).parent if (Path(path).parent / "model.json").is_file() else "MODEL"
    return f"hrm export onnx {model} -o {path}"


def read_meta(path: str | Path, session) -> SegmentMeta:
    """Metadata from the sidecar, checked against the graph: the graph file's sha256 (recorded at export in the
    sidecar's ``build.onnx_sha256``; a sidecar without it is refused), every field of the copy embedded in the graph, the fields against the
    model config they came from, and the graph's input and output shapes."""
    embedded_text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    embedded = SegmentMeta.from_json(embedded_text, str(path)) if embedded_text else None
    sidecar = read_sidecar(path)
    meta = sidecar or embedded
    if meta is None:
        raise ArtefactError(f"{path}: no hrm-sdk metadata (neither {Path(path).name}.json nor embedded); "
                            "export the model with: hrm export onnx MODEL")
    if sidecar is not None:  # a graph without a sidecar has only its embedded metadata: no hash to check against
        verify_sha256(path, sidecar, "onnx_sha256", "graph", f"re-export it with: {reexport_command(path)}")
    if sidecar and embedded:
        differ = [f.name for f in fields(SegmentMeta) if f.name != "build"
                  and getattr(sidecar, f.name) != getattr(embedded, f.name)]
        if differ:
            name = differ[0]
            shown = "" if name in ("model", "card", "H_init", "L_init") else \
                f" ({clip(getattr(sidecar, name))} in the sidecar, {clip(getattr(embedded, name))} in the graph)"
            raise ArtefactError(f"{path}: its sidecar JSON describes another model than the graph: "
                                f"{', '.join(differ[:4])} differ{shown}; re-export the model")
    check_consistent(path, meta)
    check_interface(path, session, meta)
    return meta


def check_consistent(path, meta: SegmentMeta) -> None:
    """The metadata's own fields agree with the model config it carries (a hand-edited sidecar does not)."""
    model = meta.model if isinstance(meta.model, dict) else {}
    derived = {"arch": model.get("arch"), "vocab_size": model.get("vocab_size"), "seq_len": model.get("seq_len"),
               "hidden_size": model.get("hidden_size"), "num_puzzle_ids": model.get("num_puzzle_ids"),
               "halt_max_steps": model.get("halt_max_steps"),
               "positions": (model["seq_len"] + model["puzzle_emb_len"]
                             if isinstance(model.get("seq_len"), int) and isinstance(model.get("puzzle_emb_len"), int)
                             else None)}
    for name, value in derived.items():
        if getattr(meta, name) != value:
            raise ArtefactError(f"{path}: metadata {name} = {clip(getattr(meta, name))} but its model config says "
                                f"{clip(value)}; the metadata was edited: re-export the model")
    if meta.precision not in STATE_DTYPES or STATE_DTYPES[meta.precision] != meta.state_dtype:
        raise ArtefactError(f"{path}: metadata precision {clip(meta.precision)} with state dtype "
                            f"{clip(meta.state_dtype)}; re-export the model")


def check_interface(path, session, meta: SegmentMeta) -> None:
    got_in = {i.name: i for i in session.get_inputs()}
    got_out = {o.name: o for o in session.get_outputs()}
    if set(got_in) != set(INPUTS) or set(got_out) != set(OUTPUTS):
        raise ArtefactError(f"{path}: not an hrm-sdk segment graph (inputs {sorted(got_in)}); re-export the model")
    expect = {"tokens": [meta.seq_len], "z_H": [meta.positions, meta.hidden_size],
              "z_L": [meta.positions, meta.hidden_size]}
    for name, tail in expect.items():
        if list(got_in[name].shape[1:]) != tail:
            raise ArtefactError(f"{path}: input {name} has shape {got_in[name].shape}, its metadata says "
                                f"[batch, {', '.join(map(str, tail))}]: the graph belongs to another model; re-export")
    logits = list(got_out["logits"].shape[1:])
    if all(isinstance(d, int) for d in logits) and logits != [meta.seq_len, meta.vocab_size]:
        raise ArtefactError(f"{path}: output logits has shape {got_out['logits'].shape}, its metadata says "
                            f"[batch, {meta.seq_len}, {meta.vocab_size}] (vocab_size): re-export the model")


def cpu_only_graph(path) -> bool:
    """Whether the sidecar says the graph is int8 (verified again, with the hash, once the session is open)."""
    try:
        meta = read_sidecar(path)
    except ArtefactError:
        return False  # read_meta reports it
    return meta is not None and meta.precision == "int8"


class OnnxBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path, device: str | None = None, threads: int = 0):
        if cpu_only_graph(path):  # int8 MatMuls (DynamicQuantizeMatMul) are CPU kernels in ONNX Runtime
            if device == "cuda":
                raise HRMError(f"{path}: an int8 graph runs on the CPU only (ONNX Runtime's dynamic int8 "
                               "MatMuls); use --device cpu, or the fp32/fp16 graph on CUDA")
            device = "cpu"
        if device in (None, "auto"):
            want_cuda = "CUDAExecutionProvider" in available_providers()
        else:
            want_cuda = device == "cuda"
            if want_cuda and "CUDAExecutionProvider" not in available_providers():
                raise MissingExtraError("onnxruntime-gpu", "gpu", "ONNX Runtime on CUDA")
        if want_cuda:
            preload_cuda_libraries()
        # TF32 off: ONNX Runtime enables it for fp32 matmuls by default, PyTorch does not, and its rounding
        # (logits off by ~0.06 after one segment, measured on the H100) changes answers through the recurrence.
        cuda = ("CUDAExecutionProvider", {"use_tf32": "0"})
        providers = [cuda, "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
        self.session = open_session(path, providers, threads)
        self.cuda = want_cuda and "CUDAExecutionProvider" in self.session.get_providers()
        if device == "cuda" and not self.cuda:
            # ONNX Runtime falls back to the CPU when the CUDA provider's libraries do not load; say so instead.
            raise HRMError("ONNX Runtime could not start its CUDA provider (CUDA 13 / cuDNN 9 libraries not "
                           "found); install them with: pip install 'hrm-sdk[gpu]', or use --device cpu")
        self.fixed_batch = self.cuda
        self.supports_move = not self.cuda
        super().__init__(read_meta(path, self.session))
        if self.meta.state_dtype not in NP_DTYPES:
            raise ArtefactError(f"{path}: {self.meta.precision} graphs do not run on ONNX Runtime; export fp32 or fp16")
        self.dtype = NP_DTYPES[self.meta.state_dtype]
        self.path = Path(path)

    def describe(self) -> str:
        return f"onnxruntime ({'cuda' if self.cuda else 'cpu'}, {self.meta.precision})"

    def _allocate_states(self, capacity: int) -> None:
        m = self.meta
        shape = (capacity, m.positions, m.hidden_size)
        if not self.cuda:
            self.z_H = np.zeros(shape, self.dtype)
            self.z_L = np.zeros(shape, self.dtype)
            self.logits = None
            return
        import onnxruntime as ort

        def dev(shape, dtype):
            return ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, "cuda", 0)

        self.states = [(dev(shape, self.dtype), dev(shape, self.dtype)) for _ in range(2)]
        self.cur = 0
        self.d_logits = dev((capacity, m.seq_len, m.vocab_size), np.float32)
        self.binding = self.session.io_binding()

    def _move_states(self, src, dst) -> None:
        self.z_H[dst], self.z_L[dst] = self.z_H[src], self.z_L[src]

    def _run(self, n: int):
        if not self.cuda:  # CPU_ROWS rows a call, so the transient activations stay small whatever the batch
            m = self.meta
            self.logits = np.empty((n, m.seq_len, m.vocab_size), np.float32)
            q_halt, q_cont = np.empty(n, np.float32), np.empty(n, np.float32)
            for a in range(0, n, CPU_ROWS):
                b = min(n, a + CPU_ROWS)
                feeds = {"tokens": self.tokens[a:b], "puzzle_ids": self.puzzle_ids[a:b], "z_H": self.z_H[a:b],
                         "z_L": self.z_L[a:b], "reset": self.reset[a:b]}
                z_H, z_L, self.logits[a:b], q_halt[a:b], q_cont[a:b] = self.session.run(list(OUTPUTS), feeds)
                self.z_H[a:b], self.z_L[a:b] = z_H, z_L
            release_freed_memory()
            return q_halt, q_cont
        b, (zh_in, zl_in), (zh_out, zl_out) = self.binding, self.states[self.cur], self.states[1 - self.cur]
        b.clear_binding_inputs()
        b.clear_binding_outputs()
        b.bind_cpu_input("tokens", self.tokens)
        b.bind_cpu_input("puzzle_ids", self.puzzle_ids)
        b.bind_cpu_input("reset", self.reset)
        b.bind_ortvalue_input("z_H", zh_in)
        b.bind_ortvalue_input("z_L", zl_in)
        b.bind_ortvalue_output("z_H_out", zh_out)
        b.bind_ortvalue_output("z_L_out", zl_out)
        b.bind_ortvalue_output("logits", self.d_logits)
        b.bind_output("q_halt", "cpu")
        b.bind_output("q_continue", "cpu")
        self.session.run_with_iobinding(b)
        self.cur = 1 - self.cur
        q = b.get_outputs()
        return q[3].numpy(), q[4].numpy()

    def fetch_logits(self, slots: np.ndarray) -> np.ndarray:
        logits = self.logits if not self.cuda else self.d_logits.numpy()
        return np.asarray(logits[np.asarray(slots)], dtype=np.float32)
