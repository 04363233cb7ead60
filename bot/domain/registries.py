"""The Rok registries one bot serves: the `ROK_BOT_REGISTRIES` file, validated at start, or one named `default`.

    registries:
      - name: prod                    # how people name it: /rok-token prod 24h
        title: Production
        url: https://rok.prod.example.com/registry
        kubeconfig: /etc/rok-token-bot/kube/prod/config
        context: prod
        channels: [C0PRODOPS]         # where it is the default
        policy: {limits: {max: 1d}}   # over the global policy (bot.domain.registry_policy)

Every refusal is one line that names the registry (by name, else by its place in the list) and the key, so an
admin fixes the file without guessing. Nothing here contacts a cluster: a kubeconfig is read only to check that it
names the context.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.command import HELP_WORDS, SUBCOMMANDS
from bot.domain.durations import parse_duration
from bot.domain.errors import DurationError
from bot.domain.identity import UserMapError, load_user_map
from bot.domain.patterns import DNS_LABEL, REGISTRY_NAME, SLACK_CHANNEL_ID
from bot.domain.registry_policy import PolicyOverrides
from bot.domain.urls import is_http_url, safe_url, sends_in_clear

# Words `/rok-token` reads as a subcommand, never as a registry.
RESERVED_NAMES: Final = HELP_WORDS | SUBCOMMANDS


class RegistryError(ValueError):
    """The registries file is unreadable or invalid; the message is one line naming the registry and the key."""


def _blank_is_none(value: object) -> object:
    """`container: ""`, as ROK_REGISTRY_CONTAINER= means unset: the same for every optional text or path."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_none)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]


PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def check_ca_bundle(path: Path) -> Path:
    """A CA bundle holds at least one PEM certificate. Checked at start by its marker (cheap): the registry's
    TLS context itself is made on the first Verify (bot/adapters/registry.py), and a file of another kind
    (DER, a key, the wrong file) must still stop the start with one line rather than fail the first Verify."""
    try:
        data = path.read_bytes()
    except OSError:
        raise ValueError(f"{str(path)[:120]} is not a readable file") from None
    if PEM_CERTIFICATE not in data:
        raise ValueError(f"{str(path)[:120]} holds no PEM certificate ({PEM_CERTIFICATE.decode()})")
    return path


class Registry(BaseModel):
    """One Rok registry installation: where its API is, how to reach its pod, and its own rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = Field(default="", max_length=60)  # shown to people; the name when unset
    url: str
    kubeconfig: OptionalPath = None
    context: OptionalText = None
    namespace: str = "rok-registry"
    service: str = "rok-registry"
    container: OptionalText = None
    ca_bundle: OptionalPath = None
    allow_http: bool = False
    max_concurrent_execs: int = Field(default=4, ge=1, le=64)
    channels: tuple[str, ...] = ()
    user_map: OptionalPath = None
    policy: PolicyOverrides = PolicyOverrides()

    @field_validator("channels", mode="before")
    @classmethod
    def _no_channels(cls, value: object) -> object:
        """`channels:` with nothing after it (YAML null): none, as when the key is left out."""
        return () if value is None else value

    @field_validator("policy", mode="before")
    @classmethod
    def _no_overrides(cls, value: object) -> object:
        """`policy:` with nothing after it: the global policy, as when the key is left out."""
        return {} if value is None else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        check_name(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _title_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not " ".join(str(data.get("title") or "").split()):
            return {**data, "title": data.get("name")}
        return data

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not is_http_url(value):
            raise ValueError(f"must be an http(s) URL, got {safe_url(value)[:60]!r}")
        return value

    @field_validator("namespace", "service")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(f"must be a Kubernetes name (DNS label), got {value[:60]!r}")
        return value

    @field_validator("kubeconfig", "ca_bundle", "user_map")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not _readable(value):
            raise ValueError(f"{str(value)[:120]} is not a readable file")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _pem(cls, value: Path | None) -> Path | None:
        return check_ca_bundle(value) if value is not None else None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for channel in value:
            if not SLACK_CHANNEL_ID.fullmatch(channel):
                raise ValueError(f"{channel[:30]!r} is not a Slack channel ID such as C0123ABCD (not a #name)")
        if len(set(value)) != len(value):
            raise ValueError("a channel appears twice")
        return value

    @model_validator(mode="after")
    def _over_tls(self) -> Registry:
        if sends_in_clear(self.url) and not self.allow_http:
            raise ValueError(
                f"url: {safe_url(self.url)[:80]} would send tokens in clear text; use https:// (or, for an "
                "in-cluster Service URL, set allow_http: true)"
            )
        return self


def check_name(name: str) -> None:
    """Refuse a name people could not type unambiguously in `/rok-token NAME 24h` (ValueError says why)."""
    if name.startswith("-"):
        raise ValueError(f"{name[:30]!r} starts with '-': it would read as a flag")
    if not REGISTRY_NAME.fullmatch(name):
        raise ValueError(f"{name[:30]!r} must be 1-20 characters a-z, 0-9 and '-'")
    if name.isdigit() or _is_duration(name):
        raise ValueError(f"{name!r} reads as a duration: choose a name such as prod or eu-1")
    if _is_duration(f"1 {name}"):  # `/rok-token 2 h` must never mean 2 hours at registry "h"
        raise ValueError(f"{name!r} reads as a unit of time: choose a name such as prod or eu-1")
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is a /rok-token subcommand: choose another name")


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


def _readable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.R_OK)


@dataclass(frozen=True)
class Registries:
    """The registries in the file's order; names and channels are unique (checked where they are loaded)."""

    items: tuple[Registry, ...]

    def __post_init__(self) -> None:
        if not self.items:
            raise RegistryError("registries: name at least one registry")
        names = self.names()
        if len(set(names)) != len(names):
            raise RegistryError("registries: a name appears twice")
        channels = [c for r in self.items for c in r.channels]
        if len(set(channels)) != len(channels):
            raise RegistryError("registries: a channel is claimed twice")

    def __iter__(self) -> Iterator[Registry]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, name: object) -> bool:
        return any(r.name == name for r in self.items)

    def __getitem__(self, name: str) -> Registry:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def get(self, name: str) -> Registry | None:
        """The registry of that name, if any (names are lower case: `Prod` finds `prod`)."""
        wanted = name.strip().lower()
        return next((r for r in self.items if r.name == wanted), None)

    def names(self) -> tuple[str, ...]:
        """Every name, in the file's order (what refusals and help list)."""
        return tuple(r.name for r in self.items)

    @property
    def single(self) -> bool:
        """Whether the bot serves one registry: then nobody ever names or chooses one."""
        return len(self.items) == 1

    def default_for(self, channel_id: str | None) -> Registry | None:
        """The channel's default: the registry that lists the channel, else the only one when there is one."""
        if self.single:
            return self.items[0]
        return next((r for r in self.items if channel_id and channel_id in r.channels), None)

    def overrides(self) -> dict[str, PolicyOverrides]:
        """Each registry's policy overrides, by name, for `bot.domain.registry_policy.build_policies`."""
        return {r.name: r.policy for r in self.items}


def load_user_maps(registries: Registries) -> dict[str, dict[str, str]]:
    """Each registry's own user map (Slack user ID -> Rok username), by name, for those that have one; a registry
    without one uses the global map and email rule. Read at start, like ROK_BOT_USER_MAP."""
    maps: dict[str, dict[str, str]] = {}
    for registry in registries:
        if registry.user_map is not None:
            try:
                maps[registry.name] = load_user_map(registry.user_map)
            except UserMapError as exc:
                raise RegistryError(f"registry {registry.name}: user_map: {exc}") from None
    return maps


def load_registries(path: Path, *, kubeconfig: str | None = None) -> Registries:
    """Read and validate the registries file; `kubeconfig` is KUBECONFIG, where a registry with a `context` and no
    `kubeconfig` of its own finds its context."""
    import yaml

    from bot.domain.yamlfile import safe_load

    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegistryError(f"cannot read {str(path)[:120]}: {type(exc).__name__}") from None
    return parse_registries(data, kubeconfig=kubeconfig)


def parse_registries(data: object, *, kubeconfig: str | None = None) -> Registries:
    """Validate a loaded registries document: `{registries: [...]}` and nothing else."""
    if not isinstance(data, Mapping) or set(data) != {"registries"}:
        raise RegistryError("the file must be a YAML mapping with one key, registries: a list of registries")
    entries = data["registries"]
    if not isinstance(entries, list) or not entries:
        raise RegistryError("registries: must be a list of one or more registries")
    found: list[Registry] = []
    claimed: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = _where(entry, index)
        registry = _one(entry, where)
        if (twin := next((r for r in found if r.name == registry.name), None)) is not None:
            raise RegistryError(
                f"{where}: name: {registry.name!r} is already the name of registries[{found.index(twin)}]"
            )
        for channel in registry.channels:
            if channel in claimed:
                raise RegistryError(
                    f"{where}: channels: {channel} is already the default of registry {claimed[channel]}"
                )
            claimed[channel] = registry.name
        _check_context(registry, where, kubeconfig)
        found.append(registry)
    return Registries(tuple(found))


def _where(entry: object, index: int) -> str:
    """How an error names a registry: by its name when that is a valid one, else by its place in the list."""
    name = entry.get("name") if isinstance(entry, Mapping) else None
    if isinstance(name, str):
        try:
            check_name(name)
        except ValueError:
            pass
        else:
            return f"registry {name}"
    return f"registries[{index}]"


def _one(entry: object, where: str) -> Registry:
    if not isinstance(entry, Mapping):
        raise RegistryError(f"{where}: must be a mapping with at least name and url")
    try:
        return Registry.model_validate(entry)
    except ValidationError as exc:
        raise RegistryError(f"{where}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    """`key: what is wrong` for the first error; a check across keys already names its key."""
    error = exc.errors(include_url=False, include_input=False)[0]
    key = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required but not set"
    elif error["type"] == "extra_forbidden":
        message = "unknown key"
        if len(error["loc"]) == 1:
            message += f" (known: {', '.join(Registry.model_fields)})"
    return f"{key}: {message}" if key else message


def _check_context(registry: Registry, where: str, kubeconfig: str | None) -> None:
    """A registry's kubeconfig must name its context (or have a current one); nothing contacts the cluster."""
    if registry.kubeconfig is not None:
        files, key = [registry.kubeconfig], "kubeconfig"
    elif registry.context is not None:
        files = [Path(p) for p in (kubeconfig or "").split(os.pathsep) if p and _readable(Path(p))]
        if not files:
            raise RegistryError(f"{where}: context: needs a kubeconfig: set kubeconfig (or KUBECONFIG)")
        key = "context"
    else:
        return  # in-cluster, else KUBECONFIG: as with one registry
    contexts, current = _contexts(files, where, key)
    if registry.context is None:
        if not current:
            raise RegistryError(f"{where}: kubeconfig: {_shown(files)} has no current-context: set context")
    elif registry.context not in contexts:
        known = ", ".join(sorted(contexts)[:10]) or "none"
        raise RegistryError(f"{where}: context: {_shown(files)} has no context {registry.context!r} (it has: {known})")


def _contexts(files: Sequence[Path], where: str, key: str) -> tuple[set[str], str]:
    """The context names the files define and the first current-context, as kubectl merges them."""
    import yaml

    from bot.domain.yamlfile import safe_load

    names: set[str] = set()
    current = ""
    for path in files:
        try:
            doc: Any = safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise RegistryError(f"{where}: {key}: cannot read {str(path)[:120]}: {type(exc).__name__}") from None
        if not isinstance(doc, Mapping):
            raise RegistryError(f"{where}: {key}: {str(path)[:120]} is not a kubeconfig (a YAML mapping)")
        for context in doc.get("contexts") or ():
            if isinstance(context, Mapping) and isinstance(context.get("name"), str):
                names.add(context["name"])
        current = current or str(doc.get("current-context") or "")
    return names, current


def _shown(files: Sequence[Path]) -> str:
    return str(files[0])[:120] if len(files) == 1 else "KUBECONFIG"
