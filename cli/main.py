"""Entry point of the `hrm` command: wires the command modules together and nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from . import bench, data, eval as eval_cmd, export, info, models, output, serve, solve, train, verify
from .options import new_app

app = new_app("Train, export and run recursive reasoning models (HRM, TRM) as puzzle solvers.",
              name="hrm", cls=output.OneLineErrorsGroup, pretty_exceptions_enable=False, add_completion=False)


def _version(value: bool) -> None:
    if value:
        from hrm_sdk import __version__

        output.stdout.print(f"hrm-sdk {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Train, export and run recursive reasoning models (HRM, TRM) as puzzle solvers."""

# Short help lines fit the command list at 80 columns (Click would cut a longer docstring sentence with "...").
app.add_typer(solve.app, name="solve", short_help="Solve puzzles: sudoku, maze or arc.")
app.command(epilog=train.EXAMPLES, short_help="Train an HRM/TRM model from a TOML config.")(
    output.handle_errors(train.train))
app.add_typer(data.app, name="data", short_help="Build datasets from puzzle collections and generators.")
app.add_typer(export.app, name="export", short_help="Export a model: an ONNX segment or a TensorRT engine.")
app.command(short_help="Compare two backends of one model, segment by segment.")(verify.verify)
app.command("eval", short_help="A model's accuracy on a test set, as its card reports it.")(eval_cmd.evaluate)
app.command(short_help="ACT-loop throughput beside the reference HRM loop.")(bench.bench)
app.command(short_help="List the models shipped with this installation.")(models.models)
app.command(short_help="What this installation can run on: backends, GPU, TensorRT.")(info.info)
app.command(epilog=serve.EXAMPLES, short_help="Serve the solvers over HTTP (Ray Serve).")(serve.serve)

def main() -> None:
    app(prog_name="hrm")


if __name__ == "__main__":
    main()
