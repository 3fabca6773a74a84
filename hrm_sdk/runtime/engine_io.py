"""The TensorRT engine's I/O contract, shared by the builder (``exporters.tensorrt_build``) and the backend
(``runtime.backends.tensorrt_backend``): tensor specs of the segment interface, of a parsed network and of a
deserialised engine, the check that they match a model's metadata, and the file hash the sidecars record.
No GPU and no TensorRT import needed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtefactError
from .artefact import INPUTS, OUTPUTS, SegmentMeta

TRT_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT32": "int32", "INT64": "int64",
              "BOOL": "bool", "INT8": "int8", "UINT8": "uint8"}


# ----------------------------------------------------------------------------- tensor specs (no GPU needed)

@dataclass(frozen=True)
class TensorSpec:
    name: str
    mode: str  # "input" | "output"
    shape: tuple[int, ...]  # -1 for the dynamic batch axis
    dtype: str  # numpy name

    def describe(self) -> str:
        return f"{self.dtype} [{', '.join(map(str, self.shape))}]"


def expected_io(meta: SegmentMeta) -> list[TensorSpec]:
    """The segment interface (artefact.py) with this model's sizes."""
    s, m = meta.state_dtype, meta
    state = (-1, m.positions, m.hidden_size)
    return [TensorSpec("tokens", "input", (-1, m.seq_len), "int32"), TensorSpec("puzzle_ids", "input", (-1,), "int32"),
            TensorSpec("z_H", "input", state, s), TensorSpec("z_L", "input", state, s),
            TensorSpec("reset", "input", (-1,), "bool"),
            TensorSpec("z_H_out", "output", state, s), TensorSpec("z_L_out", "output", state, s),
            TensorSpec("logits", "output", (-1, m.seq_len, m.vocab_size), "float32"),
            TensorSpec("q_halt", "output", (-1,), "float32"), TensorSpec("q_continue", "output", (-1,), "float32")]


def network_io(network) -> list[TensorSpec]:
    """Inputs and outputs of a parsed INetworkDefinition (what the builder turns into the engine's tensors)."""
    def spec(t, mode):
        return TensorSpec(t.name, mode, tuple(int(d) for d in t.shape), TRT_DTYPES.get(t.dtype.name, t.dtype.name))

    return ([spec(network.get_input(i), "input") for i in range(network.num_inputs)]
            + [spec(network.get_output(i), "output") for i in range(network.num_outputs)])


def engine_io(engine) -> list[TensorSpec]:
    """IO tensors of a deserialised ICudaEngine (TensorRT 10 name-based API)."""
    specs = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        dtype = engine.get_tensor_dtype(name).name
        specs.append(TensorSpec(name, engine.get_tensor_mode(name).name.lower(),
                                tuple(int(d) for d in engine.get_tensor_shape(name)), TRT_DTYPES.get(dtype, dtype)))
    return specs


def check_io(specs: list[TensorSpec], meta: SegmentMeta, source: str, remedy: str) -> None:
    """Raise ArtefactError unless `specs` are exactly the segment interface of `meta`."""
    got = {s.name: s for s in specs}
    want = {s.name: s for s in expected_io(meta)}
    if set(got) != set(want):
        raise ArtefactError(f"{source}: not an hrm-sdk segment (tensors {sorted(got)}, expected "
                            f"{list(INPUTS) + list(OUTPUTS)}); {remedy}")
    for name, w in want.items():
        g = got[name]
        if (g.mode, g.shape, g.dtype) != (w.mode, w.shape, w.dtype):
            raise ArtefactError(f"{source}: {g.mode} {name} is {g.describe()}, its metadata says {w.describe()}: "
                                f"it belongs to another model or precision; {remedy}")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
