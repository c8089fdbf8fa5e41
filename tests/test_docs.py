"""The documentation stays true: the README's settings table, its links, the module map."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import Field

from mindpulse import settings_doc
from mindpulse.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# [text](target) and ![alt](target); a target ends at a space (a title) or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def test_readme_settings_table_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert settings_doc.with_table(readme, settings_doc.settings_table()) == readme, (
        "README.md's settings table is not current: run .venv/bin/python -m mindpulse.settings_doc --write")


def test_table_names_every_setting_with_its_default() -> None:
    table = settings_doc.settings_table()
    for name, field in Settings.model_fields.items():
        assert f"`MINDPULSE_{name.upper()}`" in table
    assert "| `MINDPULSE_SEED` | `42` | Default random seed for generation, splits and models. |" in table
    assert "| `MINDPULSE_DATA_DIR` | HOME/data |" in table  # the default in words, out of the description
    assert "| `MINDPULSE_WEBHOOK_URL` | unset |" in table


def test_check_fails_on_a_stale_table_and_write_makes_it_current(tmp_path: Path, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{settings_doc.START}\n| stale |\n{settings_doc.END}\n\nAfter.\n", encoding="utf-8")

    assert settings_doc.main(["--check", "--readme", str(readme)]) == 1
    assert "not current" in capsys.readouterr().err
    assert settings_doc.main(["--write", "--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "| stale |" not in text and "`MINDPULSE_HOME`" in text
    assert text.startswith("# Title\n\n") and text.endswith(f"{settings_doc.END}\n\nAfter.\n")
    assert settings_doc.main(["--check", "--readme", str(readme)]) == 0


def test_a_readme_without_markers_is_refused_by_name(tmp_path: Path, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# No table here\n", encoding="utf-8")
    assert settings_doc.main(["--check", "--readme", str(readme)]) == 2
    assert f"{readme}: no settings table markers" in capsys.readouterr().err


def test_a_changed_description_changes_the_table() -> None:
    class Changed(Settings):
        seed: int = Field(default=7, description="Another seed.")

    table = settings_doc.settings_table(Changed)
    assert "| `MINDPULSE_SEED` | `7` | Another seed. |" in table
    assert table != settings_doc.settings_table()


def test_a_computed_default_must_be_said_in_words() -> None:
    class Undocumented(Settings):
        extra_list: list[str] = Field(default_factory=list, description="Some columns.")

    with pytest.raises(settings_doc.SettingsDocError, match="'extra_list'.*Default:"):
        settings_doc.settings_table(Undocumented)

    class Bare(Settings):
        bare: int = 3

    with pytest.raises(settings_doc.SettingsDocError, match="'bare': no description"):
        settings_doc.settings_table(Bare)


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target} (no file {file})")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading #{anchor} in {file.name})")
    assert not broken, f"{doc.relative_to(REPO)}: broken links: {broken}"


def test_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# Top\nSee [gone](missing.md), [top](#top) and [web](https://example.org).\n", encoding="utf-8")
    targets = LINK.findall(doc.read_text(encoding="utf-8"))
    assert targets == ["missing.md", "#top", "https://example.org"]
    assert "top" in _anchors(doc.read_text(encoding="utf-8"))


def test_module_map_names_every_module_and_subpackage() -> None:
    """docs/DEVELOPING.md names each module and subpackage of the package, and each support file of the tests."""
    developing = (REPO / "docs" / "DEVELOPING.md").read_text(encoding="utf-8")
    package = REPO / "src" / "mindpulse"
    names = [f"mindpulse.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"]
    names += [f"mindpulse.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()]
    names += [p.name for p in (REPO / "tests").glob("*_support.py") if not p.name.startswith("test_")]
    missing = sorted(name for name in names if not re.search(re.escape(name) + r"(?![\w])", developing))
    assert not missing, f"docs/DEVELOPING.md does not name: {missing}"
