"""Quarantined snapshots: a snapshot set aside from training, with who, when and why.

One row per quarantine: ``released_at`` (and who released it) is filled when it is lifted, so the
history stays; at most one quarantine of a snapshot is in force at a time (a partial unique index).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "snapshot_quarantines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", BigId, sa.ForeignKey("snapshots.id", name="fk_snapshot_quarantines_snapshot"),
                  nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("quarantined_by", sa.String(128), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(), nullable=False),
        sa.Column("released_by", sa.String(128), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_snapshot_quarantines_in_force", "snapshot_quarantines", ["snapshot_id"], unique=True,
                    sqlite_where=sa.text("released_at IS NULL"), postgresql_where=sa.text("released_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_snapshot_quarantines_in_force", table_name="snapshot_quarantines")
    op.drop_table("snapshot_quarantines")
