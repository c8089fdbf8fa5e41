"""What the store holds, in figures: rows by state and source, snapshots, the last archive."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mindpulse.store import engine as db
from mindpulse.store.core import StoreCore
from mindpulse.store.results import RELEASED
from mindpulse.store.schema import (
    ARCHIVED,
    CLAIMED,
    PENDING,
    ROW_STATES,
    SOURCE_LABELLED,
    SOURCE_PREDICTION,
    UNLABELLED,
    row_counts as counts_t,
    snapshot_quarantines as quarantines_t,
    snapshots as snapshots_t,
)


class Stats(StoreCore):
    """The store's figures."""

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

