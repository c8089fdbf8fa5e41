"""The production data store: every prediction served, the true outcomes fed back, and the
snapshots a retrain claims, trains on, then archives or releases.

Row life cycle (``production_rows.state``)::

    unlabelled --feedback--> pending --claim_snapshot--> claimed --archive_snapshot--> archived
                                ^                           |
                                +------release_snapshot-----+

A labelled row submitted directly (no prediction) starts as ``pending``. Every call is one
transaction: it is stored whole or not at all.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL

from mindpulse import contract as c
from mindpulse import fencing
from mindpulse.io import atomic_write_csv
from mindpulse.store import engine as db
from mindpulse.contract import canonical_record
from mindpulse.store.records import csv_dtypes, export_frame, frame_to_rows, typed_frame
from mindpulse.store.schema import (
    ARCHIVED,
    CLAIMED,
    FEATURE_COLUMNS,
    PENDING,
    ROW_STATES,
    SOURCE_LABELLED,
    SOURCE_PREDICTION,
    UNLABELLED,
    UTCDateTime,
    production_rows as rows_t,
    row_counts as counts_t,
    snapshot_quarantines as quarantines_t,
    snapshots as snapshots_t,
    utc_now,
)

if TYPE_CHECKING:
    from mindpulse.settings import Settings

RELEASED = "released"
EXPORT_PREFIX = "prod_data_archived_"
CLAIM_LOCK_KEY = 0x4D50436C61696D  # "MPClaim": PostgreSQL advisory lock around claim_snapshot
_CHUNK = 500  # ids per IN (...) query, well under every backend's parameter limit


#: Called inside a write transaction with its connection and the affected prediction ids.
InTransaction = Callable[[sa.Connection, list[int]], None]


class StoreError(ValueError):
    """A request the store refuses; the message names the id or value and what is accepted."""


class SchemaOutOfDateError(StoreError):
    """The database's schema is not the one this code expects: ``mindpulse store migrate`` brings it to the newest."""

    def __init__(self, database: str, current: str | None, expected: str):
        self.database, self.current, self.expected = database, current, expected
        at = f"at revision {current}" if current else "not initialised (no MindPulse schema yet)"
        super().__init__(
            f"database {database}: its schema is {at}, expected revision {expected}; run `mindpulse store migrate` "
            "to bring it up to date (a deploy step: `mindpulse platform run` and the containers' airflow-init run it)")


class UnknownPredictionError(StoreError, LookupError):
    """Feedback for a prediction id the store never logged."""


class FeedbackConflictError(StoreError):
    """A second, different outcome for a prediction that already has one."""


class SnapshotError(StoreError):
    """A snapshot step that cannot apply (unknown id, or released/archived already)."""


@dataclass(frozen=True)
class Snapshot:
    """The labelled rows one retrain claimed."""

    id: int
    run_id: str
    n_rows: int
    state: str  # claimed | archived | released
    claimed_at: datetime
    archived_at: datetime | None = None
    export_path: str | None = None


@dataclass(frozen=True)
class Quarantine:
    """A snapshot set aside from training: who did it, when and why (and who lifted it, when)."""

    snapshot_id: int
    reason: str
    quarantined_by: str
    quarantined_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None

    @property
    def in_force(self) -> bool:
        return self.released_at is None

    def record(self) -> dict[str, Any]:
        """JSON-ready, for lineage records and run summaries."""
        return {"id": self.snapshot_id, "reason": self.reason, "by": self.quarantined_by,
                "at": self.quarantined_at.isoformat(timespec="seconds"),
                "released_by": self.released_by,
                "released_at": self.released_at.isoformat(timespec="seconds") if self.released_at else None}


@dataclass(frozen=True)
class FeedbackResult:
    """What one outcome did: ``recorded`` (first), ``unchanged`` (the same again) or ``corrected``."""

    prediction_id: int
    depression: int
    status: Literal["recorded", "unchanged", "corrected"]
    previous: int | None = None


@dataclass
class FeedbackReport:
    """The result of a feedback CSV: rows accepted, rows already recorded, and each rejection."""

    source: str
    kind: Literal["outcomes", "labelled rows"]
    rows_read: int
    accepted: int
    unchanged: int = 0
    rejected: list[c.Problem] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)  # prediction ids whose outcome was recorded or corrected

    @property
    def n_rejected(self) -> int:
        """Rows rejected (a row with two bad fields counts once)."""
        return len({p.row for p in self.rejected})

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.__dict__ for p in self.rejected], columns=["row", "field", "value", "expected"])

    def describe(self, limit: int = 20) -> str:
        lines = [f"{self.source}: {self.accepted} of {self.rows_read} {self.kind} accepted"
                 + (f", {self.unchanged} already recorded (unchanged)" if self.unchanged else "")
                 + (f", {self.n_rejected} rejected" if self.rejected else "")]
        lines += [f"  {p}" for p in self.rejected[:limit]]
        if len(self.rejected) > limit:
            lines.append(f"  ... and {len(self.rejected) - limit} more problem(s)")
        return "\n".join(lines)


def _problem(field_name: str, value: Any, expected: str, row: int | str = 1) -> c.Problem:
    return c.Problem(row, field_name, str(value), expected)


def _as_outcome(value: Any) -> int | None:
    """0 or 1 from an int, a whole float, a bool or the text '0'/'1'; None when it is neither."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value in ("0", "1") else None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Real) and not (isinstance(value, float) and math.isnan(value)):
        return int(value) if float(value) in (0.0, 1.0) else None
    return None


def _as_id(value: Any) -> int | None:
    """A positive whole number up to 2**63 - 1 (the ids are BIGINT) from an int, a whole float or its text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        number = c.whole_number(value.strip())
        return int(number) if number is not None and 0 < number <= c.ID_MAX else None
    if isinstance(value, Integral):
        return int(value) if 0 < value <= c.ID_MAX else None
    if isinstance(value, Real) and math.isfinite(float(value)) and float(value) % 1 == 0 and 0 < value <= c.ID_MAX:
        return int(value)
    return None


def _prediction_values(probability: Any, label: Any, model_version: Any, row: int | str = 1) -> tuple[dict[str, Any], list[c.Problem]]:
    problems: list[c.Problem] = []
    prob = None
    if isinstance(probability, Real) and not isinstance(probability, bool) and 0.0 <= float(probability) <= 1.0:
        prob = float(probability)
    else:
        problems.append(_problem("probability", probability, "a number from 0 to 1", row))
    outcome = _as_outcome(label)
    if outcome is None:
        problems.append(_problem("prediction", label, "0 or 1 (the predicted label)", row))
    if not isinstance(model_version, str) or not model_version.strip() or len(model_version) > 64:
        problems.append(_problem("model_version", model_version, "the model's version name (1 to 64 characters)", row))
    return {"probability": prob, "prediction": outcome, "model_version": model_version}, problems


class Store:
    """Production data in SQLite (the embedded default) or PostgreSQL, chosen by the URL."""

    def __init__(self, url: str | URL, *, busy_timeout_s: float = 30.0, archive_dir: Path | None = None):
        self.url = db.normalise_url(url)
        self.engine = db.create_engine(self.url, busy_timeout_s=busy_timeout_s)
        self.archive_dir = archive_dir
        path = db.sqlite_path(self.url) if self.backend == "sqlite" else None
        self._writer_lock = db.WriterLock(path) if path is not None else None

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None, *, check: bool = True,
                      migrate: bool | None = None) -> "Store":
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
            raise SchemaOutOfDateError(self.describe_url(), current, head)
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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.describe_url()!r})"

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

    # -- predictions --------------------------------------------------------------------

    def log_prediction(self, record: Mapping[str, Any], *, probability: float, label: int, model_version: str,
                       actor: str | None = None, in_transaction: InTransaction | None = None) -> int:
        """Record one prediction served; returns its id (the id feedback refers to).

        ``record`` is the model's input (canonical or real-header keys), validated through the
        data contract; a ``depression`` value in it is stored as the outcome at once. ``actor``
        names the account that logged it; ``in_transaction(connection, [id])`` runs in the same
        transaction before it commits (the API stores its idempotency key there).
        """
        values = canonical_record(record, require_target=False)
        extra, problems = _prediction_values(probability, label, model_version)
        if problems:
            raise c.ContractError(problems, "prediction")
        now = utc_now()
        row = {k: values[k] for k in FEATURE_COLUMNS}
        row.update(extra)
        row.update(created_at=now, source=SOURCE_PREDICTION, record_id=values.get("id"),
                   depression=values.get(c.TARGET))
        labelled = row["depression"] is not None
        row.update(state=PENDING if labelled else UNLABELLED, labelled_at=now if labelled else None)
        if actor is not None:  # (the columns exist from migration 0004 on)
            row.update(logged_by=actor, labelled_by=actor if labelled else None)
        with self._write() as connection:
            result = connection.execute(rows_t.insert(), row)
            pid = int(result.inserted_primary_key[0])
            if in_transaction is not None:
                in_transaction(connection, [pid])
            return pid

    def log_predictions(self, frame: pd.DataFrame, *, chunk_rows: int | None = None,
                        progress: Callable[[int], None] | None = None, actor: str | None = None,
                        in_transaction: InTransaction | None = None) -> list[int]:
        """Record a batch of predictions (canonical columns + probability, prediction, model_version); ids in order.

        The whole frame is validated first: when any row is bad nothing is stored. It is then
        stored in one transaction, or with ``chunk_rows`` in one transaction per chunk of that
        many rows (a large cohort does not hold the write lock for its whole length);
        ``progress(n)`` is called after each commit with the rows it stored. ``actor`` and
        ``in_transaction`` as in :meth:`log_prediction` (the latter needs one transaction).
        """
        if in_transaction is not None and chunk_rows is not None:
            raise ValueError("in_transaction: needs the batch stored in one transaction (chunk_rows=None)")
        missing = [name for name in ("probability", "prediction", "model_version") if name not in frame.columns]
        if missing:
            raise c.ContractError([_problem(m, "(missing)", f"a column named {m!r}", "header") for m in missing], "predictions")
        if chunk_rows is not None and chunk_rows < 1:
            raise ValueError(f"chunk_rows: got {chunk_rows}, expected a whole number of at least 1")
        result = c.validate_frame(frame, require_target=False, source="predictions")
        problems = list(result.problems)
        for index, prob, label, version in zip(frame.index, frame["probability"], frame["prediction"], frame["model_version"]):
            problems += _prediction_values(prob, label, version, row=c._row(index))[1]
        if problems:
            raise c.ContractError(problems, "predictions")
        rows = frame_to_rows(result.valid)
        now = utc_now()
        for row, prob, label, version in zip(rows, frame["probability"], frame["prediction"], frame["model_version"]):
            labelled = row[c.TARGET] is not None
            row.update(created_at=now, source=SOURCE_PREDICTION, probability=float(prob), prediction=_as_outcome(label),
                       model_version=str(version), state=PENDING if labelled else UNLABELLED,
                       labelled_at=now if labelled else None)
            if actor is not None:
                row.update(logged_by=actor, labelled_by=actor if labelled else None)
        ids: list[int] = []
        step = chunk_rows or max(len(rows), 1)
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            with self._write() as connection:
                ids += self._insert_rows(connection, chunk, return_ids=True)
                if in_transaction is not None:
                    in_transaction(connection, ids)
            if progress is not None:
                progress(len(chunk))
        return ids

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
        columns = list(rows[0])
        naive = {name for name in columns if isinstance(rows_t.c[name].type, UTCDateTime)}
        column_list = ", ".join(f'"{name}"' for name in columns)
        import psycopg

        statement = f"COPY production_rows ({column_list}) FROM STDIN"
        try:
            with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([_naive_utc(row[name]) if name in naive else row[name] for name in columns])
        except psycopg.errors.IntegrityError as exc:  # the driver's error, as SQLAlchemy would raise it
            raise sa.exc.IntegrityError(statement, None, exc) from exc
        return ids

    def recent_predictions(self, limit: int = 50) -> pd.DataFrame:
        """The newest predictions first, with their outcome (if any) and state."""
        statement = (self._frame_select(extra=(rows_t.c.state, rows_t.c.labelled_at))
                     .where(rows_t.c.source == SOURCE_PREDICTION)
                     .order_by(rows_t.c.id.desc()).limit(int(limit)))
        return self._frame(statement)

    def prediction(self, prediction_id: int) -> dict[str, Any] | None:
        """One logged prediction (canonical columns, its outcome, state and who logged and labelled it), or None."""
        pid = _as_id(prediction_id)
        if pid is None:
            return None
        extra = (rows_t.c.state, rows_t.c.labelled_at, rows_t.c.logged_by, rows_t.c.labelled_by)
        statement = self._frame_select(extra=extra).where(rows_t.c.id == pid, rows_t.c.source == SOURCE_PREDICTION)
        with self._read() as connection:
            row = connection.execute(statement).mappings().first()
        return None if row is None else {("id" if k == "record_id" else k): v for k, v in row.items()}

    # -- feedback -----------------------------------------------------------------------

    def record_feedback(self, prediction_id: int, depression: int, *, correct: bool = False,
                        actor: str | None = None) -> FeedbackResult:
        """Attach the true outcome to a logged prediction.

        Rule: the first outcome is recorded; the same outcome again changes nothing
        (``unchanged``, so a retried request is harmless); a different outcome is refused with
        :class:`FeedbackConflictError` unless ``correct=True``, which replaces it while the row
        waits for a retrain (not once a retrain has claimed or archived it).
        """
        pid = _as_id(prediction_id)
        if pid is None:
            raise c.ContractError([_problem("prediction_id", prediction_id, "the whole-number id of a logged prediction")], "feedback")
        outcome = _as_outcome(depression)
        if outcome is None:
            raise c.ContractError([_problem("Depression", depression, "0 or 1")], f"feedback for prediction {pid}")
        with self._write() as connection:
            current = self._rows_for_feedback(connection, [pid]).get(pid)
            result, update = _decide_feedback(pid, outcome, current, correct)
            if update:
                connection.execute(_feedback_update(), [{"b_id": pid, "b_depression": outcome, "b_now": utc_now(),
                                                         "b_actor": actor}])
        return result

    def _rows_for_feedback(self, connection: sa.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        columns = (rows_t.c.id, rows_t.c.source, rows_t.c.state, rows_t.c.depression, rows_t.c.labelled_at, rows_t.c.snapshot_id)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            statement = self._lock(sa.select(*columns).where(rows_t.c.id.in_(chunk)))
            for row in connection.execute(statement).mappings():
                found[int(row["id"])] = dict(row)
        return found

    def add_labelled(self, frame: pd.DataFrame) -> int:
        """Store labelled rows submitted without a prediction; returns how many were stored.

        All or nothing: any bad cell, or a record ``id`` already stored as a labelled row,
        raises :class:`~mindpulse.contract.ContractError` naming row and field, and nothing is stored.
        """
        result = c.validate_frame(frame, require_target=True, source="labelled rows")
        result.raise_if_rejected("labelled rows")
        stored, problems = self._insert_labelled(result.valid, strict=True)
        if problems:
            raise c.ContractError(problems, "labelled rows")
        return stored

    def _insert_labelled(self, valid: pd.DataFrame, *, strict: bool, actor: str | None = None) -> tuple[int, list[c.Problem]]:
        """Insert valid canonical rows, leaving out (and reporting) ids already stored."""
        for attempt in range(3):
            try:
                with self._write() as connection:
                    duplicates = self._stored_labelled_ids(connection, valid["id"].dropna().astype(int).tolist())
                    problems = [
                        _problem("id", int(rid), f"an id not stored yet (already stored as row {duplicates[int(rid)]})", c._row(index))
                        for index, rid in valid["id"].items() if pd.notna(rid) and int(rid) in duplicates
                    ]
                    if problems and strict:
                        return 0, problems
                    keep = valid[~valid["id"].isin(list(duplicates))] if duplicates else valid
                    rows = frame_to_rows(keep)
                    now = utc_now()
                    for row in rows:
                        row.update(created_at=now, labelled_at=now, source=SOURCE_LABELLED, state=PENDING)
                        if actor is not None:
                            row.update(logged_by=actor, labelled_by=actor)
                    if rows:
                        self._insert_rows(connection, rows, return_ids=False)
                    return len(rows), problems
            except sa.exc.IntegrityError:
                # Another writer stored the same record id between our check and our insert:
                # the next attempt sees it and reports it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _stored_labelled_ids(self, connection: sa.Connection, ids: list[int]) -> dict[int, int]:
        stored: dict[int, int] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            statement = sa.select(rows_t.c.record_id, rows_t.c.id).where(
                rows_t.c.source == SOURCE_LABELLED, rows_t.c.record_id.in_(chunk))
            stored.update({int(r): int(i) for r, i in connection.execute(statement)})
        return stored

    def import_feedback_csv(self, path: str | Path, *, correct: bool = False, strict: bool = False,
                            actor: str | None = None) -> FeedbackReport:
        """Import a feedback CSV: outcomes (``prediction_id`` + ``Depression``) or labelled rows (real format).

        Bad rows are reported (line number, field, value, what is accepted) and the good rows
        are stored, all in one transaction; ``strict=True`` stores nothing when any row is bad
        (raises ContractError). Outcomes follow :meth:`record_feedback`'s rule.
        """
        raw, source = c.read_table(path)
        names = [str(name).strip() for name in raw.columns]
        if "prediction_id" in [name.lower() for name in names]:
            return self.record_outcomes(raw, source=source, correct=correct, strict=strict, actor=actor)
        result = c.validate_frame(raw, require_target=True, source=source)
        if strict:
            result.raise_if_rejected(source)
        stored, duplicates = self._insert_labelled(result.valid, strict=strict, actor=actor)
        if strict and duplicates:
            raise c.ContractError(duplicates, source)
        return FeedbackReport(source, "labelled rows", rows_read=result.n_valid + result.n_rejected,
                              accepted=stored, rejected=_by_row(result.problems + duplicates))

    def record_outcomes(self, raw: pd.DataFrame, *, source: str = "outcomes", correct: bool = False, strict: bool = False,
                        actor: str | None = None,
                        in_transaction: Callable[[sa.Connection, "FeedbackReport"], None] | None = None) -> FeedbackReport:
        """Outcomes of logged predictions (columns ``prediction_id`` and ``Depression``), one transaction.

        Each follows :meth:`record_feedback`'s rule; bad rows are reported and the rest stored, or
        with ``strict`` nothing is stored when any row is bad (``ContractError``). ``actor`` names
        the account; ``in_transaction(connection, report)`` runs before the transaction commits.
        """
        raw = raw.copy()
        raw.columns = [str(name).strip() for name in raw.columns]
        for field_name, alias in (("prediction_id", "prediction_id"), ("Depression", c.TARGET)):
            found = [name for name in raw.columns if name.lower() == alias]
            if len(found) != 1:
                value = "(missing)" if not found else "(twice)"
                raise c.ContractError([_problem(field_name, value, f"one column named {field_name!r} ("
                                                + ("0 or 1" if alias == c.TARGET else "the id of a logged prediction")
                                                + ")", "header")], source)
        id_column = next(name for name in raw.columns if name.lower() == "prediction_id")
        target_columns = [name for name in raw.columns if name.lower() == c.TARGET]
        problems: list[c.Problem] = []
        wanted: list[tuple[int, int, int]] = []  # (line, prediction id, outcome)
        for line, pid_text, outcome_text in zip(raw.index, raw[id_column], raw[target_columns[0]]):
            pid_text, outcome_text = c.record_cell(pid_text) or "", c.record_cell(outcome_text) or ""
            pid, outcome = _as_id(pid_text), _as_outcome(outcome_text)
            if pid is None:
                problems.append(_problem("prediction_id", pid_text, "the whole-number id of a logged prediction", line))
            if outcome is None:
                problems.append(_problem("Depression", outcome_text, "0 or 1", line))
            if pid is not None and outcome is not None:
                wanted.append((int(line), pid, outcome))
        accepted = unchanged = 0
        with self._write() as connection:
            current = self._rows_for_feedback(connection, sorted({pid for _, pid, _ in wanted}))
            updates: dict[int, int] = {}
            for line, pid, outcome in wanted:
                try:
                    result, update = _decide_feedback(pid, outcome, current.get(pid), correct)
                except StoreError as exc:
                    field_name = "prediction_id" if isinstance(exc, UnknownPredictionError) else "Depression"
                    value = pid if field_name == "prediction_id" else outcome
                    problems.append(_problem(field_name, value, _expected_from(exc), line))
                    continue
                if update:
                    updates[pid] = outcome
                    current[pid] = {**current[pid], "depression": outcome, "state": PENDING}
                    accepted += 1
                else:
                    unchanged += 1
            if strict and problems:
                raise c.ContractError(_by_row(problems), source)  # rolls the transaction back
            if updates:
                now = utc_now()
                connection.execute(_feedback_update(),
                                   [{"b_id": pid, "b_depression": o, "b_now": now, "b_actor": actor}
                                    for pid, o in updates.items()])
            report = FeedbackReport(source, "outcomes", rows_read=len(raw), accepted=accepted, unchanged=unchanged,
                                    rejected=_by_row(problems), changed=sorted(updates))
            if in_transaction is not None:
                in_transaction(connection, report)
        return report

    # -- production data for the pipeline -----------------------------------------------

    def pending_count(self) -> int:
        """Labelled rows waiting for the next retrain (an index lookup, cheap at any size)."""
        with self._read() as connection:
            return int(connection.execute(sa.select(sa.func.count()).where(rows_t.c.state == PENDING)).scalar_one())

    def production_frame(self) -> pd.DataFrame:
        """The pending labelled rows: canonical columns, then prediction, probability, model_version, created_at, prediction_id."""
        return self._frame(self._frame_select().where(rows_t.c.state == PENDING).order_by(rows_t.c.id))

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

    # -- snapshots ----------------------------------------------------------------------

    def claim_snapshot(self, run_id: str) -> Snapshot:
        """Claim every labelled pending row present now for the retrain ``run_id``.

        One UPDATE in one transaction: rows written concurrently stay pending for the next
        retrain. The same ``run_id`` again returns the same snapshot (a retried task); after a
        release, the same ``run_id`` claims the rows pending at that new moment.
        """
        if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 250:
            raise StoreError(f"run_id: got {run_id!r}, expected the retrain's run id (1 to 250 characters)")
        for attempt in range(3):
            try:
                with self._write() as connection:
                    if self.backend == "postgresql":
                        # One claim at a time: two claims updating the same pending rows in
                        # different orders could deadlock. (SQLite's IMMEDIATE already serialises.)
                        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
                    statement = self._lock(sa.select(snapshots_t).where(snapshots_t.c.run_id == run_id))
                    existing = connection.execute(statement).mappings().first()
                    if existing is not None and existing["state"] != RELEASED:
                        return _snapshot(existing)
                    now = utc_now()
                    if existing is None:
                        snapshot_id = int(connection.execute(snapshots_t.insert(), {
                            "run_id": run_id, "state": CLAIMED, "n_rows": 0, "claimed_at": now,
                        }).inserted_primary_key[0])
                    else:
                        snapshot_id = int(existing["id"])
                    claimed = connection.execute(
                        rows_t.update().where(rows_t.c.state == PENDING).values(state=CLAIMED, snapshot_id=snapshot_id)
                    ).rowcount
                    connection.execute(snapshots_t.update().where(snapshots_t.c.id == snapshot_id).values(
                        state=CLAIMED, n_rows=claimed, claimed_at=now, released_at=None))
                    return self._get_snapshot(connection, snapshot_id)
            except sa.exc.IntegrityError:
                # A concurrent claim for the same run_id inserted it first: the next attempt returns it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_snapshot(self, snapshot_id: int) -> Snapshot:
        """A snapshot by id; SnapshotError when there is none."""
        with self._read() as connection:
            return self._get_snapshot(connection, snapshot_id)

    def _get_snapshot(self, connection: sa.Connection, snapshot_id: int) -> Snapshot:
        sid = _as_id(snapshot_id)
        row = None if sid is None else connection.execute(
            sa.select(snapshots_t).where(snapshots_t.c.id == sid)).mappings().first()
        if row is None:
            raise SnapshotError(f"snapshot_id: got {snapshot_id!r}, expected the id of a snapshot claimed by claim_snapshot()")
        return _snapshot(row)

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, newest first."""
        with self._read() as connection:
            rows = connection.execute(sa.select(snapshots_t).order_by(snapshots_t.c.id.desc())).mappings()
            return [_snapshot(row) for row in rows]

    def snapshot_frame(self, snapshot_id: int) -> pd.DataFrame:
        """The rows of a snapshot (claimed or archived), in the same form as :meth:`production_frame`."""
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot.state == RELEASED:
            raise SnapshotError(f"snapshot {snapshot.id} (run {snapshot.run_id!r}) was released: its rows are pending again")
        return self._frame(self._frame_select().where(rows_t.c.snapshot_id == snapshot.id).order_by(rows_t.c.id))

    def export_path(self, snapshot: Snapshot, export_dir: str | Path) -> Path:
        """Where a snapshot's archive goes: named after its claim time, so a retry rewrites the same file."""
        stamp = snapshot.claimed_at.strftime("%Y%m%dT%H%M%S.%fZ")
        return Path(export_dir) / f"{EXPORT_PREFIX}{stamp}.csv"

    def archive_snapshot(self, snapshot_id: int, export_dir: str | Path | None = None) -> Path:
        """Mark exactly the snapshot's rows archived and export them; returns the CSV's path.

        The export (real CSV format, then prediction_id, prediction, probability,
        model_version, created_at) is written atomically before the rows are marked, so a
        crash in between is repaired by calling again. Archiving twice returns the same file.
        """
        folder = Path(export_dir) if export_dir is not None else self.archive_dir
        if folder is None:
            raise StoreError("export_dir: none given and the store has no archive folder (use Store.from_settings)")
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot.state == RELEASED:
            raise SnapshotError(f"snapshot {snapshot.id} (run {snapshot.run_id!r}) was released; claim a new snapshot to archive")
        target = Path(snapshot.export_path) if snapshot.state == ARCHIVED and snapshot.export_path else self.export_path(snapshot, folder)
        if snapshot.state == ARCHIVED and target.is_file():
            return target
        fencing.check(f"archive snapshot {snapshot.id}")
        atomic_write_csv(target, export_frame(self.snapshot_frame(snapshot.id)))
        with self._write() as connection:
            done = connection.execute(
                snapshots_t.update().where(snapshots_t.c.id == snapshot.id, snapshots_t.c.state == CLAIMED)
                .values(state=ARCHIVED, archived_at=utc_now(), export_path=str(target))).rowcount
            if done:
                connection.execute(rows_t.update().where(rows_t.c.snapshot_id == snapshot.id, rows_t.c.state == CLAIMED)
                                   .values(state=ARCHIVED))
                return target
            now = self._get_snapshot(connection, snapshot.id)
        if now.state == ARCHIVED:  # a concurrent call archived it first
            return Path(now.export_path or target)
        target.unlink(missing_ok=True)
        raise SnapshotError(f"snapshot {snapshot.id} (run {snapshot.run_id!r}) was released while archiving; nothing archived")

    def release_snapshot(self, snapshot_id: int) -> Snapshot:
        """Return a snapshot's rows to pending (the retrain failed); releasing twice is harmless."""
        with self._write() as connection:
            snapshot = self._get_snapshot(connection, snapshot_id)
            if snapshot.state == ARCHIVED:
                raise SnapshotError(f"snapshot {snapshot.id} (run {snapshot.run_id!r}) is archived already; it cannot be released")
            if snapshot.state == CLAIMED:
                connection.execute(rows_t.update().where(rows_t.c.snapshot_id == snapshot.id, rows_t.c.state == CLAIMED)
                                   .values(state=PENDING, snapshot_id=None))
                connection.execute(snapshots_t.update().where(snapshots_t.c.id == snapshot.id)
                                   .values(state=RELEASED, released_at=utc_now()))
                snapshot = self._get_snapshot(connection, snapshot.id)
            return snapshot

    # -- quarantine ---------------------------------------------------------------------

    def quarantine_snapshot(self, snapshot_id: int, *, reason: str, by: str) -> Quarantine:
        """Keep an archived snapshot out of every later training set until :meth:`release_quarantine`.

        Its rows stay archived and its export stays where it is; only what retrains include changes.
        """
        reason = _quarantine_text("reason", reason, 1000, "why the snapshot is set aside (1 to 1000 printable characters)")
        by = _quarantine_text("by", by, 128, "who sets it aside (1 to 128 printable characters)")
        with self._write() as connection:
            snapshot = self._get_snapshot(connection, snapshot_id)
            if snapshot.state != ARCHIVED:
                raise SnapshotError(
                    f"snapshot {snapshot.id}: it is {snapshot.state} (run {snapshot.run_id!r}); only an archived snapshot, "
                    "one a retrain has finished with, can be quarantined")
            current = self._quarantine_in_force(connection, snapshot.id)
            if current is not None:
                raise SnapshotError(
                    f"snapshot {snapshot.id}: already quarantined since {current.quarantined_at.isoformat(timespec='seconds')} "
                    f"by {current.quarantined_by} ({current.reason}); release it first to quarantine it again")
            connection.execute(quarantines_t.insert(), {"snapshot_id": snapshot.id, "reason": reason,
                                                        "quarantined_by": by, "quarantined_at": utc_now()})
            return self._quarantine_in_force(connection, snapshot.id)

    def release_quarantine(self, snapshot_id: int, *, by: str) -> Quarantine:
        """Lift a snapshot's quarantine: the next retrain includes it again. Returns the lifted quarantine."""
        by = _quarantine_text("by", by, 128, "who releases it (1 to 128 printable characters)")
        with self._write() as connection:
            snapshot = self._get_snapshot(connection, snapshot_id)
            current = self._quarantine_in_force(connection, snapshot.id)
            if current is None:
                raise SnapshotError(f"snapshot {snapshot.id}: not quarantined; nothing to release "
                                    "(see `mindpulse store quarantined`)")
            connection.execute(quarantines_t.update().where(quarantines_t.c.snapshot_id == snapshot.id,
                                                            quarantines_t.c.released_at.is_(None))
                               .values(released_by=by, released_at=utc_now()))
            row = connection.execute(sa.select(quarantines_t).where(quarantines_t.c.snapshot_id == snapshot.id)
                                     .order_by(quarantines_t.c.id.desc()).limit(1)).mappings().first()
            return _quarantine(row)

    def quarantines(self, *, in_force: bool = False) -> list[Quarantine]:
        """Every quarantine (``in_force``: only those still in force), the newest first."""
        statement = sa.select(quarantines_t).order_by(quarantines_t.c.id.desc())
        if in_force:
            statement = statement.where(quarantines_t.c.released_at.is_(None))
        with self._read() as connection:
            return [_quarantine(row) for row in connection.execute(statement).mappings()]

    def quarantined(self) -> dict[int, Quarantine]:
        """The quarantines in force, by snapshot id: these snapshots are left out of training."""
        return {q.snapshot_id: q for q in self.quarantines(in_force=True)}

    def _quarantine_in_force(self, connection: sa.Connection, snapshot_id: int) -> Quarantine | None:
        row = connection.execute(sa.select(quarantines_t).where(quarantines_t.c.snapshot_id == snapshot_id,
                                                                quarantines_t.c.released_at.is_(None))).mappings().first()
        return None if row is None else _quarantine(row)

    # -- overview -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts by state and source, the last archive, and which database this is."""
        with self._read() as connection:
            counts = connection.execute(  # kept by triggers: no count over the rows themselves
                sa.select(counts_t.c.source, counts_t.c.state, sa.func.sum(counts_t.c.n))
                .group_by(counts_t.c.source, counts_t.c.state)).all()
            snapshot_counts = dict(connection.execute(
                sa.select(snapshots_t.c.state, sa.func.count()).group_by(snapshots_t.c.state)).all())
            last = connection.execute(
                sa.select(snapshots_t.c.archived_at, snapshots_t.c.export_path, snapshots_t.c.n_rows)
                .where(snapshots_t.c.state == ARCHIVED).order_by(snapshots_t.c.archived_at.desc()).limit(1)).first()
            revision = db.current_revision(connection)
            quarantined = int(connection.execute(sa.select(sa.func.count()).select_from(quarantines_t)
                                                 .where(quarantines_t.c.released_at.is_(None))).scalar_one())
        by_state = {state: 0 for state in ROW_STATES}
        by_source = {SOURCE_PREDICTION: 0, SOURCE_LABELLED: 0}
        for source, state, count in counts:
            by_state[state] += int(count)
            by_source[source] += int(count)
        return {
            "backend": self.backend,
            "database": self.describe_url(),
            "schema_revision": revision,
            "rows_total": sum(by_state.values()),
            "rows_by_state": by_state,
            "predictions_logged": by_source[SOURCE_PREDICTION],
            "labelled_rows_submitted": by_source[SOURCE_LABELLED],
            "awaiting_feedback": by_state[UNLABELLED],
            "labelled_pending": by_state[PENDING],
            "claimed": by_state[CLAIMED],
            "archived": by_state[ARCHIVED],
            "snapshots_by_state": {state: int(snapshot_counts.get(state, 0)) for state in (CLAIMED, ARCHIVED, RELEASED)},
            "snapshots_quarantined": quarantined,
            "last_archive_at": last[0].isoformat(timespec="seconds") if last else None,
            "last_archive_path": last[1] if last else None,
            "last_archive_rows": int(last[2]) if last else None,
        }


def migrate_store(settings: "Settings | None" = None) -> tuple[str | None, str]:
    """Bring the settings' database to the newest schema: the deploy step (``mindpulse store migrate``).

    Returns the revision before (None: an empty database) and after; a second call changes nothing.
    """
    if settings is None:
        from mindpulse.settings import get_settings

        settings = get_settings()
    with Store(settings.database_url, archive_dir=settings.archive_dir) as store:
        before = store.schema_revision()
        return before, store.migrate()


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _snapshot(row: Mapping[str, Any]) -> Snapshot:
    return Snapshot(id=int(row["id"]), run_id=row["run_id"], n_rows=int(row["n_rows"]), state=row["state"],
                    claimed_at=row["claimed_at"], archived_at=row["archived_at"], export_path=row["export_path"])


def _quarantine(row: Mapping[str, Any]) -> Quarantine:
    return Quarantine(snapshot_id=int(row["snapshot_id"]), reason=row["reason"], quarantined_by=row["quarantined_by"],
                      quarantined_at=row["quarantined_at"], released_by=row["released_by"], released_at=row["released_at"])


def _quarantine_text(name: str, value: Any, limit: int, expected: str) -> str:
    """A stripped, printable text of 1 to ``limit`` characters (control characters, C0 and C1, refused)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit or not text.isprintable():
        raise StoreError(f"{name}: got {c.echo(value) if isinstance(value, str) else repr(value)}, expected {expected}")
    return text


def _feedback_update() -> sa.Update:
    return (rows_t.update().where(rows_t.c.id == sa.bindparam("b_id"))
            .values(depression=sa.bindparam("b_depression"), state=PENDING, labelled_at=sa.bindparam("b_now"),
                    labelled_by=sa.bindparam("b_actor")))


def _decide_feedback(pid: int, outcome: int, current: Mapping[str, Any] | None, correct: bool) -> tuple[FeedbackResult, bool]:
    """Apply the feedback rule to one row: (the result, whether to write it); StoreError when refused."""
    if current is None or current["source"] != SOURCE_PREDICTION:
        what = "it is a labelled row, not a prediction" if current is not None else "no prediction was logged with this id"
        raise UnknownPredictionError(f"prediction_id {pid}: {what}")
    previous = current["depression"]
    if previous is None:
        return FeedbackResult(pid, outcome, "recorded"), True
    if int(previous) == outcome:
        return FeedbackResult(pid, outcome, "unchanged", previous=int(previous)), False
    if not correct:
        raise FeedbackConflictError(
            f"prediction_id {pid}: already has outcome {int(previous)}; a second, different outcome ({outcome}) "
            "is refused. To replace it, correct it explicitly (correct=True, CLI --correct)")
    if current["state"] != PENDING:
        raise FeedbackConflictError(
            f"prediction_id {pid}: its outcome {int(previous)} is already {current['state']} by retrain snapshot "
            f"{current['snapshot_id']}; it can no longer be corrected")
    return FeedbackResult(pid, outcome, "corrected", previous=int(previous)), True


def _expected_from(exc: StoreError) -> str:
    if isinstance(exc, UnknownPredictionError):
        return "the id of a logged prediction (" + str(exc).split(": ", 1)[1] + ")"
    return str(exc).split(": ", 1)[1]


def _by_row(problems: list[c.Problem]) -> list[c.Problem]:
    return sorted(problems, key=lambda p: (isinstance(p.row, str), p.row if isinstance(p.row, int) else 0, p.field))
