"""The ``mindpulse`` command line. Each command group lives in ``mindpulse.commands.<group>``."""

from __future__ import annotations

import sys

import typer

from mindpulse import __version__
from mindpulse.commands import COMMAND_MODULES, load

app = typer.Typer(
    name="mindpulse",
    help="MindPulse: a student depression-risk screening aid (never a diagnosis) and its MLOps pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


for _module in COMMAND_MODULES:
    load(_module).register(app)


def main() -> None:  # pragma: no cover - thin wrapper
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
