"""What the store returns and refuses: its errors, snapshots, quarantines and feedback results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa

from mindpulse import contract as c

#: A snapshot whose retrain failed: its rows went back to pending.
RELEASED = "released"

#: Called inside a write transaction with its connection and the affected prediction ids.
InTransaction = Callable[[sa.Connection, list[int]], None]


class StoreError(ValueError):
    """A request the store refuses; the message names the id or value and what is accepted."""


class SchemaOutOfDateError(StoreError):
    """The database's schema is not the one this code expects: ``mindpulse store migrate`` brings it to the newest."""

    def __init__(self, database: str, current: str | None, expected: str, *, known: bool = True):
        self.database, self.current, self.expected = database, current, expected
        if not known:  # migrated by a newer MindPulse: migrating cannot go back
            message = (f"database {database}: its schema is at revision {current}, newer than this MindPulse knows "
                       f"(expected revision {expected}); run the MindPulse version that migrated it")
        else:
            at = f"at revision {current}" if current else "not initialised (no MindPulse schema yet)"
            message = (f"database {database}: its schema is {at}, expected revision {expected}; run `mindpulse store "
                       "migrate` to bring it up to date (a deploy step: `mindpulse platform run` and the containers' "
                       "airflow-init run it)")
        super().__init__(message)


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


def snapshot_of(row: Mapping[str, Any]) -> Snapshot:
    return Snapshot(id=int(row["id"]), run_id=row["run_id"], n_rows=int(row["n_rows"]), state=row["state"],
                    claimed_at=row["claimed_at"], archived_at=row["archived_at"], export_path=row["export_path"])


def quarantine_of(row: Mapping[str, Any]) -> Quarantine:
    return Quarantine(snapshot_id=int(row["snapshot_id"]), reason=row["reason"], quarantined_by=row["quarantined_by"],
                      quarantined_at=row["quarantined_at"], released_by=row["released_by"], released_at=row["released_at"])
