"""Predictions served: logged one at a time or as a batch, and read back (the newest, one by id, the pending rows)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mindpulse import contract as c
from mindpulse.contract import canonical_record
from mindpulse.store.core import StoreCore
from mindpulse.store.records import frame_to_rows
from mindpulse.store.results import InTransaction
from mindpulse.store.schema import FEATURE_COLUMNS, PENDING, SOURCE_PREDICTION, UNLABELLED, production_rows as rows_t, utc_now
from mindpulse.store.values import as_id, as_outcome, prediction_values, problem


class PredictionLog(StoreCore):
    """Logging predictions and reading production rows."""

    def log_prediction(self, record: Mapping[str, Any], *, probability: float, label: int, model_version: str,
                       actor: str | None = None, in_transaction: InTransaction | None = None) -> int:
        """Record one prediction served; returns its id (the id feedback refers to).

        ``record`` is the model's input (canonical or real-header keys), validated through the
        data contract; a ``depression`` value in it is stored as the outcome at once. ``actor``
        names the account that logged it; ``in_transaction(connection, [id])`` runs in the same
        transaction before it commits (the API stores its idempotency key there).
        """
        values = canonical_record(record, require_target=False)
        extra, problems = prediction_values(probability, label, model_version)
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
            raise c.ContractError([problem(m, "(missing)", f"a column named {m!r}", "header") for m in missing], "predictions")
        if chunk_rows is not None and chunk_rows < 1:
            raise ValueError(f"chunk_rows: got {chunk_rows}, expected a whole number of at least 1")
        result = c.validate_frame(frame, require_target=False, source="predictions")
        problems = list(result.problems)
        for index, prob, label, version in zip(frame.index, frame["probability"], frame["prediction"], frame["model_version"]):
            problems += prediction_values(prob, label, version, row=c.row_number(index))[1]
        if problems:
            raise c.ContractError(problems, "predictions")
        rows = frame_to_rows(result.valid)
        now = utc_now()
        for row, prob, label, version in zip(rows, frame["probability"], frame["prediction"], frame["model_version"]):
            labelled = row[c.TARGET] is not None
            row.update(created_at=now, source=SOURCE_PREDICTION, probability=float(prob), prediction=as_outcome(label),
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

    def recent_predictions(self, limit: int = 50) -> pd.DataFrame:
        """The newest predictions first, with their outcome (if any) and state."""
        statement = (self._frame_select(extra=(rows_t.c.state, rows_t.c.labelled_at))
                     .where(rows_t.c.source == SOURCE_PREDICTION)
                     .order_by(rows_t.c.id.desc()).limit(int(limit)))
        return self._frame(statement)

    def prediction(self, prediction_id: int) -> dict[str, Any] | None:
        """One logged prediction (canonical columns, its outcome, state and who logged and labelled it), or None."""
        pid = as_id(prediction_id)
        if pid is None:
            return None
        extra = (rows_t.c.state, rows_t.c.labelled_at, rows_t.c.logged_by, rows_t.c.labelled_by)
        statement = self._frame_select(extra=extra).where(rows_t.c.id == pid, rows_t.c.source == SOURCE_PREDICTION)
        with self._read() as connection:
            row = connection.execute(statement).mappings().first()
        return None if row is None else {("id" if k == "record_id" else k): v for k, v in row.items()}

    def pending_count(self) -> int:
        """Labelled rows waiting for the next retrain (an index lookup, cheap at any size)."""
        with self._read() as connection:
            return int(connection.execute(sa.select(sa.func.count()).where(rows_t.c.state == PENDING)).scalar_one())

    def production_frame(self) -> pd.DataFrame:
        """The pending labelled rows: canonical columns, then prediction, probability, model_version, created_at, prediction_id."""
        return self._frame(self._frame_select().where(rows_t.c.state == PENDING).order_by(rows_t.c.id))

