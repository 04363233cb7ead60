"""An empty database gets the schema of head at once: the tables of bot/store/schema.py and the version row,
in one transaction under the migration lock, without importing Alembic.

This is the recipe of Alembic's cookbook for a database built from scratch ("create_all, then stamp head"),
with the stamp written as the one row Alembic itself would write, in a table of the shape Alembic creates
(`version_table_impl`: `version_num VARCHAR(32) NOT NULL`, primary key `<table>_pkc`). Alembic then reads that
database like any other: the next release upgrades it and `rok-token-bot db downgrade` takes it back.
`tests/store/test_store_fresh.py` proves the two ways to head build the same schema, on SQLite and PostgreSQL.

Why: a first start (a new install, an emptyDir after a reschedule, every test and benchmark) would otherwise
import Alembic, Mako and the nine migration scripts (~0.2 s and ~9 MiB the serving process then keeps) to run
steps whose end state the metadata already describes. A database that holds anything of ours (a schema behind
head, or half of one) still goes through Alembic's upgrade, which decides what to do with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.store.db import migration_lock, writing
from bot.store.failures import translated
from bot.store.schema import HEAD_REVISION, VERSION_TABLE, metadata

_VERSIONS = sa.Table(
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


def create_at_head(engine: Engine) -> str | None:
    """HEAD_REVISION once the database holds the schema at head, created here if it held none of our tables;
    None when it holds some but not a version at head (Alembic's upgrade is then the one to decide)."""
    ours = {VERSION_TABLE, *metadata.tables}
    with translated(engine.url), writing(engine) as conn:
        migration_lock(conn)
        present = ours & set(sa.inspect(conn).get_table_names())
        if present:  # another migrator got here first, or a schema of an older release
            at = conn.execute(sa.select(_VERSIONS.c.version_num)).scalar() if VERSION_TABLE in present else None
            return HEAD_REVISION if at == HEAD_REVISION else None
        metadata.create_all(conn, checkfirst=False)  # none of them is there (above, under the lock)
        _VERSIONS.create(conn, checkfirst=False)
        conn.execute(_VERSIONS.insert().values(version_num=HEAD_REVISION))
    return HEAD_REVISION
