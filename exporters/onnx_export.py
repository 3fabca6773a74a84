"""Export one ACT segment of a checkpoint as a static ONNX graph, and check it against PyTorch.

    hrm export onnx runs/sudoku/checkpoints/step_010000            # -> .../model.onnx + model.onnx.json
    hrm export onnx MODEL --precision fp16 --out sudoku.fp16.onnx

The graph is ``hrm_sdk.model.SegmentGraph``: every inner cycle unrolled, no Python control flow left, a
dynamic batch axis. Metadata (task, vocabulary, sequence length, halt_max_steps, the model config, the
initial states, the checkpoint's sha256) goes into the graph's metadata_props and a sidecar JSON, so running
it needs neither torch nor the checkpoint.

The check runs the new graph in ONNX Runtime and the checkpoint in PyTorch (fp32, CPU) in lockstep on real
puzzles for every segment. It fails when the first segment's logits differ by more than rounding (relative
1e-4 for fp32, 2e-2 for fp16), or when any puzzle that halts by Q (a converged answer) halts at another
segment or with another prediction (fp16: more than 1%). Unconverged puzzles are reported, not judged: the
recurrence is chaotic there and amplifies any rounding difference (see hrm_sdk/runtime/verify.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hrm_sdk.errors import ArtefactError, HRMError, require
from hrm_sdk.runtime.artefact import INPUTS, METADATA_KEY, OUTPUTS, meta_from_card, write_sidecar

log = logging.getLogger(__name__)
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
MIN_AGREEMENT = {"fp32": 1.0, "fp16": 0.99, "bf16": 0.99}
FIRST_SEGMENT_RTOL = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 5e-2}


@dataclass
class ExportResult:
    path: str
    sidecar: str
    precision: str
    size_mb: float
    seconds: float
    check: dict | None  # the Comparison of the self-check, or None when skipped


def default_onnx_path(model_dir: Path, precision: str) -> Path:
    return model_dir / ("model.onnx" if precision == "fp32" else f"model.{precision}.onnx")


def export_onnx(model: str | Path, out: str | Path | None = None, precision: str = "fp32", opset: int | None = None,
                check: bool = True, check_puzzles: int = 16) -> ExportResult:
    torch = require("torch", "torch", "ONNX export")
    require("onnx", "torch", "ONNX export")
    from hrm_sdk.checkpoint import load_model, model_paths
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
    with torch.no_grad():
        program = torch.onnx.export(graph, args, input_names=list(INPUTS), output_names=list(OUTPUTS),
                                    dynamic_shapes=dynamic, opset_version=opset, dynamo=True, external_data=False,
                                    verbose=False)
    tmp = out.with_name(out.name + ".tmp")
    program.save(str(tmp), external_data=False)
    meta = meta_from_card(c.to_dict(), card, precision, net.H_init.float().tolist(), net.L_init.float().tolist())
    _embed_metadata(tmp, meta.to_json())
    tmp.replace(out)
    sidecar = write_sidecar(out, meta)
    result = ExportResult(path=str(out), sidecar=str(sidecar), precision=precision,
                          size_mb=round(out.stat().st_size / 1e6, 2), seconds=0.0, check=None)
    if check:
        result.check = self_check(model, out, precision, check_puzzles)
    result.seconds = round(time.perf_counter() - t0, 1)
    log.info("export done in %.1fs: %s (%.1f MB)", result.seconds, out, result.size_mb)
    return result


def _embed_metadata(path: Path, text: str) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    proto.producer_name = "hrm-sdk"
    onnx.save(proto, str(path))


def self_check(model: str | Path, onnx_path: Path, precision: str, n: int) -> dict:
    """Run the graph in ONNX Runtime against the checkpoint in PyTorch; raise if they disagree."""
    from hrm_sdk.data.examples import check_items
    from hrm_sdk.runtime.backends.onnx_backend import OnnxBackend
    from hrm_sdk.runtime.backends.torch_backend import TorchBackend
    from hrm_sdk.runtime.verify import compare

    if precision == "bf16":
        log.warning("bf16 graphs do not run on ONNX Runtime: the numerical check is skipped (TensorRT runs them)")
        return {"skipped": "bf16 is not executable on ONNX Runtime"}
    ort_backend = OnnxBackend(onnx_path, device="cpu")
    reference = TorchBackend(model, device="cpu", precision="fp32")
    items = check_items(ort_backend.meta.task, n)
    cmp = compare(reference, ort_backend, items, batch_size=min(n, 8))
    report = cmp.to_dict()
    rel = cmp.first_segment_max_abs_logits / max(cmp.first_segment_logit_scale, 1e-6)
    log.info("check on %d puzzles x %d segments: first-segment |logits diff| %.2e (relative %.1e); converged puzzles "
             "%d, agreeing %.1f%%; all puzzles: halting %.1f%%, predictions %.1f%%", cmp.puzzles, cmp.segments,
             cmp.first_segment_max_abs_logits, rel, cmp.converged, 100 * cmp.converged_agreement,
             100 * cmp.halting_agreement, 100 * cmp.prediction_agreement)
    if rel > FIRST_SEGMENT_RTOL[precision]:
        raise ArtefactError(f"{onnx_path}: after one segment the graph's logits differ from PyTorch by "
                            f"{cmp.first_segment_max_abs_logits:.3g} (relative {rel:.1e}, allowed "
                            f"{FIRST_SEGMENT_RTOL[precision]:.0e}); the export is wrong, do not use it")
    if cmp.converged_agreement < MIN_AGREEMENT[precision]:
        raise ArtefactError(f"{onnx_path}: on puzzles PyTorch solves and halts, the graph halts or answers differently "
                            f"({cmp.converged_agreement:.1%} agree; puzzles {cmp.mismatched[:10]}); do not use it")
    return report


def as_dict(result: ExportResult) -> dict:
    return asdict(result)
