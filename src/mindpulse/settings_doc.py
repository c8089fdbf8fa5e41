"""The README's settings table, generated from the ``Field`` descriptions of :class:`~mindpulse.settings.Settings`.

``python -m mindpulse.settings_doc --write`` rewrites the table between the two marker comments
of README.md; ``--check`` exits 1 when the table there is not what the settings say. A field's
default is shown as declared, ``unset`` for None; a description that ends with
``Default: ….`` gives the default in words instead (a folder inside HOME, a factory's value).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mindpulse.settings import Settings, project_dir

START = "<!-- settings-table:start (generated: python -m mindpulse.settings_doc --write) -->"
END = "<!-- settings-table:end -->"

_DEFAULT_IN_WORDS = re.compile(r"\s*Default:\s*(?P<default>.+?)\.?\s*$")


class SettingsDocError(ValueError):
    """The README cannot take the table (markers missing), or a field cannot be documented."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, (list, tuple)):
        return "`" + ",".join(map(str, value)) + "`" if value else "empty"
    return f"`{value}`"


def setting_row(name: str, field: FieldInfo, prefix: str = "MINDPULSE_") -> tuple[str, str, str]:
    """(variable, default, description) of one field, as the table shows them."""
    description = (field.description or "").strip()
    if not description:
        raise SettingsDocError(f"settings field {name!r}: no description; give its Field a description=")
    words = _DEFAULT_IN_WORDS.search(description)
    if words:
        default = words.group("default")
        description = description[: words.start()].rstrip()
    elif field.default_factory is not None or field.default is PydanticUndefined:
        raise SettingsDocError(f"settings field {name!r}: its default is computed; end its description with "
                               "'Default: <the default in words>.'")
    else:
        default = _default(field.default)
    return f"`{prefix}{name.upper()}`", default, description


def settings_table(settings_class: type[Settings] = Settings) -> str:
    """The Markdown table of every setting, in declaration order."""
    prefix = settings_class.model_config.get("env_prefix", "")
    lines = ["| variable | default | what |", "|---|---|---|"]
    for name, field in settings_class.model_fields.items():
        lines.append("| " + " | ".join(_cell(part) for part in setting_row(name, field, prefix)) + " |")
    return "\n".join(lines)


def with_table(text: str, table: str, where: str = "README.md") -> str:
    """``text`` with the part between the markers replaced by ``table``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SettingsDocError(f"{where}: no settings table markers; put the lines {START!r} and {END!r} "
                               "where the table goes")
    return text[: start + len(START)] + "\n" + table + "\n" + text[end:]


def default_readme() -> Path:
    root = project_dir()
    if root is None:
        raise SettingsDocError("no project folder (the package is not installed from a checkout); give --readme PATH")
    return root / "README.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindpulse.settings_doc", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 when the README's table is not current")
    action.add_argument("--write", action="store_true", help="rewrite the README's table")
    parser.add_argument("--readme", type=Path, default=None, help="the README to check or write (default: the project's)")
    args = parser.parse_args(argv)
    try:
        readme = args.readme or default_readme()
        current = readme.read_text(encoding="utf-8")
        wanted = with_table(current, settings_table(), str(readme))
    except (SettingsDocError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if current == wanted:
        print(f"{readme}: the settings table is current")
        return 0
    if args.check:
        print(f"{readme}: the settings table is not current; run: python -m mindpulse.settings_doc --write",
              file=sys.stderr)
        return 1
    from mindpulse.io import atomic_write_text

    atomic_write_text(readme, wanted)
    print(f"{readme}: settings table written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
