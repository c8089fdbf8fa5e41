"""Migrations are a deploy step: opening a store checks its schema and never migrates.

A database behind the code (empty, or at an older revision) is refused with one message that
names the database (never its password), the revision it is at, the one expected and the command
that fixes it; ``mindpulse store migrate`` brings it to the newest revision and says from which,
and a second run changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cli_support import invoke
from mindpulse.settings import Settings
from mindpulse.store import SchemaOutOfDateError, Store
from mindpulse.store import engine as db
from postgres_support import fresh_database


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def database_file(home: Path) -> Path:
    return Settings(home=home).data_dir / "mindpulse.db"


def revision_of(url: str) -> str | None:
    with Store(url) as store:
        return store.schema_revision()


def at_revision(home: Path, revision: str) -> str:
    """A home whose store was migrated to ``revision`` only (as an older MindPulse left it)."""
    url = f"sqlite:///{database_file(home)}"
    with Store(url) as store:
        assert db.migrate(store.engine, revision) == revision
    return url


@pytest.mark.parametrize("start", [None, "0003"], ids=["empty-file", "at-0003"])
def test_a_store_behind_is_refused_until_store_migrate(tmp_path, start):
    home = tmp_path / "home"
    if start is None:  # a fresh, empty SQLite file
        database_file(home).parent.mkdir(parents=True)
        database_file(home).touch()
    url = at_revision(home, start) if start else f"sqlite:///{database_file(home)}"
    head = db.head_revision()
    assert head != "0003"

    with pytest.raises(SchemaOutOfDateError) as raised:
        Store.from_settings(Settings(home=home))
    message = str(raised.value)
    assert str(database_file(home)) in message and f"expected revision {head}" in message
    assert ("at revision 0003" if start else "not initialised") in message
    assert "mindpulse store migrate" in message
    assert (raised.value.current, raised.value.expected) == (start, head)

    # Every command that uses the store says the same in one line, and none migrates.
    for args in (["store", "stats"], ["feedback", "--prediction-id", "1", "--outcome", "1"],
                 ["store", "quarantined"], ["users", "list"]):
        line = one_line_error(invoke(*args, home=home))
        assert "mindpulse store migrate" in line and f"expected revision {head}" in line, (args, line)
    assert revision_of(url) == start

    first = invoke("store", "migrate", home=home, check=True)
    assert f"from revision {start or 'none (empty database)'} to {head}" in first.stdout
    assert revision_of(url) == head
    again = invoke("store", "migrate", home=home, check=True)
    assert f"schema at revision {head}, the newest (nothing to migrate)" in again.stdout
    assert "Predictions logged:        0" in invoke("store", "stats", home=home, check=True).stdout
    with Store.from_settings(Settings(home=home)) as store:
        assert store.check_schema() == head


def test_migrate_keeps_the_rows_of_an_older_store(tmp_path):
    from mindpulse import synthetic

    home = tmp_path / "home"
    url = at_revision(home, "0003")
    with Store(url) as old:  # written by the older code, before the upgrade
        old.add_labelled(synthetic.generate(5, seed=1).canonical())
    invoke("store", "migrate", home=home, check=True)
    with Store.from_settings(Settings(home=home)) as store:
        assert store.pending_count() == 5 and store.stats()["rows_total"] == 5


def test_checking_skipped_on_request_and_opening_alone_changes_nothing(tmp_path):
    home = tmp_path / "home"
    url = at_revision(home, "0002")
    with Store.from_settings(Settings(home=home), check=False) as store:  # a reader that checked already
        assert store.schema_revision() == "0002"
    with Store.from_settings(Settings(home=home), migrate=False) as store:  # the older spelling of check=False
        assert store.schema_revision() == "0002"
    assert revision_of(url) == "0002"


@pytest.mark.postgres
def test_the_error_names_a_postgres_database_without_its_password(tmp_path):
    with fresh_database() as url:
        parsed = sa.engine.make_url(url).set(password="s3cret-word")
        with_password = parsed.render_as_string(hide_password=False)
        env = {"MINDPULSE_DATABASE_URL": with_password}
        line = one_line_error(invoke("store", "stats", home=tmp_path, env=env))
        assert parsed.database in line and "s3cret-word" not in line and "***" in line
        assert "not initialised" in line and "mindpulse store migrate" in line
        migrated = invoke("store", "migrate", home=tmp_path, env=env, check=True).stdout
        assert "s3cret-word" not in migrated and f"to {db.head_revision()}" in migrated
        assert "nothing to migrate" in invoke("store", "migrate", home=tmp_path, env=env, check=True).stdout
        assert revision_of(url) == db.head_revision()


def test_the_api_server_refuses_to_start_on_a_store_behind(tmp_path):
    import api_support as api

    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(RuntimeError) as raised:
        api.start_server(home, {})
    assert "mindpulse api exited 2" in str(raised.value) and "mindpulse store migrate" in str(raised.value)
    assert revision_of(f"sqlite:///{database_file(home)}") is None  # it did not migrate by itself


def test_a_store_migrated_by_a_newer_version_is_refused_without_advice_to_migrate(tmp_path):
    home = tmp_path / "home"
    url = at_revision(home, db.head_revision())
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text(f"UPDATE {db.VERSION_TABLE} SET version_num = '9999'"))
    line = one_line_error(invoke("store", "stats", home=home))
    assert "at revision 9999, newer than this MindPulse knows" in line and "store migrate" not in line
