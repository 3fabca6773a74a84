"""Export one ACT segment of a checkpoint as a static ONNX graph, and check it against PyTorch.

    hrm export onnx runs/sudoku/checkpoints/step_010000            # -> .../model.onnx + model.onnx.json
    hrm export onnx MODEL --precision fp16 --out sudoku.fp16.onnx

The graph is ``hrm_sdk.model.SegmentGraph``: every inner cycle unrolled, no Python control flow left, a
dynamic batch axis. Metadata (task, vocabulary, sequence length, halt_max_steps, the model config, the
initial states, the checkpoint's sha256) goes into the graph's metadata_props and a sidecar JSON, so running
it needs neither torch nor the checkpoint.

The check (``self_check``) runs the new graph in ONNX Runtime and the checkpoint in PyTorch on real puzzles
for every segment, feeding both the same input states each segment, and fails the export when logits differ
by more than rounding or any prediction or halting decision differs where PyTorch's own margin is not a tie.
It also reports how the two drift apart when each runs free: the recurrence amplifies rounding on puzzles the
model has not solved (see hrm_sdk/runtime/verify.py), so free-running agreement is reported, not judged.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from hrm_sdk.errors import ArtefactError, HRMError, require
from hrm_sdk.runtime.artefact import INPUTS, METADATA_KEY, OUTPUTS, meta_from_card, write_sidecar

log = logging.getLogger(__name__)
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
LOGITS_RTOL = {"fp32": 1e-3, "fp16": 3e-2}  # relative to the largest |logit|, with identical input states
TIE_MARGIN = {"fp32": 1e-5, "fp16": 1e-2}  # relative margin under which PyTorch's own decision is a tie
MAX_FLIPS = {"fp32": 0.0, "fp16": 0.01}  # decisions (per puzzle and segment) allowed to differ beyond ties
FREE_RUNNING_PUZZLES = 4  # puzzles for the informational free-running comparison


@dataclass
class ExportResult:
    path: str
    sidecar: str
    precision: str
    size_mb: float
    seconds: float
    check: dict | None  # the Comparison of the self-check, or None when skipped


@contextlib.contextmanager
def quiet_exporter():
    """Silence the exporter's known noise, and only that: torch.onnx's registry says once per optional
    torchvision operator that torchvision is missing (this graph uses none), and two warnings about its own
    internals (a dynamic-axis name it renames, a pytree deprecation) that the caller cannot act on."""
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                    category=FutureWarning)
            yield
    finally:
        registry.setLevel(level)


def default_onnx_path(model_dir: Path, precision: str) -> Path:
    return model_dir / ("model.onnx" if precision == "fp32" else f"model.{precision}.onnx")


def export_onnx(model: str | Path, out: str | Path | None = None, precision: str = "fp32", opset: int | None = None,
                check: bool = True, check_puzzles: int = 8, weights: str | None = None) -> ExportResult:
    """Export; `weights="fp16"` stores the checkpoint's weights in fp16 (half the file) with Casts to the fp32
    compute (lossless for a checkpoint saved in fp16, such as the bundled models)."""
    torch = require("torch", "torch", "ONNX export")
    require("onnx", "torch", "ONNX export")
    from hrm_sdk.checkpoint import file_sha256, load_model, model_paths
    from hrm_sdk.model import SegmentGraph

    if precision not in PRECISIONS:
        raise HRMError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    t0 = time.perf_counter()
    net, card = load_model(model)
    card_path, _ = model_paths(model)
    out = Path(out) if out else default_onnx_path(card_path.parent, precision)
    out.parent.mkdir(parents=True, exist_ok=True)
    dtype = getattr(torch, PRECISIONS[precision])
    graph = SegmentGraph(net.to(dtype)).eval()
    c = net.config
    B = 2
    args = (torch.ones(B, c.seq_len, dtype=torch.int32), torch.zeros(B, dtype=torch.int32),
            torch.zeros(B, c.positions, c.hidden_size, dtype=dtype),
            torch.zeros(B, c.positions, c.hidden_size, dtype=dtype), torch.ones(B, dtype=torch.bool))
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic = {name: {0: batch} for name in INPUTS}
    log.info("exporting %s (%s, %.2fM parameters) to %s", card_path.parent, precision, net.num_params() / 1e6, out)
    with torch.no_grad(), quiet_exporter():
        program = torch.onnx.export(graph, args, input_names=list(INPUTS), output_names=list(OUTPUTS),
                                    dynamic_shapes=dynamic, opset_version=opset, dynamo=True, external_data=False,
                                    verbose=False)
    tmp = out.with_name(out.name + ".tmp")
    program.save(str(tmp), external_data=False)
    meta = meta_from_card(c.to_dict(), card, precision, net.H_init.float().tolist(), net.L_init.float().tolist())
    if weights == "fp16" and precision == "fp32":
        _store_weights_fp16(tmp, {f"model.{k}" for k in net.state_dict()})
    elif weights not in (None, precision):
        raise HRMError(f"weights {weights!r} with precision {precision!r}: choose weights fp16 with precision fp32")
    _embed_metadata(tmp, meta.to_json())
    tmp.replace(out)
    meta.build = {**meta.build, "onnx_sha256": file_sha256(out)}  # the graph as written, checked at every load
    sidecar = write_sidecar(out, meta)
    result = ExportResult(path=str(out), sidecar=str(sidecar), precision=precision,
                          size_mb=round(out.stat().st_size / 1e6, 2), seconds=0.0, check=None)
    if check:
        result.check = self_check(model, out, precision, check_puzzles)
    result.seconds = round(time.perf_counter() - t0, 1)
    log.info("export done in %.1fs: %s (%.1f MB)", result.seconds, out, result.size_mb)
    return result


def _store_weights_fp16(path: Path, names: set[str]) -> None:
    """Store the named float initializers as fp16, each followed by a Cast back to fp32 at graph entry."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load(str(path))
    graph = proto.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.name in names and init.data_type == TensorProto.FLOAT:
            kept.append(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16"))
            casts.append(helper.make_node("Cast", [init.name + "__fp16"], [init.name], to=TensorProto.FLOAT))
        else:
            kept.append(init)
    nodes = casts + list(graph.node)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(proto, str(path))


def _embed_metadata(path: Path, text: str) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    proto.producer_name = "hrm-sdk"
    onnx.save(proto, str(path))


def check_inputs(meta, n: int):
    """The inputs of a teacher-forced check of a graph described by ``meta``: (items, tokens, puzzle_ids, z_H,
    z_L, reset) for ``n`` of its task's check puzzles, fp32 states, every row reset."""
    import numpy as np

    from hrm_sdk import tasks

    items = tasks.get(meta.task).check_items(n)
    tokens = np.stack([t for t, _ in items]).astype(np.int32)
    ids = np.asarray([p for _, p in items], dtype=np.int32)
    z_H = np.zeros((len(items), meta.positions, meta.hidden_size), np.float32)
    return items, tokens, ids, z_H, np.zeros_like(z_H), np.ones(len(items), dtype=bool)


def self_check(model: str | Path, onnx_path: Path, precision: str, n: int) -> dict:
    """Check the graph against the checkpoint; raise ArtefactError if it computes something else.

    Strict part (teacher-forced): every segment, PyTorch (fp32, CPU) and ONNX Runtime get the *same* input
    states (PyTorch's), so rounding cannot accumulate. A prediction or halting decision may then differ only
    where PyTorch's own margin is a tie within rounding (top-2 logits or q_halt - q_continue closer than
    TIE_MARGIN); any other difference fails the export. Informational part: both run free for every segment
    (``hrm_sdk.runtime.verify.compare``), which shows how far rounding grows on unconverged puzzles.
    """
    import numpy as np
    import torch

    from hrm_sdk.checkpoint import load_model
    from hrm_sdk.model import SegmentGraph
    from hrm_sdk.runtime.backends.onnx_backend import OnnxBackend, open_session
    from hrm_sdk.runtime.backends.torch_backend import TorchBackend
    from hrm_sdk.runtime.verify import compare

    if precision == "bf16":
        log.warning("bf16 graphs do not run on ONNX Runtime: the numerical check is skipped (TensorRT runs them)")
        return {"skipped": "bf16 is not executable on ONNX Runtime"}
    net, _ = load_model(model)
    graph = SegmentGraph(net).eval()
    session = open_session(onnx_path)
    c = net.config
    dtype = np.float16 if precision == "fp16" else np.float32
    items, tokens, ids, z_H, z_L, reset = check_inputs(OnnxBackend(onnx_path, device="cpu").meta, n)
    worst_rel, flips, ties = 0.0, [], 0
    for segment in range(1, c.halt_max_steps + 1):
        with torch.no_grad():
            ref = [t.numpy() for t in graph(torch.from_numpy(tokens), torch.from_numpy(ids), torch.from_numpy(z_H),
                                            torch.from_numpy(z_L), torch.from_numpy(reset))]
        got = session.run(None, {"tokens": tokens, "puzzle_ids": ids, "z_H": z_H.astype(dtype),
                                 "z_L": z_L.astype(dtype), "reset": reset})
        worst_rel = max(worst_rel, float(np.abs(ref[2] - got[2]).max() / max(np.abs(ref[2]).max(), 1e-6)))
        top2 = np.sort(ref[2], axis=-1)[..., -2:]
        tie_cell = (top2[..., 1] - top2[..., 0]) < TIE_MARGIN[precision] * np.abs(top2[..., 1]).clip(min=1)
        cell_diff = ref[2].argmax(-1) != got[2].argmax(-1)
        halt_ref, halt_got = ref[3] > ref[4], got[3] > got[4]
        tie_halt = np.abs(ref[3] - ref[4]) < TIE_MARGIN[precision] * np.maximum(np.abs(ref[3]), 1)
        ties += int((cell_diff & tie_cell).sum() + ((halt_ref != halt_got) & tie_halt).sum())
        bad = (cell_diff & ~tie_cell).any(-1) | ((halt_ref != halt_got) & ~tie_halt)
        flips += [(segment, int(i)) for i in np.flatnonzero(bad)]
        z_H, z_L, reset = ref[0], ref[1], np.zeros_like(reset)
    free = compare(TorchBackend(model, device="cpu", precision="fp32"), OnnxBackend(onnx_path, device="cpu"),
                   items[:FREE_RUNNING_PUZZLES], batch_size=FREE_RUNNING_PUZZLES).to_dict()
    report = {"puzzles": len(items), "segments": c.halt_max_steps, "teacher_forced_max_rel_logits": worst_rel,
              "teacher_forced_disagreements": len(flips), "teacher_forced_ties": ties, "free_running": free}
    log.info("check on %d puzzles x %d segments, same inputs each segment: max relative |logits diff| %.1e, "
             "%d disagreements beyond ties (%d at ties); running free: halting agrees on %.0f%%, converged answers "
             "on %.0f%%", len(items), c.halt_max_steps, worst_rel, len(flips), ties,
             100 * free["halting_agreement"], 100 * free["converged_agreement"])
    if worst_rel > LOGITS_RTOL[precision] or len(flips) > MAX_FLIPS[precision] * len(items) * c.halt_max_steps:
        raise ArtefactError(f"{onnx_path}: the graph does not compute what the checkpoint computes (max relative "
                            f"|logits diff| {worst_rel:.1e}, allowed {LOGITS_RTOL[precision]:.0e}; {len(flips)} "
                            f"decisions differ beyond ties, first at (segment, puzzle) {flips[:3]}); do not use it")
    return report


def as_dict(result: ExportResult) -> dict:
    return asdict(result)
