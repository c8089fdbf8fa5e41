"""The PostgreSQL on localhost as the store tests use it: an admin connection that fails loudly."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN = os.environ.get("MINDPULSE_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def admin_connection():  # type: ignore[no-untyped-def]
    """An autocommit connection to the admin database; the PostgreSQL tests never skip."""
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({PG_ADMIN}): {str(exc).strip()}. Start it (scripts/system-deps.sh "
                    "does); the PostgreSQL tests never skip.", pytrace=False)


@contextlib.contextmanager
def fresh_database(*, synchronous_commit: bool = True) -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped afterwards.

    ``synchronous_commit=False`` for tests of visibility and locking, which it does not change: it
    spares each commit the wait for the shared disk's fsync (~4 ms here)."""
    name = f"mindpulse_test_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        if not synchronous_commit:
            admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        host = dict(part.split("=", 1) for part in PG_ADMIN.split())
        yield f"postgresql+psycopg://{host.get('user', 'postgres')}@{host.get('host', '127.0.0.1')}:{host.get('port', '5432')}/{name}"
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
