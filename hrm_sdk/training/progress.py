"""Progress reporting for training: a Rich progress bar with live metrics on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("hrm_sdk.training")


def _fmt(metrics: dict, keys: tuple[str, ...]) -> str:
    parts = []
    for k in keys:
        if k in metrics and metrics[k] is not None:
            v = metrics[k]
            parts.append(f"{k.split('/')[-1]} {v:.4g}" if isinstance(v, float) else f"{k.split('/')[-1]} {v}")
    return "  ".join(parts)


LIVE_KEYS = ("loss", "train/exact_accuracy", "train/steps", "eval/exact_accuracy", "eval/act_valid_shortest_path",
             "steps_per_s", "mfu")


class TrainingProgress:
    def __init__(self, total: int, start: int, enabled: bool):
        self.enabled = enabled
        self.progress = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[live]}"),
                                     console=Console(stderr=True), transient=False)
            self.task = self.progress.add_task("train", total=total, completed=start, live="")
            self.progress.start()
        self.last: dict = {}

    def update(self, step: int, metrics: dict | None = None) -> None:
        if not self.enabled:
            return
        if metrics:
            self.last.update(metrics)
        if self.progress is not None:
            self.progress.update(self.task, completed=step, live=_fmt(self.last, LIVE_KEYS))
        elif metrics:
            log.info("step %d  %s", step, _fmt(metrics, LIVE_KEYS + ("lr",)))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
