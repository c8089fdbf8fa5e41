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

from mindpulse.contract import canonical_record  # noqa: F401 - the one fast path for a single record
from mindpulse.store.archive import EXPORT_PREFIX, Archive
from mindpulse.store.core import StoreCore, migrate_store
from mindpulse.store.outcomes import OutcomeImport
from mindpulse.store.predictions import PredictionLog
from mindpulse.store.results import (
    RELEASED,
    FeedbackConflictError,
    FeedbackReport,
    FeedbackResult,
    InTransaction,
    Quarantine,
    SchemaOutOfDateError,
    Snapshot,
    SnapshotError,
    StoreError,
    UnknownPredictionError,
)
from mindpulse.store.snapshots import CLAIM_LOCK_KEY
from mindpulse.store.stats import Stats


class Store(PredictionLog, OutcomeImport, Archive, Stats):
    """Production data in SQLite (the embedded default) or PostgreSQL, chosen by the URL.

    Each part lives in its own module: :mod:`~mindpulse.store.core` (connection, transactions,
    schema check), :mod:`~mindpulse.store.predictions`, :mod:`~mindpulse.store.outcomes`,
    :mod:`~mindpulse.store.snapshots`, :mod:`~mindpulse.store.archive` and :mod:`~mindpulse.store.stats`.
    """


__all__ = [
    "CLAIM_LOCK_KEY", "EXPORT_PREFIX", "RELEASED", "FeedbackConflictError", "FeedbackReport", "FeedbackResult",
    "InTransaction", "Quarantine", "SchemaOutOfDateError", "Snapshot", "SnapshotError", "Store", "StoreCore",
    "StoreError", "UnknownPredictionError", "canonical_record", "migrate_store",
]
