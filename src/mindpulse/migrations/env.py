"""Alembic environment: runs on the connection ``Store.migrate()`` hands over.

Run from the command line (``alembic -c src/mindpulse/alembic.ini ...``) it opens the store
named by ``MINDPULSE_DATABASE_URL`` (or the settings' default) instead.
"""

from __future__ import annotations

from alembic import context

from mindpulse.store.engine import VERSION_TABLE, create_engine


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
    # When Store.migrate() already began a transaction (holding its lock), Alembic joins it.
    with context.begin_transaction():
        context.run_migrations()


def _run_from_command_line() -> None:
    from mindpulse.settings import get_settings

    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("MindPulse migrations run online only (Store.migrate() or 'mindpulse store migrate').")

_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _run_from_command_line()
