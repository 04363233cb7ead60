"""The shapes of identifiers, defined once. Every check uses `fullmatch`: `$` alone accepts a trailing newline."""

from __future__ import annotations

import re
from typing import Final

SLACK_USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
SLACK_GROUP_ID: Final = re.compile(r"S[A-Z0-9]{2,20}")
SLACK_CHANNEL_ID: Final = re.compile(r"[CGD][A-Z0-9]{2,}")
ROK_USERNAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
# Canonical lower-case UUIDs (the parser lower-cases what rok-fort-manage prints).
UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Any-case UUIDs, as they may appear in command output or log lines.
UUID_ANY_CASE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# `{name}` in an argv template.
PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")
