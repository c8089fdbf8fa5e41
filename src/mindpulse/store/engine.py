"""Engines for the two backends (SQLite file, PostgreSQL) and the Alembic migrations."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

#: Alembic's bookkeeping table; named for MindPulse so a database shared with another
#: Alembic user (Airflow keeps its own ``alembic_version``) is never confused.
VERSION_TABLE = "mindpulse_alembic_version"
#: Key of the PostgreSQL advisory lock that serialises concurrent migrations.
MIGRATION_LOCK_KEY = 0x4D696E6450756C  # "MindPul"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: Execution option: how a transaction on SQLite begins ("" = deferred, "IMMEDIATE" = write lock).
SQLITE_BEGIN = "mindpulse_sqlite_begin"


def normalise_url(url: str | URL) -> URL:
    """The URL with the installed PostgreSQL driver (psycopg 3) when none is named."""
    parsed = make_url(str(url)) if not isinstance(url, URL) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"database_url: got a {parsed.get_backend_name()!r} URL, expected sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DATABASE"
        )
    return parsed


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for an in-memory database)."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def create_engine(url: str | URL, *, busy_timeout_s: float = 30.0) -> Engine:
    """An engine whose every connection is set up for concurrent writers."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    path = sqlite_path(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": busy_timeout_s})
    _install_sqlite_listeners(engine, busy_timeout_s, file_backed=path is not None)
    return engine


def _install_sqlite_listeners(engine: Engine, busy_timeout_s: float, *, file_backed: bool) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # The driver's own implicit BEGIN is switched off so that a transaction begins with the
        # BEGIN chosen below (SQLAlchemy's documented recipe for SQLite transactions).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if file_backed:
                mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL never corrupts the database; a power cut (not a crash of the
            # process) may lose the last commits. FULL halves the append throughput here.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        # Writers take the write lock when they begin (IMMEDIATE): a deferred transaction that
        # reads and then writes can fail with "database is locked" without waiting.
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


class WriterLock:
    """Queues the writers of one SQLite file in the kernel (``flock`` on ``<db>.writer.lock``).

    SQLite's own busy handler makes a blocked writer sleep and retry (1, 2, 5 ... 100 ms), so
    with 8 writers the database sat idle while they slept; a blocking ``flock`` wakes the next
    writer as soon as the lock is free (about twice the throughput here). The kernel drops the
    lock of a process that dies. Where ``fcntl`` does not exist the busy timeout alone applies.
    """

    def __init__(self, database: Path):
        self.path = database.with_name(database.name + ".writer.lock")
        self._threads = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd: int | None = None
        self._pid: int | None = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        with self._threads:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _descriptor(self) -> int:
        # A forked child must not share its parent's descriptor: flock would not exclude them.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None


def alembic_config(connection: sa.Connection | None = None):  # type: ignore[no-untyped-def]
    """An Alembic configuration built in code (no alembic.ini needed) for MindPulse's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision the migrations know (read once per process)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision the migrations know."""
    from alembic.script import ScriptDirectory

    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> str:
    """Create or upgrade the schema to ``revision`` (the newest by default); safe from several processes at once.

    SQLite: a file lock beside the database, then one IMMEDIATE transaction. PostgreSQL: a
    transaction-scoped advisory lock; DDL is transactional, so a failed upgrade leaves nothing.
    """
    from alembic import command
    from filelock import FileLock

    backend = engine.dialect.name
    lock: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if backend == "sqlite":
        path = sqlite_path(engine.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(path) + ".migrate.lock", timeout=300)
    with lock, engine.connect() as connection:
        if backend == "sqlite":
            connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            if backend == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            command.upgrade(alembic_config(connection), revision)
            revision = current_revision(connection)
    assert revision is not None
    return revision
