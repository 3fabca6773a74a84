"""An int8 ONNX segment for CPUs: the fp32 graph's MatMul weights quantized by ONNX Runtime.

    hrm export onnx sudoku --precision int8 -o sudoku-int8.onnx
    python -c "from hrm_sdk.exporters.onnx_int8 import export_onnx_int8; export_onnx_int8('model.onnx', 'int8.onnx')"

The source is an fp32 segment graph written by ``hrm export onnx`` (a ``.onnx`` path, or a model directory whose
``model.onnx`` is one; a directory without one is exported to fp32 first, in a temporary folder). Its sidecar is
verified like any load (``build.onnx_sha256``). Steps:

1. ``fold_weights``: the exporter feeds each weight to the MatMuls through Casts (fp16-stored weights) and
   Transposes; these constant chains are folded into one fp32 initializer per (weight, chain), shared by every
   MatMul of the unrolled cycles, because ``quantize_dynamic`` only quantizes a MatMul whose B is an initializer.
2. ``onnxruntime.quantization.quantize_dynamic``: MatMul weights int8 (per output channel by default, weight type
   QInt8 or QUInt8), activations quantized per call to uint8. The output heads (logits, Q) stay fp32: they are a
   tiny share of the work and the answers and halting decisions read them directly.
3. The sidecar: the source's SegmentMeta with ``precision`` ``int8`` (states stay fp32), ``build.onnx_sha256`` of
   the new file and ``build.source_onnx_sha256`` of the fp32 graph, and the quantization settings.
4. ``compare_graphs`` (unless ``check=False``): the fp32 and int8 graphs on the same real puzzles, every segment
   fed the fp32 graph's states (teacher-forced), so differences cannot compound: the largest relative logits
   difference and the shares of cell predictions and halting decisions that differ. A share above
   ``MAX_CELL_DISAGREEMENT``/``MAX_HALT_DISAGREEMENT`` fails the export (a broken quantization, not an accuracy
   claim: accuracy is measured with ``hrm eval``).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from hrm_sdk.errors import ArtefactError, HRMError, require
from hrm_sdk.runtime.artefact import OUTPUTS, read_sidecar, write_sidecar

from .onnx_export import ExportResult, _embed_metadata, check_inputs

log = logging.getLogger(__name__)
WEIGHT_TYPES = ("qint8", "quint8")
KEEP_FP32 = ("lm_head", "q_head")  # MatMul/Gemm weights whose name contains one of these stay fp32
MAX_CELL_DISAGREEMENT = 0.10  # teacher-forced, of all cell predictions (a guard against a broken graph)
MAX_HALT_DISAGREEMENT = 0.25  # teacher-forced, of all halting decisions
CHECK_PUZZLES = 16


def source_graph(model: str | Path, workdir: Path, check: bool) -> Path:
    """The fp32 graph to quantize: ``model`` itself (an .onnx), the model directory's ``model.onnx`` when it is
    fp32, else a fresh fp32 export of the checkpoint into ``workdir``."""
    path = Path(model)
    if path.suffix == ".onnx":
        return path
    onnx = path / "model.onnx" if path.is_dir() else path.parent / "model.onnx"
    meta = read_sidecar(onnx) if onnx.is_file() else None
    if meta is not None and meta.precision == "fp32":
        return onnx
    from .onnx_export import export_onnx

    log.info("%s has no fp32 model.onnx: exporting one first", path)
    return Path(export_onnx(model, out=workdir / "model.onnx", check=check).path)


def default_out(model: Path) -> Path:
    """``x.onnx`` -> ``x.int8.onnx`` beside it; a model directory -> its ``model.int8.onnx``."""
    if model.suffix == ".onnx":
        return model.with_name(model.stem + ".int8.onnx")
    return (model if model.is_dir() else model.parent) / "model.int8.onnx"


def fold_weights(proto) -> dict:
    """Fold the constant Cast/Transpose chains that feed weights to the graph's nodes into initializers, in place.

    Equal chains of one weight (the same ops and attributes) fold into one initializer, so an unrolled cycle's
    MatMuls still share their weight. Returns what was folded: {"nodes": removed, "initializers": added}."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = proto.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    key_of = {name: (name,) for name in consts}  # a constant -> its (source, ops...) key
    canonical: dict[tuple, str] = {}  # key -> the initializer name kept for it
    rename: dict[str, str] = {}
    kept_nodes, added = [], []
    for node in graph.node:
        ins = [rename.get(i, i) for i in node.input]
        if node.op_type in ("Cast", "Transpose") and len(ins) == 1 and ins[0] in consts:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            x = consts[ins[0]]
            y = x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"])) if node.op_type == "Cast" else \
                np.transpose(x, attrs.get("perm"))
            key = key_of[ins[0]] + ((node.op_type, repr(sorted((k, list(v) if isinstance(v, (list, tuple)) else v)
                                                                 for k, v in attrs.items()))),)
            out = node.output[0]
            if key in canonical:
                rename[out] = canonical[key]
            else:
                canonical[key] = out
                consts[out], key_of[out] = y, key
                added.append(out)
            continue
        del node.input[:]
        node.input.extend(ins)
        kept_nodes.append(node)
    removed = len(graph.node) - len(kept_nodes)
    del graph.node[:]
    graph.node.extend(kept_nodes)
    for o in graph.output:
        if o.name in rename:
            raise ArtefactError(f"graph output {o.name} is a constant; not an hrm-sdk segment graph")
    used = {i for n in graph.node for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    inits += [numpy_helper.from_array(np.ascontiguousarray(consts[name]), name) for name in added if name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return {"nodes": removed, "initializers": sum(name in used for name in added)}


def head_nodes(proto, keep: tuple[str, ...]) -> list[str]:
    """Names of the MatMul/Gemm nodes whose weight comes from a parameter named like one of ``keep``, or that
    compute a graph output's direct input (the logits projection, whatever its weight is called)."""
    produced_by = {o: n for n in proto.graph.node for o in n.output}
    names = set()
    for node in proto.graph.node:
        if node.op_type in ("MatMul", "Gemm") and any(k in i for i in node.input for k in keep):
            names.add(node.name)
    for out in proto.graph.output:  # the logits projection may read an anonymous folded weight (val_123)
        node = produced_by.get(out.name)
        while node is not None and node.op_type not in ("MatMul", "Gemm") and node.input:
            node = produced_by.get(node.input[0])
        if node is not None and node.op_type in ("MatMul", "Gemm") and out.name in ("logits", "q_halt", "q_continue"):
            names.add(node.name)
    return sorted(names)


def quantize(src: Path, out: Path, weight_type: str = "qint8", per_channel: bool = True,
             reduce_range: bool = False) -> dict:
    """Fold the weights of the fp32 graph ``src`` and quantize its MatMuls to int8 into ``out``; the settings."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if weight_type not in WEIGHT_TYPES:
        raise HRMError(f"int8 weight type must be one of {', '.join(WEIGHT_TYPES)}, got {weight_type!r}")
    proto = onnx.load(str(src))
    folded = fold_weights(proto)
    for n, node in enumerate(proto.graph.node):  # quantize_dynamic addresses nodes by name
        node.name = node.name or f"{node.op_type}_{n}"
    excluded = head_nodes(proto, KEEP_FP32)
    # quantize_dynamic turns a Gemm into "<name>_MatMul" + "<name>_Add" before it looks at nodes_to_exclude
    skip = excluded + [f"{n.name}_MatMul" for n in proto.graph.node if n.op_type == "Gemm" and n.name in excluded]
    qtype = QuantType.QInt8 if weight_type == "qint8" else QuantType.QUInt8
    root = logging.getLogger()  # quantize_dynamic logs a line per tensor on the root logger, and a warning to
    level = root.level  # pre-process the graph (what fold_weights did)
    root.setLevel(max(level, logging.ERROR))
    with tempfile.TemporaryDirectory() as tmp:
        folded_path = Path(tmp) / "folded.onnx"
        onnx.save(proto, str(folded_path))
        try:
            quantize_dynamic(folded_path, out, weight_type=qtype,
                             per_channel=per_channel, reduce_range=reduce_range, op_types_to_quantize=["MatMul"],
                             nodes_to_exclude=skip, extra_options={"MatMulConstBOnly": True})
        finally:
            root.setLevel(level)
    nodes = onnx.load(str(out)).graph.node
    quantized = sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in nodes)
    if not quantized:
        raise ArtefactError(f"{src}: no MatMul weight was quantized; is it an fp32 hrm-sdk segment graph?")
    left = {n.name for n in nodes if n.op_type in ("MatMul", "Gemm")}
    if not all(name in left or f"{name}_MatMul" in left for name in excluded):
        raise ArtefactError(f"{src}: quantize_dynamic quantized an output head ({', '.join(excluded)} were to stay "
                            "fp32); this onnxruntime names nodes differently: please report it")
    return {"method": "onnxruntime.quantization.quantize_dynamic", "op_types": ["MatMul"], "weight_type": weight_type,
            "per_channel": per_channel, "reduce_range": reduce_range, "activations": "uint8, dynamic per tensor",
            "kept_fp32": excluded, "quantized_matmuls": quantized, "folded": folded}


def export_onnx_int8(model: str | Path, out: str | Path | None = None, check: bool = True,
                     check_puzzles: int = CHECK_PUZZLES, weight_type: str = "qint8", per_channel: bool = True,
                     reduce_range: bool = False, **unused) -> ExportResult:
    """Write an int8 graph (and its sidecar) from ``model``'s fp32 segment graph; see the module docstring."""
    require("onnx", "torch", "int8 export")
    import onnxruntime

    from hrm_sdk.checkpoint import file_sha256
    from hrm_sdk.runtime.backends.onnx_backend import OnnxBackend

    bad = sorted(k for k, v in unused.items() if v not in (None, "int8"))
    if bad:
        raise HRMError(f"option {bad[0]!r} does not apply to an int8 export (it quantizes an fp32 graph)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src = source_graph(model, Path(tmp), check)
        meta = OnnxBackend(src, device="cpu").meta  # verifies the source's sha256, metadata and interface
        if meta.precision != "fp32":
            raise HRMError(f"{src}: a {meta.precision} graph; int8 quantizes an fp32 graph (hrm export onnx MODEL)")
        out = Path(out) if out else default_out(Path(model))
        out.parent.mkdir(parents=True, exist_ok=True)
        log.info("quantizing %s to int8 (%s weights, per-channel %s) -> %s", src, weight_type, per_channel, out)
        tmp_out = out.with_name(out.name + ".tmp")
        settings = quantize(src, tmp_out, weight_type, per_channel, reduce_range)
        int8 = replace(meta, precision="int8", state_dtype="float32",
                       build={"source_onnx_sha256": file_sha256(src), "quantization": settings,
                              "onnxruntime_version": onnxruntime.__version__})
        _embed_metadata(tmp_out, int8.to_json())
        tmp_out.replace(out)
        int8.build = {"onnx_sha256": file_sha256(out), **int8.build}
        sidecar = write_sidecar(out, int8)
        result = ExportResult(path=str(out), sidecar=str(sidecar), precision="int8",
                              size_mb=round(out.stat().st_size / 1e6, 2), seconds=0.0, check=None)
        if check:
            result.check = compare_graphs(src, out, check_puzzles)
    result.seconds = round(time.perf_counter() - t0, 1)
    log.info("int8 export done in %.1fs: %s (%.1f MB)", result.seconds, out, result.size_mb)
    return result


def compare_graphs(fp32: Path, int8: Path, n: int = CHECK_PUZZLES) -> dict:
    """The int8 graph against its fp32 source on ``n`` real puzzles, every segment from the fp32 graph's states;
    ArtefactError when more decisions differ than MAX_CELL_DISAGREEMENT/MAX_HALT_DISAGREEMENT allow."""
    import numpy as np

    from hrm_sdk.runtime.backends.onnx_backend import OnnxBackend, open_session

    meta = OnnxBackend(int8, device="cpu").meta  # the new file loads as any user would load it
    ref, got = open_session(fp32), open_session(int8)
    items, tokens, ids, z_H, z_L, reset = check_inputs(meta, n)
    worst_rel, cells, halts = 0.0, 0, 0
    for _ in range(meta.halt_max_steps):
        feeds = {"tokens": tokens, "puzzle_ids": ids, "z_H": z_H, "z_L": z_L, "reset": reset}
        a, b = ref.run(list(OUTPUTS), feeds), got.run(list(OUTPUTS), feeds)
        worst_rel = max(worst_rel, float(np.abs(a[2] - b[2]).max() / max(np.abs(a[2]).max(), 1e-6)))
        cells += int((a[2].argmax(-1) != b[2].argmax(-1)).sum())
        halts += int(((a[3] > a[4]) != (b[3] > b[4])).sum())
        z_H, z_L, reset = a[0], a[1], np.zeros_like(reset)
    S = meta.halt_max_steps
    report = {"against": str(fp32), "puzzles": len(items), "segments": S, "teacher_forced_max_rel_logits": worst_rel,
              "cell_disagreement": cells / (len(items) * S * meta.seq_len),
              "halting_disagreement": halts / (len(items) * S)}
    log.info("int8 check on %d puzzles x %d segments, fp32 states each segment: max relative |logits diff| %.1e, "
             "%.2f%% of cell predictions and %.2f%% of halting decisions differ", len(items), S, worst_rel,
             100 * report["cell_disagreement"], 100 * report["halting_disagreement"])
    if report["cell_disagreement"] > MAX_CELL_DISAGREEMENT or report["halting_disagreement"] > MAX_HALT_DISAGREEMENT:
        raise ArtefactError(f"{int8}: the int8 graph departs from its fp32 source ({report['cell_disagreement']:.2%} "
                            f"of cell predictions, {report['halting_disagreement']:.2%} of halting decisions differ; "
                            f"allowed {MAX_CELL_DISAGREEMENT:.0%}, {MAX_HALT_DISAGREEMENT:.0%}); do not use it")
    return report
