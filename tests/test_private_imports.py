"""No module of the project reaches into another module's private (underscore) names.

A name with a leading underscore is its module's own business: a module that needs it from
elsewhere asks for a public name with a docstring instead, so what a module offers is what it
says it offers. Checked on the source of ``src/``, ``dashboard/`` and ``dags/`` with the AST
(nothing is imported), for the three ways to reach a private name of another module:

* ``from x import _name`` (also a relative ``from .x import _name``);
* ``import x`` (or ``import x as y``) then ``x._name``;
* ``from pkg import module`` then ``module._name``.

Dunder names (``__version__``, ``__all__``) are public. A module's own names are its own. Private
names of third-party libraries used on purpose are listed in ``ALLOWED`` with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("src", "dashboard", "dags")

#: (module or class the name belongs to, name) -> why reaching it is deliberate.
ALLOWED: dict[tuple[str, str], str] = {
    ("os", "_exit"): "public despite the underscore: a forked kernel leaves without running the parent's clean-up",
    ("tornado.web.Application", "_mindpulse_policy"): "the project's own marker on tornado's class: the policy is installed once",
    ("panel.theme.fast.Fast", "_resources"): "Panel's table of a design's files; no public way to drop its web font",
    ("panel.state", "_stylesheets"): "Panel's per-document stylesheets; no public way to keep their links on this server",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    """The dotted name a file is imported under (``src/`` is the package root, ``dashboard`` and ``dags`` are their own)."""
    relative = path.relative_to(REPO)
    parts = list(relative.with_suffix("").parts)
    if parts[0] == "src":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str | None, level: int, here: str, is_package: bool) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if not level:
        return module or ""
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def _project_modules() -> set[str]:
    modules = set()
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            modules.add(_module_name(path))
    return modules


def private_reaches(path: Path, source: str | None = None) -> list[tuple[int, str, str]]:
    """(line, module, name) of every private name of another module that ``path`` reaches."""
    source = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(source, filename=str(path))
    here = _module_name(path) if path.is_relative_to(REPO) else path.stem
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str, str]] = []
    aliases: dict[str, str] = {}  # local name -> the module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases.setdefault(alias.name.split(".")[0], alias.name.split(".")[0])
                    aliases[alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node.module, node.level, here, is_package)
            for alias in node.names:
                if _private(alias.name) and module != here:
                    found.append((node.lineno, module, alias.name))
                elif not _private(alias.name):
                    # ``from pkg import module``: attribute access on it is checked below.
                    aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            dotted = _dotted(node.value)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head not in aliases:
                continue
            module = aliases[head] + (f".{rest}" if rest else "")
            if module != here:
                found.append((node.lineno, module, node.attr))
    return sorted(set(found))


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes; None for anything else (a call, a subscript, ``self``)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id in ("self", "cls"):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _violations() -> list[str]:
    project = _project_modules()
    out = []
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            for line, module, name in private_reaches(path):
                top = module.split(".")[0]
                if (module, name) in ALLOWED:
                    continue
                if top not in {m.split(".")[0] for m in project} and (module, name) not in ALLOWED:
                    out.append(f"{path.relative_to(REPO)}:{line}: {module}.{name} (a private name of a third-party "
                               "library: list it in ALLOWED with the reason, or use its public API)")
                    continue
                out.append(f"{path.relative_to(REPO)}:{line}: {module}.{name} is private to {module}; "
                           f"make it public there (with a docstring) and import that")
    return out


def test_no_module_imports_a_private_name_of_another() -> None:
    violations = _violations()
    assert not violations, ("private names reached across modules:\n" + "\n".join(violations))


@pytest.mark.parametrize("source, expected", [
    ("from mindpulse.pipeline.records import _json_ready\n", [(1, "mindpulse.pipeline.records", "_json_ready")]),
    ("import mindpulse.monitoring.index\nmindpulse.monitoring.index._run_time(1)\n",
     [(2, "mindpulse.monitoring.index", "_run_time")]),
    ("import mindpulse.monitoring.index as ix\nix._remove(1)\n", [(2, "mindpulse.monitoring.index", "_remove")]),
    ("from mindpulse.monitoring import index\nindex._remove(1)\n", [(2, "mindpulse.monitoring.index", "_remove")]),
    ("from .records import _now\n", [(1, "mindpulse.pipeline.records", "_now")]),
    ("def f():\n    from mindpulse.pipeline.retrain import _version_trained_for\n",
     [(2, "mindpulse.pipeline.retrain", "_version_trained_for")]),
])
def test_each_way_of_reaching_a_private_name_is_caught(source: str, expected: list, tmp_path: Path) -> None:
    path = REPO / "src" / "mindpulse" / "pipeline" / "example_module.py"
    assert private_reaches(path, source) == expected


@pytest.mark.parametrize("source", [
    "from mindpulse import __version__\n",  # dunder
    "def _own():\n    pass\n_own()\n",  # a module's own name
    "from mindpulse.pipeline.example_module import _own\n",  # itself
    "class A:\n    def f(self):\n        return self._x\n",  # an attribute of an object, not of a module
    "from mindpulse.pipeline.records import json_ready\n",
])
def test_public_and_own_names_pass(source: str) -> None:
    path = REPO / "src" / "mindpulse" / "pipeline" / "example_module.py"
    assert private_reaches(path, source) == []
