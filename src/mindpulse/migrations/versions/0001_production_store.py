"""The production data store: logged predictions, feedback and retrain snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the schema at this revision (a later contract change adds a new revision).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = sa.DateTime()
_FEATURES = (
    ("gender", sa.String(64)),
    ("age", sa.Float()),
    ("city", sa.String(64)),
    ("profession", sa.String(64)),
    ("academic_pressure", sa.Float()),
    ("work_pressure", sa.Float()),
    ("cgpa", sa.Float()),
    ("study_satisfaction", sa.Float()),
    ("job_satisfaction", sa.Float()),
    ("sleep_duration", sa.String(64)),
    ("dietary_habits", sa.String(64)),
    ("degree", sa.String(64)),
    ("suicidal_thoughts", sa.String(64)),
    ("work_study_hours", sa.Float()),
    ("financial_stress", sa.Float()),
    ("family_history", sa.String(64)),
)


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("claimed_at", _UTC, nullable=False),
        sa.Column("archived_at", _UTC, nullable=True),
        sa.Column("released_at", _UTC, nullable=True),
        sa.Column("export_path", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('claimed', 'archived', 'released')", name="ck_snapshots_state"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "production_rows",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        *[sa.Column(name, type_, nullable=True) for name, type_ in _FEATURES],
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("prediction", sa.SmallInteger(), nullable=True),
        sa.Column("depression", sa.SmallInteger(), nullable=True),
        sa.Column("labelled_at", _UTC, nullable=True),
        sa.Column("snapshot_id", BigId, sa.ForeignKey("snapshots.id", name="fk_production_rows_snapshot"), nullable=True),
        sa.CheckConstraint("state IN ('unlabelled', 'pending', 'claimed', 'archived')", name="ck_production_rows_state"),
        sa.CheckConstraint("source IN ('prediction', 'labelled')", name="ck_production_rows_source"),
        sa.CheckConstraint("depression IN (0, 1)", name="ck_production_rows_depression"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_production_rows_state", "production_rows", ["state", "source"])
    op.create_index("ix_production_rows_snapshot_id", "production_rows", ["snapshot_id"])
    where = sa.text("source = 'labelled' AND record_id IS NOT NULL")
    op.create_index("uq_production_rows_labelled_record_id", "production_rows", ["record_id"], unique=True,
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_table("production_rows")
    op.drop_table("snapshots")
