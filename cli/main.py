"""Entry point of the `hrm` command: wires the command modules together and nothing else."""

from __future__ import annotations

import typer

from . import data, eval as eval_cmd, export, info, models, output, serve, solve, train, verify

app = typer.Typer(name="hrm", help="Train, export and run recursive reasoning models (HRM, TRM) as puzzle solvers.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(solve.app, name="solve")
app.command(epilog=train.EXAMPLES)(output.handle_errors(train.train))
app.add_typer(data.app, name="data")
app.add_typer(export.app, name="export")
app.command()(verify.verify)
app.command("eval")(eval_cmd.evaluate)
app.command()(models.models)
app.command()(info.info)
app.command(epilog=serve.EXAMPLES)(serve.serve)


def main() -> None:
    app(prog_name="hrm")


if __name__ == "__main__":
    main()
