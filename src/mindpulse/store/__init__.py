"""The production data store: predictions, feedback and retrain snapshots (SQLite or PostgreSQL).

``from mindpulse.store import Store`` is the entry point; see
:mod:`mindpulse.store.production_store` for the row life cycle and the feedback rule.
Importing this package opens nothing.
"""

from mindpulse.store.production_store import (
    EXPORT_PREFIX,
    FeedbackConflictError,
    FeedbackReport,
    FeedbackResult,
    Quarantine,
    SchemaOutOfDateError,
    Snapshot,
    SnapshotError,
    Store,
    StoreError,
    UnknownPredictionError,
    migrate_store,
)

__all__ = [
    "EXPORT_PREFIX",
    "FeedbackConflictError",
    "FeedbackReport",
    "FeedbackResult",
    "Quarantine",
    "SchemaOutOfDateError",
    "Snapshot",
    "SnapshotError",
    "Store",
    "StoreError",
    "UnknownPredictionError",
    "migrate_store",
]
