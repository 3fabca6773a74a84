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

app.add_typer(solve.app, name="solve")
app.command(epilog=train.EXAMPLES)(output.handle_errors(train.train))
app.add_typer(data.app, name="data")
app.add_typer(export.app, name="export")
app.command()(verify.verify)
app.command("eval")(eval_cmd.evaluate)
app.command()(bench.bench)
app.command()(models.models)
app.command()(info.info)
app.command(epilog=serve.EXAMPLES)(serve.serve)


def main() -> None:
    app(prog_name="hrm")


if __name__ == "__main__":
    main()
