"""Outcomes fed back: one outcome, a CSV of outcomes, or labelled rows submitted without a prediction.

The feedback rule: the first outcome is recorded; the same outcome again changes nothing; a
different one is refused unless corrected explicitly, and only while no retrain has claimed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mindpulse import contract as c
from mindpulse.store.core import CHUNK, StoreCore
from mindpulse.store.records import frame_to_rows
from mindpulse.store.results import FeedbackConflictError, FeedbackReport, FeedbackResult, StoreError, UnknownPredictionError
from mindpulse.store.schema import PENDING, SOURCE_LABELLED, SOURCE_PREDICTION, production_rows as rows_t, utc_now
from mindpulse.store.values import as_id, as_outcome, problem


class OutcomeImport(StoreCore):
    """Recording outcomes and labelled rows."""

    def record_feedback(self, prediction_id: int, depression: int, *, correct: bool = False,
                        actor: str | None = None) -> FeedbackResult:
        """Attach the true outcome to a logged prediction.

        Rule: the first outcome is recorded; the same outcome again changes nothing
        (``unchanged``, so a retried request is harmless); a different outcome is refused with
        :class:`FeedbackConflictError` unless ``correct=True``, which replaces it while the row
        waits for a retrain (not once a retrain has claimed or archived it).
        """
        pid = as_id(prediction_id)
        if pid is None:
            raise c.ContractError([problem("prediction_id", prediction_id, "the whole-number id of a logged prediction")], "feedback")
        outcome = as_outcome(depression)
        if outcome is None:
            raise c.ContractError([problem("Depression", depression, "0 or 1")], f"feedback for prediction {pid}")
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
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
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
        """Insert valid canonical rows, leaving out (and reporting) ids already stored as labelled rows.

        With ``strict`` nothing is stored when any id is; a row stored by a concurrent writer after the
        look-up is left out by the insert itself (ON CONFLICT) and reported the same way.
        """
        try:
            with self._write() as connection:
                duplicates = self._stored_labelled_ids(connection, valid["id"].dropna().astype(int).tolist())
                problems = _duplicate_problems(valid, duplicates)
                if problems and strict:
                    return 0, problems
                keep = valid[~valid["id"].isin(list(duplicates))] if duplicates else valid
                rows = frame_to_rows(keep)
                now = utc_now()
                for row in rows:
                    row.update(created_at=now, labelled_at=now, source=SOURCE_LABELLED, state=PENDING)
                    if actor is not None:
                        row.update(logged_by=actor, labelled_by=actor)
                left_out = self._insert_new_labelled(connection, rows) if rows else set()
                if left_out:
                    late = _duplicate_problems(valid, self._stored_labelled_ids(connection, sorted(left_out)))
                    if strict:
                        raise _StoredMeanwhile(late)  # rolls the transaction back
                    problems = [*problems, *late]
                return len(rows) - len(left_out), problems
        except _StoredMeanwhile as exc:
            return 0, exc.problems

    def _stored_labelled_ids(self, connection: sa.Connection, ids: list[int]) -> dict[int, int]:
        stored: dict[int, int] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
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
                raise c.ContractError([problem(field_name, value, f"one column named {field_name!r} ("
                                                + ("0 or 1" if alias == c.TARGET else "the id of a logged prediction")
                                                + ")", "header")], source)
        id_column = next(name for name in raw.columns if name.lower() == "prediction_id")
        target_columns = [name for name in raw.columns if name.lower() == c.TARGET]
        problems: list[c.Problem] = []
        wanted: list[tuple[int, int, int]] = []  # (line, prediction id, outcome)
        for line, pid_text, outcome_text in zip(raw.index, raw[id_column], raw[target_columns[0]]):
            pid_text, outcome_text = c.record_cell(pid_text) or "", c.record_cell(outcome_text) or ""
            pid, outcome = as_id(pid_text), as_outcome(outcome_text)
            if pid is None:
                problems.append(problem("prediction_id", pid_text, "the whole-number id of a logged prediction", line))
            if outcome is None:
                problems.append(problem("Depression", outcome_text, "0 or 1", line))
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
                    problems.append(problem(field_name, value, _expected_from(exc), line))
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


class _StoredMeanwhile(Exception):
    """Ids a concurrent writer stored between the look-up and the insert (strict mode: nothing is stored)."""

    def __init__(self, problems: list[c.Problem]):
        super().__init__(problems)
        self.problems = problems


def _duplicate_problems(valid: pd.DataFrame, stored: dict[int, int]) -> list[c.Problem]:
    """One problem per row of ``valid`` whose id is stored already (``stored``: record id -> row id)."""
    return [problem("id", int(rid), f"an id not stored yet (already stored as row {stored[int(rid)]})", c.row_number(index))
            for index, rid in valid["id"].items() if pd.notna(rid) and int(rid) in stored]
