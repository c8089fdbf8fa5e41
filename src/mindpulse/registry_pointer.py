"""The champion pointer file (``registry.json``): its schema, and loading it with one clear error.

The file is written by the registry alone; a hand edit or a damaged disk can still leave it in
any shape, so every read checks it against :class:`RegistryPointer` before anything uses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError


class PointerFileError(ValueError):
    """``registry.json`` cannot be read or does not have the pointer's shape (the message names both)."""


class RegistryPointer(BaseModel):
    """Which version is champion and backup, and every promotion, refusal and rollback so far.

    Unknown keys are kept, so a newer MindPulse can add fields an older one still reads.
    """

    model_config = ConfigDict(extra="allow")

    champion: StrictStr | None = None
    backup: StrictStr | None = None
    updated_at: StrictStr | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)


def empty_pointer() -> dict[str, Any]:
    return RegistryPointer().model_dump()


def was_champion(version: str, pointer: dict[str, Any]) -> bool:
    """Whether ``version`` was ever made champion (by a promotion or a rollback)."""
    return any(event.get("champion_after") == version for event in pointer.get("history", []))


def rolled_back_from(version: str, pointer: dict[str, Any]) -> dict[str, Any] | None:
    """The rollback event that last took ``version`` off champion, or None (it left otherwise, or never was)."""
    for event in reversed(pointer.get("history", [])):
        if event.get("champion_after") == version:
            return None  # champion again since (a forced promotion or a rollback to it)
        if event.get("champion_before") == version and event.get("champion_after") != version:
            return event if event.get("event") == "rollback" else None
    return None


def load_pointer(path: Path) -> dict[str, Any]:
    """The pointer in ``path`` as a dict (the empty pointer when there is no file yet)."""
    if not path.exists():
        return empty_pointer()
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise PointerFileError(f"{path}: the champion pointer cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise PointerFileError(f"{path}: the champion pointer is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                               f"at position {exc.start}); {_remedy()}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PointerFileError(f"{path}: the champion pointer is not valid JSON ({exc.msg} at line {exc.lineno}, "
                               f"column {exc.colno}); {_remedy()}") from None
    except (ValueError, RecursionError) as exc:
        raise PointerFileError(f"{path}: the champion pointer cannot be read as JSON ({type(exc).__name__}); "
                               f"{_remedy()}") from None
    if not isinstance(data, dict):
        raise PointerFileError(f"{path}: the champion pointer has the wrong shape: the file holds a JSON "
                               f"{_json_type(data)}, not an object; {_remedy()}")
    try:
        return RegistryPointer.model_validate(data).model_dump()
    except ValidationError as exc:
        raise PointerFileError(f"{path}: the champion pointer has the wrong shape: {_first_error(exc)}; "
                               f"{_remedy()}") from None


def _first_error(exc: ValidationError) -> str:
    from mindpulse.contract import echo

    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the whole file"
    got = json.dumps(first.get("input"), default=str)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg'].lower()}, got {echo(got)}{more}"


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _remedy() -> str:
    return ("expected an object with champion and backup (version names or null) and history (a list of "
            "objects); restore it from a backup of the artifacts folder")
