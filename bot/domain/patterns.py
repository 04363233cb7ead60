"""The shapes of identifiers, defined once. Every check uses `fullmatch`: `$` alone accepts a trailing newline."""

from __future__ import annotations

import re
from typing import Final

SLACK_USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
SLACK_GROUP_ID: Final = re.compile(r"S[A-Z0-9]{2,20}")
# A user group in the policy: `S…`, or `T…:S…` naming its workspace (an org-wide install, when an ID is ambiguous).
SLACK_GROUP_REF: Final = re.compile(r"(?:T[A-Z0-9]{2,20}:)?S[A-Z0-9]{2,20}")
# A workspace (team) ID; on Enterprise Grid every workspace of the organisation has its own.
SLACK_TEAM_ID: Final = re.compile(r"T[A-Z0-9]{2,20}")
SLACK_CHANNEL_ID: Final = re.compile(r"[CGD][A-Z0-9]{2,}")
ROK_USERNAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
# UUIDs in any case, as they appear in command output, log lines and reasons (`canonical_uuid`: lower case).
UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Token-shaped: a run of 24 or more URL-safe characters (Rok tokens, Slack tokens, JWT parts). A UUID is one
# too: whoever masks these keeps UUIDs (`bot.domain.text.mask_token_shaped`), which admins need.
TOKEN_SHAPED: Final = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{24,}(?![A-Za-z0-9_\-])")
# A Kubernetes object name that is a DNS label (namespaces, Services).
DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# The registry of every row and event when no registries file is configured (ROK_BOT_REGISTRIES unset), and of
# every row written before revision 0007: the one registry of today's ROK_REGISTRY_* settings.
DEFAULT_REGISTRY: Final = "default"
# A registry's name, as people type it in `/rok-token prod 24h` (more rules in bot.domain.registries); the
# store's `registry` columns are String(REGISTRY_NAME_MAX).
REGISTRY_NAME_MAX: Final = 20
REGISTRY_NAME: Final = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{REGISTRY_NAME_MAX - 1}}}")
# `{name}` in an argv template.
PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")


def group_part(ref: str) -> str:
    """The user group ID of a policy reference: `S0G` of `T0A:S0G` (and of `S0G`)."""
    return ref.rpartition(":")[2]


def group_team(ref: str) -> str | None:
    """The workspace a policy reference names (`T0A` of `T0A:S0G`), or None for a plain `S0G`."""
    team, sep, _ = ref.partition(":")
    return team if sep else None


def canonical_uuid(text: str) -> bool:
    """A UUID in its canonical lower-case form (the parser lower-cases what rok-fort-manage prints)."""
    return UUID.fullmatch(text) is not None and text == text.lower()
