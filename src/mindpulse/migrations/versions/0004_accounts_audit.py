"""Accounts, API tokens, the audit trail, idempotency keys, and who logged each row.

* ``accounts``: a person or an integration, with one role (viewer, counsellor, admin) and an
  argon2 password hash.
* ``api_tokens``: bearer tokens of an account, stored as their SHA-256 (a token is 256 random
  bits: a fast hash is enough, and a lookup is one indexed read), with scopes, an expiry and a
  revocation time.
* ``audit_events``: who did what, when, from where, and whether it was allowed. Append-only:
  triggers refuse UPDATE and DELETE on both backends.
* ``idempotency_keys``: the response to a request sent with an ``Idempotency-Key``, stored in
  the same transaction as what the request changed, so a retried request changes nothing again.
* ``production_rows.logged_by`` / ``labelled_by``: the account behind a prediction and its outcome.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTC = sa.DateTime()

_PG_APPEND_ONLY = """
CREATE FUNCTION mindpulse_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("password_changed_at", _UTC, nullable=True),
        sa.Column("disabled_at", _UTC, nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'counsellor', 'admin')", name="ck_accounts_role"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id", name="fk_api_tokens_account"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=True),
        sa.Column("revoked_at", _UTC, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", _UTC, nullable=False),
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
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id", name="fk_idempotency_keys_account"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.UniqueConstraint("account_id", "key", name="uq_idempotency_keys_account_key"),
        sqlite_autoincrement=True,
    )
    op.add_column("production_rows", sa.Column("logged_by", sa.String(64), nullable=True))
    op.add_column("production_rows", sa.Column("labelled_by", sa.String(64), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_APPEND_ONLY)
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION mindpulse_audit_append_only()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
                       "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS mindpulse_audit_append_only()")
    with op.batch_alter_table("production_rows") as batch:
        batch.drop_column("labelled_by")
        batch.drop_column("logged_by")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_audit_events_actor", "audit_events")
    op.drop_index("ix_audit_events_at", "audit_events")
    op.drop_table("audit_events")
    op.drop_table("api_tokens")
    op.drop_table("accounts")
