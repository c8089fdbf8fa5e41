"""Forgetting people: a student's rows erased on request, unanswered predictions deleted after N days.

* :func:`erase_student` deletes every production row of one student id (predictions, outcomes,
  labelled rows, archived rows) in one transaction, rewrites the archive exports that held them,
  and names the model versions trained on them: those keep what they learned until the next
  retrain, which no longer finds the rows (a snapshot's rows are read from the store, so its
  sha256 changes and the retrain trains anew). The audit event records counts, snapshots and
  versions, never the erased values; the student id appears only as a SHA-256.
* :func:`delete_stale_predictions` deletes predictions that received no outcome within the
  retention period (``MINDPULSE_PREDICTION_RETENTION_DAYS``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mindpulse import contract as c
from mindpulse.store.schema import UNLABELLED, production_rows as rows_t, snapshots as snapshots_t


@dataclass
class Erasure:
    """What one erasure removed, and which model versions were trained on it."""

    student_ref: str  # SHA-256 of the id: which request this was, without the id itself
    rows: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    snapshots: list[int] = field(default_factory=list)
    exports_rewritten: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    in_reference: bool = False

    def describe(self) -> str:
        if not self.rows:
            text = "No production rows held this student id; nothing was erased from the store."
        else:
            states = ", ".join(f"{n} {state}" for state, n in sorted(self.by_state.items()))
            text = f"Erased {self.rows} production row(s) of this student ({states})."
            if self.exports_rewritten:
                text += f" Rewrote {len(self.exports_rewritten)} archive export(s) without them."
            if self.models:
                text += (f" Model version(s) {', '.join(self.models)} were trained on them and keep what they learned "
                         "until the next retrain, which trains without them.")
        if self.in_reference:
            text += (" The reference data also holds this id: it is your own data file, not changed here; "
                     "ingest a copy without the student ('mindpulse data ingest').")
        return text

    def audit_details(self) -> dict[str, Any]:
        return {"student_sha256": self.student_ref, "rows": self.rows, "by_state": self.by_state,
                "snapshots": self.snapshots, "models": self.models, "exports_rewritten": len(self.exports_rewritten)}


def student_ref(student_id: int) -> str:
    return hashlib.sha256(str(student_id).encode()).hexdigest()


def parse_student_id(value: Any) -> int:
    """The student id as the contract defines ``id`` (a whole number from 0 to 2**63 - 1)."""
    text = c.record_cell(value)
    number = c.whole_number(text.strip()) if text else None
    if number is None or not 0 <= number <= c.ID_MAX:
        raise c.ContractError([c.Problem(1, "student_id", str(value), f"a whole number from 0 to {c.ID_MAX}")],
                              "erase")
    return int(number)


def erase_student(store: Any, student_id: Any, *, registry: Any = None, reference_path: Path | None = None,
                  actor: str, via: str) -> Erasure:
    """Delete every production row of ``student_id`` and record the erasure in the audit trail."""
    from mindpulse.audit import AuditTrail

    sid = parse_student_id(student_id)
    erasure = Erasure(student_ref(sid))
    with store.write_transaction() as connection:
        found = connection.execute(sa.select(rows_t.c.id, rows_t.c.state, rows_t.c.snapshot_id)
                                   .where(rows_t.c.record_id == sid)).mappings().all()
        ids = [int(r["id"]) for r in found]
        for row in found:
            erasure.by_state[row["state"]] = erasure.by_state.get(row["state"], 0) + 1
        per_snapshot: dict[int, int] = {}
        for row in found:
            if row["snapshot_id"] is not None:
                per_snapshot[int(row["snapshot_id"])] = per_snapshot.get(int(row["snapshot_id"]), 0) + 1
        if ids:
            connection.execute(rows_t.delete().where(rows_t.c.id.in_(ids)))
            for snapshot_id, n in per_snapshot.items():
                connection.execute(snapshots_t.update().where(snapshots_t.c.id == snapshot_id)
                                   .values(n_rows=snapshots_t.c.n_rows - n))
        erasure.rows, erasure.snapshots = len(ids), sorted(per_snapshot)
        exports = connection.execute(sa.select(snapshots_t.c.export_path).where(
            snapshots_t.c.id.in_(erasure.snapshots), snapshots_t.c.export_path.is_not(None))).scalars().all() if ids else []
        if registry is not None and erasure.snapshots:
            erasure.models = [v.version for v in registry.versions()
                              if {s.get("id") for s in ((v.metadata.get("lineage") or {}).get("snapshots") or [])}
                              & set(erasure.snapshots)]
        if reference_path is not None:
            erasure.in_reference = _in_reference(reference_path, sid)
        # Exports are rewritten before the commit: a crash leaves the rows in the store and the
        # erasure can simply be run again (an export without them is what a second run writes too).
        for path in exports:
            if _rewrite_export(Path(path), set(ids)):
                erasure.exports_rewritten.append(str(path))
        AuditTrail(store).record(actor, via, "student_erased", connection=connection, details=erasure.audit_details())
    return erasure


def _rewrite_export(path: Path, ids: set[int]) -> bool:
    import pandas as pd

    from mindpulse.io import atomic_write_csv

    if not path.is_file():
        return False
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "prediction_id" not in frame.columns:
        return False
    keep = ~frame["prediction_id"].astype(str).isin({str(i) for i in ids})
    if keep.all():
        return False
    atomic_write_csv(path, frame[keep])
    return True


def _in_reference(path: Path, sid: int) -> bool:
    import pandas as pd

    if not path.is_file():
        return False
    ids = pd.read_csv(path, usecols=lambda name: name == "id", dtype=str)
    return "id" in ids.columns and str(sid) in set(ids["id"])


def delete_stale_predictions(store: Any, days: int, *, actor: str, via: str, now: datetime | None = None) -> int:
    """Delete predictions logged more than ``days`` ago that never received an outcome; returns how many."""
    from mindpulse.audit import AuditTrail

    if days < 1:
        raise ValueError(f"days: got {days}, expected a whole number of at least 1")
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    with store.write_transaction() as connection:
        deleted = connection.execute(rows_t.delete().where(rows_t.c.state == UNLABELLED,
                                                           rows_t.c.created_at < cutoff)).rowcount
        if deleted:
            AuditTrail(store).record(actor, via, "predictions_expired", connection=connection,
                                     details={"rows": deleted, "older_than_days": days})
    return int(deleted)
