"""Which registry a request goes to, in the order `/rok-token help` states:

    1. the one the user named (`/rok-token prod 24h`, `/rok-token 24h prod`, `--registry prod`);
    2. else the channel's default registry (a registry's `channels`), if the user may use it;
    3. else the user's only eligible registry;
    4. else a chooser listing every registry the user may use, never the others: nothing is minted until a click.

Never silently the first. A name that is unknown or not open to the user is refused with the names the user
may use, in one sentence that reads the same for both, so the refusal tells nobody which other names exist.
With one registry (the `default` made from today's settings) every path chooses it, so nothing a user sees
changes.

Pure: the caller passes the user's eligible names (the registries whose `allow` admits them, which needs their
user groups, so this runs after the ack) and a minimal view of the configured registries.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final, Literal, Protocol

import msgspec

_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_SHOWN_LEN: Final = 24
NO_REGISTRY: Final = "No Rok registry is open to you; ask your platform team for access."


class Catalogue(Protocol):
    """What resolution needs to know about the configured registries, and nothing else."""

    @property
    def names(self) -> Sequence[str]:
        """Every configured name, in the order of the registries file: the chooser's order."""
        ...

    def channel_default(self, channel_id: str) -> str | None:
        """The registry whose `channels` lists this channel, if one does."""
        ...


class CatalogueView(msgspec.Struct, frozen=True):
    """A `Catalogue` from plain values: what tests build, and what the registries file can be reduced to."""

    names: tuple[str, ...]
    channel_defaults: Mapping[str, str] = msgspec.field(default_factory=dict)

    def channel_default(self, channel_id: str) -> str | None:
        """The registry whose `channels` lists this channel, if one does."""
        return self.channel_defaults.get(channel_id)


class Chosen(msgspec.Struct, frozen=True):
    """Mint in this registry; `by` says which rule chose it (for the audit and the reply)."""

    name: str
    by: Literal["named", "channel", "only"]


class Choose(msgspec.Struct, frozen=True):
    """Ask the user to click one of `names` (never empty, in catalogue order); `note` explains why, if needed."""

    names: tuple[str, ...]
    note: str = ""


class Refused(msgspec.Struct, frozen=True):
    """Nothing runs in any cluster; `message` is one sentence for the user, `detail` a stable word for the audit."""

    message: str
    detail: Literal["unknown", "not_eligible", "none_eligible"]


Choice = Chosen | Choose | Refused


def choose_registry(
    *, named: str | None, channel_id: str | None, eligible: Collection[str], catalogue: Catalogue
) -> Choice:
    """The registry a request goes to, a chooser, or a refusal, by the order in the module docstring."""
    usable = tuple(name for name in catalogue.names if name in eligible)
    if not usable:
        return Refused(NO_REGISTRY, "none_eligible")
    if named is not None:
        wanted = named.strip().lower()
        if wanted in usable:
            return Chosen(wanted, "named")
        detail: Literal["unknown", "not_eligible"] = "not_eligible" if wanted in catalogue.names else "unknown"
        return Refused(f"{shown_name(named)} is not a registry you may use; you may use {listed(usable)}.", detail)
    default = catalogue.channel_default(channel_id) if channel_id else None
    if default is None:
        return Chosen(usable[0], "only") if len(usable) == 1 else Choose(usable)
    if default in usable:
        return Chosen(default, "channel")
    # The channel's registry is not open to this user: ask, even with one left, rather than mint somewhere
    # the channel does not suggest.
    return Choose(usable, note=f"This channel's registry is {default}, which you may not use; choose one you may.")


def resolution_help(*, usable: Sequence[str], channel_default: str | None, command: str = "/rok-token") -> str:
    """The `/rok-token help` paragraph on registries, or "" when there is at most one to choose from."""
    if len(usable) <= 1 and channel_default is None:
        return ""
    example = usable[0] if usable else "NAME"
    here = f"this channel's ({channel_default})" if channel_default in usable else "this channel's, if you may use it"
    return (
        f"Registries you may use: {listed(usable, conjunction='and') if usable else 'none'}. "
        f"Name one (`{command} {example} 24h`, `{command} 24h {example}` or `--registry {example}`); "
        f"else the bot takes {here}; else your only one; else it asks you to choose, and mints nothing until you do."
    )


def shown_name(text: str) -> str:
    """A registry name as typed, quoted and made safe (see `typed_name`) to echo into Slack."""
    return f'"{typed_name(text)}"'


def typed_name(text: str) -> str:
    """A name as typed, lower-cased, bounded, every character outside a-z, 0-9 and '-' shown as '?'.

    What the parser keeps of an unknown name: it can reach a refusal, the audit and a log, never as markup.
    """
    cleaned = "".join(c if c in _NAME_CHARS else "?" for c in text.strip().lower()[: _SHOWN_LEN + 1])
    return cleaned[:_SHOWN_LEN] + "…" if len(cleaned) > _SHOWN_LEN else cleaned


def listed(names: Sequence[str], *, conjunction: str = "or") -> str:
    """`a`, `a or b`, `a, b or c`: names in a sentence."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


class RegistryOffer(msgspec.Struct, frozen=True):
    """A chooser: the registries to offer (name, title) and the request that waits for a click (not secret)."""

    choices: tuple[tuple[str, str], ...]  # (name, title), in catalogue order, only those the user may use
    note: str = ""  # why the user is asked (the channel's registry is not theirs), or ""
    seconds: int | None = None
    reason: str = ""
    break_glass: bool = False
