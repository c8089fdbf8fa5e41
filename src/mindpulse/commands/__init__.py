"""Command groups of the ``mindpulse`` CLI; each module exposes ``register(app)``.

Errors a user can fix are printed as one line (``fail``), never as a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, NoReturn

import typer

COMMAND_MODULES = (
    "mindpulse.commands.data",
    "mindpulse.commands.models",
    "mindpulse.commands.store",
    "mindpulse.commands.monitor",
    "mindpulse.commands.platform",
    "mindpulse.commands.accounts",
    "mindpulse.commands.privacy",
)


def load(name: str) -> ModuleType:
    return importlib.import_module(name)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear error line to stderr and exit."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


class _TwiceError(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _TwiceError(key)
        out[key] = value
    return out


def json_object(text: str, option: str, example: str) -> dict[str, Any]:
    """The JSON object given to ``option`` (each key once); one clear error line for anything else."""
    import json

    from mindpulse.contract import echo

    expected = f"expected an object of field: value such as {example}"
    try:
        value = json.loads(text, object_pairs_hook=_once)
    except _TwiceError as exc:
        fail(f"{option}: the key {echo(exc.key)} is given twice; expected each field once")
    except json.JSONDecodeError as exc:
        fail(f"{option}: not valid JSON ({exc.msg} at character {exc.pos}); {expected}")
    except RecursionError:
        fail(f"{option}: JSON nested too deeply; {expected}")
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        fail(f"{option}: JSON that cannot be read ({echo(str(exc))}); {expected}")
    if not isinstance(value, dict):
        fail(f"{option}: got a JSON {type(value).__name__}, {expected}")
    return value
