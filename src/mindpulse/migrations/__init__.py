"""Alembic migrations of the production data store, run by the deploy step ``mindpulse store migrate``
(``Store.migrate()``); opening a store only checks that its schema is at the newest revision."""
