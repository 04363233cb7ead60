"""Alembic's environment: always online, on the connection `bot.store.migrate` opened and locked."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.store.schema import VERSION_TABLE, metadata, postgresql_predicates

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through `rok-token-bot db upgrade` (bot.store.migrate), not the alembic CLI")
if connection.dialect.name == "postgresql":
    postgresql_predicates()  # the metadata's partial indexes, as PostgreSQL sees them (bot/store/schema.py)
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things: batch mode recreates a table when a later revision must.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
