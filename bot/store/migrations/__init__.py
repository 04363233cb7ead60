"""Alembic migrations of the store, shipped in the package; `bot.store.migrate` runs them (no alembic.ini)."""
