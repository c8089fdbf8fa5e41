"""Command groups of the ``mindpulse`` CLI; each module exposes ``register(app)``.

Errors a user can fix are printed as one line (``fail``), never as a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NoReturn

import typer

COMMAND_MODULES = (
    "mindpulse.commands.data",
    "mindpulse.commands.models",
    "mindpulse.commands.store",
    "mindpulse.commands.monitor",
    "mindpulse.commands.platform",
)


def load(name: str) -> ModuleType:
    return importlib.import_module(name)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear error line to stderr and exit."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)
