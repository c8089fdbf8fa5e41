"""The store's tables as SQLAlchemy Core metadata (the migrations create the same schema)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from mindpulse import contract as c

#: A logged prediction without its true outcome yet.
UNLABELLED = "unlabelled"
#: Labelled, waiting for the next retrain.
PENDING = "pending"
#: Taken by a retrain's snapshot (training on it now).
CLAIMED = "claimed"
#: Used by a successful retrain and exported to the archive folder.
ARCHIVED = "archived"
ROW_STATES = (UNLABELLED, PENDING, CLAIMED, ARCHIVED)

#: Served by the model (``log_prediction``).
SOURCE_PREDICTION = "prediction"
#: Submitted with its label, without a prediction (``add_labelled``).
SOURCE_LABELLED = "labelled"
ROW_SOURCES = (SOURCE_PREDICTION, SOURCE_LABELLED)

SNAPSHOT_STATES = (CLAIMED, ARCHIVED, "released")

#: Contract columns stored one per column; the contract's ``id`` is kept as ``record_id``
#: because ``id`` is the store's own key (the prediction id).
FEATURE_COLUMNS: tuple[str, ...] = tuple(name for name in c.CANONICAL_COLUMNS if name not in ("id", c.TARGET))

# BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator):
    """A UTC timestamp: stored without a zone (the same on every backend), read back zone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _column_type(spec: c.FieldSpec) -> sa.types.TypeEngine:
    # The contract declares each text field's maximum length, so every value it accepts fits.
    return sa.Float() if spec.kind == "number" else sa.String(spec.max_length)


metadata = sa.MetaData()

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("n_rows", sa.Integer(), nullable=False),
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    sa.Column("released_at", UTCDateTime(), nullable=True),
    sa.Column("export_path", sa.Text(), nullable=True),
    sa.CheckConstraint("state IN ('claimed', 'archived', 'released')", name="ck_snapshots_state"),
    sqlite_autoincrement=True,
)

production_rows = sa.Table(
    "production_rows",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("record_id", sa.BigInteger(), nullable=True),
    *[sa.Column(name, _column_type(c.FIELD_BY_NAME[name]), nullable=True) for name in FEATURE_COLUMNS],
    sa.Column("model_version", sa.String(64), nullable=True),
    sa.Column("probability", sa.Float(), nullable=True),
    sa.Column("prediction", sa.SmallInteger(), nullable=True),
    sa.Column("depression", sa.SmallInteger(), nullable=True),
    sa.Column("labelled_at", UTCDateTime(), nullable=True),
    sa.Column("snapshot_id", BigId, sa.ForeignKey("snapshots.id", name="fk_production_rows_snapshot"), nullable=True),
    sa.Column("logged_by", sa.String(64), nullable=True),  # the account that logged the prediction (migration 0004)
    sa.Column("labelled_by", sa.String(64), nullable=True),  # the account that entered its outcome
    sa.CheckConstraint("state IN ('unlabelled', 'pending', 'claimed', 'archived')", name="ck_production_rows_state"),
    sa.CheckConstraint("source IN ('prediction', 'labelled')", name="ck_production_rows_source"),
    sa.CheckConstraint("depression IN (0, 1)", name="ck_production_rows_depression"),
    sqlite_autoincrement=True,
)
# (state, source): pending_count() and the counts of stats() read the index alone.
sa.Index("ix_production_rows_state", production_rows.c.state, production_rows.c.source)
sa.Index("ix_production_rows_snapshot_id", production_rows.c.snapshot_id)
# (state, id): the pending rows in id order without scanning the table (production_frame()).
sa.Index("ix_production_rows_state_id", production_rows.c.state, production_rows.c.id)
# A labelled row submitted twice (same record id) would count twice in training.
sa.Index(
    "uq_production_rows_labelled_record_id",
    production_rows.c.record_id,
    unique=True,
    sqlite_where=sa.text("source = 'labelled' AND record_id IS NOT NULL"),
    postgresql_where=sa.text("source = 'labelled' AND record_id IS NOT NULL"),
)

#: Snapshots set aside from training (migration 0003): one row per quarantine, with who, when and
#: why; ``released_at`` is set when it is lifted, so the history stays. At most one in force per snapshot.
snapshot_quarantines = sa.Table(
    "snapshot_quarantines",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", BigId, sa.ForeignKey("snapshots.id", name="fk_snapshot_quarantines_snapshot"), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("quarantined_by", sa.String(128), nullable=False),
    sa.Column("quarantined_at", UTCDateTime(), nullable=False),
    sa.Column("released_by", sa.String(128), nullable=True),
    sa.Column("released_at", UTCDateTime(), nullable=True),
    sqlite_autoincrement=True,
)
sa.Index(
    "uq_snapshot_quarantines_in_force",
    snapshot_quarantines.c.snapshot_id,
    unique=True,
    sqlite_where=sa.text("released_at IS NULL"),
    postgresql_where=sa.text("released_at IS NULL"),
)

#: Rows per (source, state), kept exact by triggers on production_rows (migration 0002): stats()
#: reads a few dozen rows here instead of counting millions. PostgreSQL spreads each count over
#: slots (one per writing connection's pid, modulo their number); SQLite uses slot 0 alone.
row_counts = sa.Table(
    "row_counts",
    metadata,
    sa.Column("source", sa.String(16), primary_key=True),
    sa.Column("state", sa.String(16), primary_key=True),
    sa.Column("slot", sa.SmallInteger(), primary_key=True),
    sa.Column("n", sa.BigInteger(), nullable=False),
)

#: Roles an account can hold (see :mod:`mindpulse.accounts`).
ROLES = ("viewer", "counsellor", "admin")

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("password_changed_at", UTCDateTime(), nullable=True),
    sa.Column("disabled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("role IN ('viewer', 'counsellor', 'admin')", name="ck_accounts_role"),
    sqlite_autoincrement=True,
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id", name="fk_api_tokens_account"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sqlite_autoincrement=True,
)

#: Append-only: triggers of migration 0004 refuse UPDATE and DELETE.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("remote", sa.String(64), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(250), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("details", sa.Text(), nullable=True),
    sa.CheckConstraint("outcome IN ('ok', 'refused')", name="ck_audit_events_outcome"),
    sqlite_autoincrement=True,
)
sa.Index("ix_audit_events_at", audit_events.c.at)
sa.Index("ix_audit_events_actor", audit_events.c.actor, audit_events.c.at)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("account_id", BigId, sa.ForeignKey("accounts.id", name="fk_idempotency_keys_account"), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("status_code", sa.SmallInteger(), nullable=False),
    sa.Column("response", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "key", name="uq_idempotency_keys_account_key"),
    sqlite_autoincrement=True,
)
