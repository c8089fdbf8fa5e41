"""Alembic migrations of the production data store (run by ``Store.migrate()``)."""
