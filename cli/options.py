"""The options every command shares, defined once, and the conventions they follow.

Conventions (``tests/test_cli_conventions.py`` walks the command tree and checks them):
``-h/--help`` on every command; ``-f/--format`` with the formats the command really writes (``human | json``,
plus ``jsonl`` where there is one record per puzzle); ``-m/--model`` takes a bundled model's name or a path;
``-n/--limit`` is the number of puzzles (or tasks); ``-o/--out`` is where a file goes; ``-d/--device``.
Numbers are range-checked by the parser, so a bad value is one usage line (exit 2) before any work starts.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated

import typer

from .output import OutputFormat


class ReportFormat(str, Enum):
    """Formats of the commands that write one record (no per-puzzle lines, so no jsonl)."""

    human = "human"
    json = "json"


class Backend(str, Enum):
    auto = "auto"
    tensorrt = "tensorrt"
    onnxruntime = "onnxruntime"
    pytorch = "pytorch"


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(value: str) -> str:
    if value and not _DEVICE.match(value):
        raise typer.BadParameter(f"{value!r} is not a device; use cpu, cuda or cuda:N")
    return value


def new_app(help: str, **kwargs) -> typer.Typer:
    """A command group with the project's help settings: -h as well as --help, plain help text that wraps at the
    terminal's width instead of cutting option names."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None,
                       context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120}, **kwargs)


class Precision(str, Enum):
    """The PyTorch backend's compute precision (an exported ONNX graph or engine has its own)."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


def precision_arg(value: Precision) -> str | None:
    """None for auto (the backend's choice: bf16 on CUDA, fp32 on a CPU), else the precision's name."""
    return None if value == Precision.auto else value.value


class Tune(str, Enum):
    """What the ARC fitted route trains on a task's demonstrations besides its embedding."""

    all = "all"
    embedding = "embedding"


TuneOpt = Annotated[Tune, typer.Option("--tune", help="ARC fitted route: all (fine-tune the network with the "
                                                      "task's embedding, one task at a time, a demonstration pair "
                                                      "held out to stop early) | embedding (network frozen).")]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format on stdout.")]
ReportOpt = Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format on stdout.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model: a bundled model's name (hrm models), a "
                                                             "directory, an .onnx or an .engine.")]
BackendOpt = Annotated[Backend, typer.Option("--backend", "-b", help="Backend to run the model on.")]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", callback=check_device,
                                        help="cpu, cuda or cuda:N (default: the backend's choice).")]
PrecisionOpt = Annotated[Precision, typer.Option(help="PyTorch backend (picks it): fp32 | bf16 (CPUs with native "
                                                      "bf16: AVX512-BF16 or AMX) | auto (bf16 on CUDA, fp32 on a "
                                                      "CPU).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Puzzles in flight at once.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=0, help="Only the first N puzzles (ARC: tasks); "
                                                                    "0 = all.")]
PngOpt = Annotated[str, typer.Option("--png", help="Also draw the puzzles and answers into this PNG file "
                                                   "(needs matplotlib).")]
