"""The store's failures, in the RokBotError tree (see bot/domain/errors.py):

    RokBotError
    └── StoreError                the database cannot serve the bot                  failed
        ├── StoreUnreachable      no connection (refused, DNS, auth, disk, locked)
        ├── StoreMissing          a read-only command found no SQLite file (and created none)
        ├── StoreReadOnly         connected, but every write is refused (mode=ro, a standby, a setting)
        ├── StoreForbidden        the role lacks a privilege (PostgreSQL 15: CREATE on schema public)
        └── SchemaMismatch        connected, but the schema is not the one this code needs
            ├── SchemaNotMigrated     no schema at all: `rok-token-bot db upgrade`
            ├── SchemaBehind          an older revision than this code's head
            └── SchemaUnknown         a revision this code does not know (a newer bot migrated it)

Each `user_message` names the fix in one sentence: these end `serve` at start and every CLI command
with one line and exit 1, never a traceback (`bot/store/failures.py` maps the driver's errors here).
`detail` names the database by `safe_url` (never its password) and the driver's error class and
message (with any URL userinfo masked).
"""

from __future__ import annotations

from bot.domain.errors import RokBotError


class StoreError(RokBotError):
    user_message = "The bot's database is not available; an admin must check it."


class StoreUnreachable(StoreError):
    user_message = "The bot's database could not be reached; an admin must check ROK_BOT_DATABASE_URL."


class StoreMissing(StoreError):
    user_message = (
        "The bot's SQLite database does not exist; check ROK_BOT_DATA_DIR (the server creates it at its first start)."
    )


class StoreReadOnly(StoreError):
    user_message = "The bot's database is read-only; give the bot a database it can write."


class StoreForbidden(StoreError):
    user_message = (
        "The bot's database role lacks a privilege the bot needs; grant it, or give the bot its own database."
    )


class SchemaMismatch(StoreError):
    user_message = "The bot's database schema does not match this version of the bot."


class SchemaNotMigrated(SchemaMismatch):
    user_message = "The bot's database has no schema yet; run `rok-token-bot db upgrade` (the server does at start)."


class SchemaBehind(SchemaMismatch):
    user_message = "The bot's database schema is behind this version of the bot; run `rok-token-bot db upgrade`."


class SchemaUnknown(SchemaMismatch):
    user_message = (
        "The bot's database schema is newer than this version of the bot knows; run the newer bot, "
        "or restore the database."
    )

    @classmethod
    def newer(cls, revision: str, head: str, *, detail: str) -> SchemaUnknown:
        """A database a newer release migrated (a `helm rollback`): the way back is that release's downgrade."""
        return cls(
            f"The database is at revision {revision}, newer than this release's {head}: run "
            f"`rok-token-bot db downgrade {head}` with the newer release's image, or upgrade the image.",
            detail=detail,
        )
