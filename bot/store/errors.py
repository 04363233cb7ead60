"""The store's failures, in the RokBotError tree (see bot/domain/errors.py):

    RokBotError
    └── StoreError                the database cannot serve the bot                  failed
        ├── StoreUnreachable      no connection (refused, DNS, auth, disk, locked)
        └── SchemaMismatch        connected, but the schema is not the one this code needs
            ├── SchemaNotMigrated     no schema at all: `rok-token-bot db upgrade`
            ├── SchemaBehind          an older revision than this code's head
            └── SchemaUnknown         a revision this code does not know (a newer bot migrated it)

`detail` names the database by `safe_url` (never its password) and the driver's error class and
message (with any URL userinfo masked).
"""

from __future__ import annotations

from bot.domain.errors import RokBotError


class StoreError(RokBotError):
    user_message = "The bot's database is not available; an admin must check it."


class StoreUnreachable(StoreError):
    user_message = "The bot's database could not be reached; an admin must check ROK_BOT_DATABASE_URL."


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
