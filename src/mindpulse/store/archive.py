"""Archiving a snapshot: its rows marked archived and exported, atomically, as a CSV in the real format."""

from __future__ import annotations

from pathlib import Path

from mindpulse import fencing
from mindpulse.io import atomic_write_csv
from mindpulse.store.records import export_frame
from mindpulse.store.results import RELEASED, Snapshot, SnapshotError, StoreError
from mindpulse.store.schema import ARCHIVED, CLAIMED, production_rows as rows_t, snapshots as snapshots_t, utc_now
from mindpulse.store.snapshots import Snapshots

#: File names of the archive exports begin with this.
EXPORT_PREFIX = "prod_data_archived_"


class Archive(Snapshots):
    """Archive exports of claimed snapshots."""

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

