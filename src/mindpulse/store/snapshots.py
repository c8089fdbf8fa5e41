"""Retrain snapshots: claimed, read, released; and quarantines that keep an archived one out of training."""

from __future__ import annotations


import pandas as pd
import sqlalchemy as sa

from mindpulse.store.core import StoreCore
from mindpulse.store.results import RELEASED, Quarantine, Snapshot, SnapshotError, StoreError, quarantine_of, snapshot_of
from mindpulse.store.schema import (
    ARCHIVED,
    CLAIMED,
    PENDING,
    production_rows as rows_t,
    snapshot_quarantines as quarantines_t,
    snapshots as snapshots_t,
    utc_now,
)
from mindpulse.store.values import as_id, printable_text

#: PostgreSQL advisory lock around claim_snapshot ("MPClaim").
CLAIM_LOCK_KEY = 0x4D50436C61696D


class Snapshots(StoreCore):
    """The snapshots retrains claim, and their quarantines."""

    def claim_snapshot(self, run_id: str) -> Snapshot:
        """Claim every labelled pending row present now for the retrain ``run_id``.

        One UPDATE in one transaction: rows written concurrently stay pending for the next
        retrain. The same ``run_id`` again returns the same snapshot (a retried task); after a
        release, the same ``run_id`` claims the rows pending at that new moment.
        """
        if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 250:
            raise StoreError(f"run_id: got {run_id!r}, expected the retrain's run id (1 to 250 characters)")
        with self._write() as connection:
            if self.backend == "postgresql":
                # One claim at a time: two claims updating the same pending rows in
                # different orders could deadlock. (SQLite's IMMEDIATE already serialises.)
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            now = utc_now()
            mine = self._lock(sa.select(snapshots_t).where(snapshots_t.c.run_id == run_id))
            existing = connection.execute(mine).mappings().first()
            inserted = None
            if existing is None:
                # Inserted only when absent (an INSERT that meets its conflict would still use up an id,
                # and snapshot ids are what people name); ON CONFLICT covers a concurrent claim of the
                # same run_id that inserted it first: its snapshot is returned.
                inserted = connection.execute(
                    self._insert(snapshots_t).values(run_id=run_id, state=CLAIMED, n_rows=0, claimed_at=now)
                    .on_conflict_do_nothing(index_elements=[snapshots_t.c.run_id]).returning(snapshots_t.c.id)).scalar()
                if inserted is None:
                    existing = connection.execute(mine).mappings().one()
            if inserted is None:
                if existing["state"] != RELEASED:
                    return snapshot_of(existing)
                inserted = existing["id"]
            snapshot_id = int(inserted)
            claimed = connection.execute(
                rows_t.update().where(rows_t.c.state == PENDING).values(state=CLAIMED, snapshot_id=snapshot_id)
            ).rowcount
            connection.execute(snapshots_t.update().where(snapshots_t.c.id == snapshot_id).values(
                state=CLAIMED, n_rows=claimed, claimed_at=now, released_at=None))
            return self._get_snapshot(connection, snapshot_id)

    def get_snapshot(self, snapshot_id: int) -> Snapshot:
        """A snapshot by id; SnapshotError when there is none."""
        with self._read() as connection:
            return self._get_snapshot(connection, snapshot_id)

    def _get_snapshot(self, connection: sa.Connection, snapshot_id: int) -> Snapshot:
        sid = as_id(snapshot_id)
        row = None if sid is None else connection.execute(
            sa.select(snapshots_t).where(snapshots_t.c.id == sid)).mappings().first()
        if row is None:
            raise SnapshotError(f"snapshot_id: got {snapshot_id!r}, expected the id of a snapshot claimed by claim_snapshot()")
        return snapshot_of(row)

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, newest first."""
        with self._read() as connection:
            rows = connection.execute(sa.select(snapshots_t).order_by(snapshots_t.c.id.desc())).mappings()
            return [snapshot_of(row) for row in rows]

    def snapshot_frame(self, snapshot_id: int) -> pd.DataFrame:
        """The rows of a snapshot (claimed or archived), in the same form as :meth:`production_frame`."""
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot.state == RELEASED:
            raise SnapshotError(f"snapshot {snapshot.id} (run {snapshot.run_id!r}) was released: its rows are pending again")
        return self._frame(self._frame_select().where(rows_t.c.snapshot_id == snapshot.id).order_by(rows_t.c.id))

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
        reason = printable_text("reason", reason, 1000, "why the snapshot is set aside (1 to 1000 printable characters)")
        by = printable_text("by", by, 128, "who sets it aside (1 to 128 printable characters)")
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
        by = printable_text("by", by, 128, "who releases it (1 to 128 printable characters)")
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
            return quarantine_of(row)

    def quarantines(self, *, in_force: bool = False) -> list[Quarantine]:
        """Every quarantine (``in_force``: only those still in force), the newest first."""
        statement = sa.select(quarantines_t).order_by(quarantines_t.c.id.desc())
        if in_force:
            statement = statement.where(quarantines_t.c.released_at.is_(None))
        with self._read() as connection:
            return [quarantine_of(row) for row in connection.execute(statement).mappings()]

    def quarantined(self) -> dict[int, Quarantine]:
        """The quarantines in force, by snapshot id: these snapshots are left out of training."""
        return {q.snapshot_id: q for q in self.quarantines(in_force=True)}

    def _quarantine_in_force(self, connection: sa.Connection, snapshot_id: int) -> Quarantine | None:
        row = connection.execute(sa.select(quarantines_t).where(quarantines_t.c.snapshot_id == snapshot_id,
                                                                quarantines_t.c.released_at.is_(None))).mappings().first()
        return None if row is None else quarantine_of(row)

