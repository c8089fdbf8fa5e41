"""The store's persistence: engine, transactions (with the fencing check on every write), the
schema check on opening, bulk inserts and frame reads."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from mindpulse import fencing
from mindpulse.store import engine as db
from mindpulse.store.records import csv_dtypes, typed_frame
from mindpulse.store.results import SchemaOutOfDateError
from mindpulse.store.schema import FEATURE_COLUMNS, UTCDateTime, production_rows as rows_t
from mindpulse.store.values import naive_utc

if TYPE_CHECKING:
    from mindpulse.settings import Settings

CHUNK = 500  # ids per IN (...) query, well under every backend's parameter limit
#: The predicate of the unique index on labelled rows' record ids (uq_production_rows_labelled_record_id).
LABELLED_RECORD_ID = "source = 'labelled' AND record_id IS NOT NULL"


class StoreCore:
    """The connection to the database, its transactions and its schema check; the row operations are in the
    sibling modules, and :class:`mindpulse.store.Store` has them all."""

    def __init__(self, url: str | URL, *, busy_timeout_s: float = 30.0, archive_dir: Path | None = None):
        self.url = db.normalise_url(url)
        self.engine = db.create_engine(self.url, busy_timeout_s=busy_timeout_s)
        self.archive_dir = archive_dir
        path = db.sqlite_path(self.url) if self.backend == "sqlite" else None
        self._writer_lock = db.WriterLock(path) if path is not None else None

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None, *, check: bool = True,
                      migrate: bool | None = None) -> Self:
        """The store named by ``settings.database_url``, its schema checked to be the newest.

        Opening never migrates: ``mindpulse store migrate`` does, as a deploy step (``mindpulse
        platform run`` and the containers' airflow-init run it). A database behind (or empty)
        raises :class:`SchemaOutOfDateError`. ``check=False`` skips the check (a reader in a
        process that has just checked); ``migrate`` is its older name, kept for callers.
        """
        if settings is None:
            from mindpulse.settings import get_settings

            settings = get_settings()
        store = cls(settings.database_url, archive_dir=settings.archive_dir)
        if check if migrate is None else migrate:
            try:
                store.check_schema()
            except BaseException:
                store.close()
                raise
        return store

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def describe_url(self) -> str:
        """The database URL with any password hidden."""
        return self.url.render_as_string(hide_password=True)

    def migrate(self) -> str:
        """Create or upgrade the schema (Alembic); safe to call again and from several processes.

        A deploy step (``mindpulse store migrate``): opening a store never calls it.
        """
        return db.migrate(self.engine)

    def check_schema(self) -> str:
        """The schema's revision when it is the newest; :class:`SchemaOutOfDateError` otherwise."""
        current, head = self.schema_revision(), db.head_revision()
        if current != head:
            raise SchemaOutOfDateError(self.describe_url(), current, head,
                                       known=current is None or current in db.known_revisions())
        return current

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""
        with self.engine.connect() as connection:
            return db.current_revision(connection)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._writer_lock is not None:
            self._writer_lock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe_url()!r})"

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction (on SQLite it takes the write lock at BEGIN, waiting its turn)."""
        queue = self._writer_lock.hold() if self._writer_lock is not None else contextlib.nullcontext()
        with queue, self.engine.connect() as connection:
            if self.backend == "sqlite":
                connection.execution_options(**{db.SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                fencing.check(f"write to the store {self.describe_url()}")  # a pipeline step whose task has ended writes nothing
                yield connection

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """One read transaction: a consistent view of the data for every query in it."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def write_transaction(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """One write transaction of this store's database, for the tables kept beside the production
        rows (accounts, audit trail): writers queue as the store's own do."""
        return self._write()

    def read_transaction(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """One read transaction (a consistent view) of this store's database."""
        return self._read()

    def _lock(self, statement: sa.Select) -> sa.Select:
        # Row locks matter on PostgreSQL; SQLite's IMMEDIATE transaction already excludes writers.
        return statement.with_for_update() if self.backend == "postgresql" else statement

    def _insert(self, table: sa.Table) -> Any:
        """The backend's own INSERT, which has ``on_conflict_do_nothing``/``on_conflict_do_update``."""
        return (postgresql if self.backend == "postgresql" else sqlite).insert(table)

    def _insert_rows(self, connection: sa.Connection, rows: list[dict[str, Any]], *, return_ids: bool) -> list[int]:
        """Insert many rows (same keys each) in the open transaction; their ids in order when asked."""
        if self.backend != "postgresql":
            if not return_ids:
                connection.execute(rows_t.insert(), rows)
                return []
            statement = rows_t.insert().returning(rows_t.c.id, sort_by_parameter_order=True)
            return [int(r[0]) for r in connection.execute(statement, rows)]
        # PostgreSQL: COPY. A multi-row INSERT with thousands of parameters spends most of its
        # time in the driver's query parsing; COPY streams the rows. Ids come from the
        # table's sequence first so the caller learns them in order.
        ids: list[int] = []
        if return_ids:
            ids = [int(i) for i in connection.execute(
                sa.text("SELECT nextval(pg_get_serial_sequence('production_rows', 'id')) FROM generate_series(1, :n)"),
                {"n": len(rows)}).scalars()]
            rows = [{"id": i, **row} for i, row in zip(ids, rows)]
        self._copy(connection, "production_rows", rows)
        return ids

    def _copy(self, connection: sa.Connection, table: str, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL: stream rows (same keys each, columns of production_rows) into ``table`` with COPY."""
        import psycopg

        columns = list(rows[0])
        naive = {name for name in columns if isinstance(rows_t.c[name].type, UTCDateTime)}
        statement = f"COPY {table} ({_column_list(columns)}) FROM STDIN"
        try:
            with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([naive_utc(row[name]) if name in naive else row[name] for name in columns])
        except psycopg.errors.IntegrityError as exc:  # the driver's error, as SQLAlchemy would raise it
            raise sa.exc.IntegrityError(statement, None, exc) from exc

    def _insert_new_labelled(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> set[int]:
        """Insert labelled rows (same keys each) but those whose record id is stored as a labelled row
        already: INSERT ... ON CONFLICT DO NOTHING on the unique index, so a concurrent writer's row is
        waited for and left alone. Returns the record ids left out."""
        wanted = {int(row["record_id"]) for row in rows if row["record_id"] is not None}
        if self.backend == "postgresql":
            # COPY into a temporary table, then one INSERT ... SELECT (COPY itself has no ON CONFLICT).
            columns = _column_list(list(rows[0]))
            connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE incoming_labelled ON COMMIT DROP AS SELECT {columns} FROM production_rows WITH NO DATA")
            self._copy(connection, "incoming_labelled", rows)
            inserted = connection.exec_driver_sql(
                f"INSERT INTO production_rows ({columns}) SELECT {columns} FROM incoming_labelled "
                f"ON CONFLICT (record_id) WHERE {LABELLED_RECORD_ID} DO NOTHING RETURNING record_id").scalars()
        else:
            statement = (self._insert(rows_t).on_conflict_do_nothing(index_elements=[rows_t.c.record_id],
                                                                      index_where=sa.text(LABELLED_RECORD_ID))
                         .returning(rows_t.c.record_id))
            inserted = connection.execute(statement, rows).scalars()
        return wanted - {int(i) for i in inserted if i is not None}

    def _frame_select(self, extra: tuple[sa.ColumnElement[Any], ...] = ()) -> sa.Select:
        columns = [rows_t.c.record_id, *[rows_t.c[name] for name in FEATURE_COLUMNS], rows_t.c.depression,
                   rows_t.c.prediction, rows_t.c.probability, rows_t.c.model_version, rows_t.c.created_at,
                   rows_t.c.id.label("prediction_id"), *extra]
        return sa.select(*columns)

    def _frame(self, statement: sa.Select) -> pd.DataFrame:
        """Run a frame query through the driver directly: at 1M rows SQLAlchemy's per-row
        processing would cost more than the query (PostgreSQL: COPY to CSV, read by pandas)."""
        sql = str(statement.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        with self._read() as connection:
            if self.backend == "postgresql":
                buffer = io.BytesIO()
                with connection.connection.driver_connection.cursor() as cursor:
                    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
                        for block in copy:
                            buffer.write(block)
                buffer.seek(0)
                columns = [column.name for column in statement.selected_columns]
                raw = pd.read_csv(buffer, dtype=csv_dtypes(columns), keep_default_na=False, na_values=[""])
            else:
                cursor = connection.connection.driver_connection.cursor()
                try:
                    cursor.execute(sql)
                    rows = cursor.fetchall()
                    columns = [d[0] for d in cursor.description]
                finally:
                    cursor.close()
                raw = pd.DataFrame.from_records(rows, columns=columns)
                if "record_id" in columns:
                    # ints with NULLs come back as floats, which cannot hold ids beyond 2**53 exactly
                    position = columns.index("record_id")
                    raw["record_id"] = pd.array([row[position] for row in rows], dtype="Int64")
        return typed_frame(raw)


def migrate_store(settings: "Settings | None" = None) -> tuple[str | None, str]:
    """Bring the settings' database to the newest schema: the deploy step (``mindpulse store migrate``).

    Returns the revision before (None: an empty database) and after; a second call changes nothing.
    """
    if settings is None:
        from mindpulse.settings import get_settings

        settings = get_settings()
    with StoreCore(settings.database_url, archive_dir=settings.archive_dir) as store:
        before = store.schema_revision()
        return before, store.migrate()


def _column_list(columns: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)
