"""GPU parity check of the runtime (issue #3): the CPU test `test_onnx_matches_pytorch_on_200_puzzles`, on CUDA.

Trains the same tiny HRM as the test fixture (300 steps on 32 Sudoku puzzles, on the CPU), exports it to ONNX
and compares, on the same 200 puzzles (32 seen in training, 168 not), PyTorch on CUDA (fp32) against ONNX
Runtime on the CPU and, with onnxruntime-gpu, on CUDA: predictions, halting segments and first-segment logits.
Exits 1 if any pair differs.

    HRM_SHARED_DATA=.carry/data python scripts/gpu/runtime_check.py --out runtime_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import tiny_config, write_sudoku_dataset  # noqa: E402
from test_runtime import puzzles  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="PyTorch's device (cpu only to try the script out)")
    ap.add_argument("--out", help="write the JSON here too")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from exporters.onnx_export import export_onnx
    from hrm_sdk.runtime import load
    from hrm_sdk.runtime.verify import compare
    from hrm_sdk.training.config import load_config
    from hrm_sdk.training.trainer import Trainer

    root = Path(tempfile.mkdtemp(prefix="hrm-runtime-check-"))
    data = write_sudoku_dataset(root / "data")
    text = tiny_config(root, data, steps=300, global_batch_size=32, ema=False, eval_interval=0,
                       log_interval=100, checkpoint_interval=300)
    trainer = Trainer(load_config(text=text), show_progress=False)  # CPU unless told otherwise: like the test
    trainer.fit()
    model = trainer.latest_checkpoint()
    onnx = Path(export_onnx(model, check=False).path)

    items = puzzles(32) + puzzles(168, start=1000)
    ref = load(model, device=args.device, precision="fp32")
    pairs = {f"pytorch {args.device} fp32 vs onnxruntime cpu": load(onnx, device="cpu")}
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pairs[f"pytorch {args.device} fp32 vs onnxruntime cuda"] = load(onnx, device="cuda")
    doc = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "torch": torch.__version__, "onnxruntime": ort.__version__,
           "puzzles": len(items), "pairs": {}}
    ok = True
    for name, other in pairs.items():
        cmp = compare(ref, other, items, batch_size=50)
        d = cmp.to_dict()
        same = (d["halting_agreement"] == 1.0 and d["prediction_agreement"] == 1.0
                and d["first_segment_max_abs_logits"] < 1e-3)
        ok &= same
        doc["pairs"][name] = {**{k: v for k, v in d.items() if k != "mismatched"}, "identical": same}
        print(name, doc["pairs"][name], flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
