"""`hrm train CONFIG`: train a model from a TOML config (see configs/ and hrm_sdk/training/config.py)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from . import output
from .options import DeviceOpt, ReportFormat, ReportOpt

EXAMPLES = """Examples:

\b
  hrm train configs/tiny.toml
  hrm train configs/sudoku.toml --set train.steps=2000 --set run.out_dir=runs/try
  hrm train configs/sudoku.toml --resume
  torchrun --nproc_per_node=2 $(which hrm) train configs/sudoku.toml"""


def train(
    config: Annotated[Path, typer.Argument(help="Training config (TOML).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last complete checkpoint.")] = False,
    overrides: Annotated[list[str], typer.Option("--set", help="Override a value: section.key=value.")] = [],  # noqa: B006
    device: DeviceOpt = "",
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Train an HRM/TRM model: deep supervision, ACT Q-learning halting, checkpoints you can resume."""
    import time

    t0 = time.perf_counter()
    output.setup_logging()
    from hrm_sdk.training.config import load_config
    from hrm_sdk.training.trainer import Trainer, TrainingInterrupted

    cfg = load_config(config, overrides)
    trainer = Trainer(cfg, resume=resume, device=device or None)
    try:
        metrics = trainer.fit()
    except TrainingInterrupted as exc:
        if trainer.dist.is_main:  # only rank 0 writes checkpoints, so only it can say where to resume from
            again = shlex.join(["hrm", "train", str(config), *(a for o in overrides for a in ("--set", o)), "--resume"])
            output.error(f"{exc}; resume with: {again}")
        raise typer.Exit(output.EXIT_INTERRUPTED) from None
    finally:
        from hrm_sdk.training import distributed

        distributed.teardown()
    if not trainer.dist.is_main:
        return
    latest = trainer.latest_checkpoint()
    elapsed = time.perf_counter() - t0
    result = {"run": cfg.run.name, "step": trainer.step, "checkpoint": str(latest), **metrics}
    if fmt == ReportFormat.human:
        for k, v in result.items():
            output.stdout.print(f"{k:28s} {v:.4f}" if isinstance(v, float) else f"{k:28s} {v}", markup=False)
        output.stdout.print(f"{'elapsed':28s} {output.seconds(elapsed)}", markup=False)
        output.hint(f"Next: hrm export onnx {latest}")
    else:
        output.emit_json(result | {"elapsed_seconds": round(elapsed, 2)})
