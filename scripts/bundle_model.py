"""Turn a training checkpoint into a bundled solver model: fp16 safetensors + ONNX (fp16 weights, fp32 compute).

    python -m scripts.bundle_model runs/sudoku-trm-mlp/chunk2-step11846 solvers/models/sudoku

The weights are rounded to fp16 once, and both files are made from that rounding, so the PyTorch and the ONNX
Runtime backends run identical weights. The ONNX export checks itself against PyTorch (see exporters).
Measured results and the model card are added by hand after ``hrm eval`` (see the MODEL_CARD.md files).
An ARC checkpoint keeps its version table (``arc_versions.npz``) and gets no ONNX: ARCSolver runs on PyTorch.
``--no-onnx`` stops after the weights (the GPU session scripts use it: the export and its self-check are CPU work,
minutes of held GPU time); export later with ``hrm export onnx DEST --weights fp16``, which writes the same file.
``--fitted-only`` (ARC) keeps the network and, instead of the embedding table, the one row the fitted route
starts from (``embedding_fit.fitted_only``, kept in fp32 so fitting starts exactly where the full table's would):
a training-only model for new tasks in about a quarter of the file. It has no version table, so every task takes
the fitted route.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("dest")
    ap.add_argument("--no-onnx", action="store_true", help="write the weights only; export ONNX later")
    ap.add_argument("--fitted-only", action="store_true",
                    help="ARC: keep the network and the fitted route's starting embedding, not the table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    import torch

    from hrm_sdk.exporters.onnx_export import export_onnx
    from hrm_sdk.checkpoint import load_model, save_model

    model, card = load_model(args.checkpoint)
    keep = {k: card[k] for k in ("task", "step", "sdk_version", "dataset", "train_config", "eval") if k in card}
    keep["source_checkpoint_sha256"] = card["weights_sha256"]
    dest = Path(args.dest)
    if args.fitted_only:
        from hrm_sdk.training.embedding_fit import fitted_only

        if card.get("task") != "arc":
            sys.exit(f"error: {args.checkpoint}: --fitted-only is for ARC models (task {card.get('task')!r})")
        model, n_trained = fitted_only(model)
        keep["fitted_only"] = {"trained_rows": n_trained, "source_num_puzzle_ids": card["model"]["num_puzzle_ids"]}
        save_model(dest, model, keep, dtype=torch.float16, keep_fp32=("puzzle_emb",))
        print(f"{dest}: fp16 network and the fitted route's starting embedding (mean of {n_trained} trained rows); "
              "no version table: every task takes the fitted route")
        return
    save_model(dest, model, keep, dtype=torch.float16)
    versions = Path(args.checkpoint) / "arc_versions.npz"
    if versions.is_file():
        shutil.copyfile(versions, dest / versions.name)
    if card.get("task") == "arc":
        print(f"{dest}: fp16 weights and the ARC version table (no ONNX: ARC runs on PyTorch)")
        return
    if args.no_onnx:
        print(f"{dest}: fp16 weights (no ONNX: run hrm export onnx {dest} --weights fp16)")
        return
    result = export_onnx(dest, out=dest / "model.onnx", weights="fp16")
    print(result)


if __name__ == "__main__":
    main()
