"""Several registries: the fleet of each registry's Ports, and the slash command's way to the right one.

The front end holds a `Fleet`. A request that names no registry by a stored fact (a slash command, a chooser's
click) goes through `request_token`: the one named, else the channel's, else the user's only eligible one,
else a chooser (`bot.domain.routing.choose_registry`), and only then `issue_token` with that registry's Ports.
With one registry nothing here asks anything: the request goes to it, exactly as before registries had names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import msgspec

from bot.domain.approvals import PendingRequest
from bot.domain.errors import AccessDenied, DurationError, LimitExceeded
from bot.domain.lifecycle import TokenForm
from bot.domain.models import HelpInfo, RequestContext
from bot.domain.registry_policy import Policies
from bot.domain.routing import CatalogueView, Choose, Chosen, RegistryOffer, choose_registry, resolution_help
from bot.domain.text import clean_text
from bot.runtime import metrics, tracing
from bot.runtime.jobs import Capacity
from bot.usecases.context import Facts, Ports, first_time, report_failure
from bot.usecases.home import help_for, open_token_form
from bot.usecases.issue import Issued, IssueRequest, issue_token

# What a chooser's button keeps of the reason (Slack's button value holds 2000 characters).
REASON_KEPT = 1000


def worker_share(workers: int, registries: int) -> int | None:
    """How many requests one registry may hold at once (queued for its exec slots or running): None with one
    registry (no cap, as before). With several, a registry that hangs may take every worker but a reserve kept
    for each other registry (an eighth of the workers each with two, at least one), so a healthy registry's
    burst is served whole and a hung one never starves the others."""
    if registries <= 1:
        return None
    reserve = max(1, workers // (2 * registries))
    return max(1, workers - (registries - 1) * reserve)


class Fleet(msgspec.Struct, frozen=True):
    """Every registry's Ports by name, in the catalogue's order, and where each channel's default points."""

    ports: Mapping[str, Ports]
    catalogue: CatalogueView
    titles: Mapping[str, str]
    # Requests each registry may hold at once (queued for its exec slots or running): a registry that hangs
    # takes every job worker but the reserve kept for the others (`worker_share`). Empty: no cap (one registry).
    gates: Mapping[str, Capacity] = msgspec.field(default_factory=dict)

    @classmethod
    def of(
        cls,
        ports: Mapping[str, Ports],
        *,
        channels: Mapping[str, str] | None = None,
        titles: Mapping[str, str] | None = None,
        share: int | None = None,
    ) -> Fleet:
        """A fleet of these Ports (file order), each told its peers; `channels`: channel ID -> registry name;
        `share`: the requests one registry may hold at once (None: no cap)."""
        peers: dict[str, Ports] = {}
        for name, p in ports.items():
            peers[name] = replace(p, registry=name, peers=peers)
        gates = {n: Capacity(share) for n in peers} if share is not None else {}
        titled = {n: (titles or {}).get(n, n) for n in peers}
        return cls(peers, CatalogueView(tuple(peers), dict(channels or {})), titled, gates)

    @classmethod
    def one(cls, p: Ports) -> Fleet:
        """The fleet of a single registry: what every path did before registries had names."""
        return cls({p.registry: p}, CatalogueView((p.registry,)), {p.registry: p.registry})

    @property
    def shared(self) -> Ports:
        """The first registry's Ports: for what every registry shares (directory, replies, audit, store)."""
        return next(iter(self.ports.values()))

    @property
    def single(self) -> bool:
        return len(self.ports) == 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.ports)

    def __getitem__(self, name: str) -> Ports:
        return self.ports[name]

    def policies(self) -> Policies:
        """Each registry's policy, for `may_use`."""
        return Policies(everywhere=self.shared.policy, by_registry={n: p.policy for n, p in self.ports.items()})

    def eligible(self, user_id: str, *, team_id: str | None = None) -> tuple[str, ...]:
        """The registries this user may use (their allowlists), with the user groups from the directory."""
        policies = self.policies()
        wanted = policies.group_ids
        groups = self.shared.directory.groups_of(user_id, wanted, team_id=team_id) if wanted else frozenset()
        return tuple(n for n in self.names if policies.may_use(n, user_id, groups))

    def ack_duration(self, text: str) -> int:
        """A command's duration at the ack (no I/O, the registry unknown yet): accepted when any registry's
        widest range takes it; else the first registry's refusal."""
        first: DurationError | None = None
        for p in self.ports.values():
            try:
                return p.policy.ack_duration(text)
            except DurationError as exc:
                first = first or exc
        assert first is not None
        raise first


class TokenAsk(msgspec.Struct, frozen=True):
    """A slash command (or a chooser's click) before its registry is known."""

    ctx: RequestContext
    channel_id: str | None
    named: str | None = None  # the registry typed, or clicked (untrusted: checked against eligibility)
    seconds: int | None = None
    reason: str = ""
    break_glass: bool = False
    note: str | None = None  # the form's reason, for the audit trail


@tracing.traced
def request_token(fleet: Fleet, ask: TokenAsk) -> Issued | PendingRequest | None:
    """Resolve the registry, then issue there; a chooser (nothing minted) or one refusal (audited, nothing run in
    any cluster) otherwise. A forged click naming a registry the user may not use is refused like a typed one."""
    ctx = ask.ctx
    if fleet.single and (ask.named is None or ask.named.strip().lower() == fleet.names[0]):
        return issue_token(fleet.shared, _issue_request(ask, ctx))
    p = fleet.shared
    if not first_time(p, ctx):
        return None
    facts = Facts(ctx, "issue", seconds=ask.seconds, registry=p.registry)
    try:
        # One registry named wrongly: refused naming it (its allowlist is the issue's to check, as before).
        eligible = fleet.names if fleet.single else fleet.eligible(ctx.user_id, team_id=ctx.team_id)
        choice = choose_registry(
            named=ask.named, channel_id=ask.channel_id, eligible=eligible, catalogue=fleet.catalogue
        )
        if isinstance(choice, Chosen):
            # The request's key was claimed above: the issue must not claim it again.
            return _issue_within_share(
                fleet, choice.name, _issue_request(ask, msgspec.structs.replace(ctx, once_key=None))
            )
        if isinstance(choice, Choose):
            offer = RegistryOffer(
                choices=tuple((n, fleet.titles.get(n, n)) for n in choice.names),
                note=choice.note,
                seconds=ask.seconds,
                reason=clean_text(ask.reason)[:REASON_KEPT],
                break_glass=ask.break_glass,
            )
            p.replies.chooser(ctx, offer)
            metrics.REQUESTS.labels("issue", "chooser", "").inc()
            return None
        # Audited under the registry asked for when it exists (someone tried prod), else under none.
        wanted = (ask.named or "").strip().lower()
        facts = facts.but(registry=wanted if wanted in fleet.ports else "")
        raise AccessDenied(choice.message, detail=f"registry: {choice.detail}")
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


@tracing.traced
def help_with_registries(fleet: Fleet, ctx: RequestContext, channel_id: str | None) -> HelpInfo | None:
    """`/rok-token help`: with several registries it also says which this user may use and how one is chosen
    (with one, exactly the help of before)."""
    if fleet.single:
        return help_for(fleet.shared, ctx)
    try:
        usable = fleet.eligible(ctx.user_id, team_id=ctx.team_id)
    except Exception as exc:
        report_failure(fleet.shared, Facts(ctx, "help", registry=fleet.shared.registry), exc)
        return None
    default = fleet.catalogue.channel_default(channel_id) if channel_id else None
    return help_for(fleet.shared, ctx, registries=resolution_help(usable=usable, channel_default=default))


@tracing.traced
def form_with_registries(fleet: Fleet, ctx: RequestContext, *, trigger: str) -> TokenForm | None:
    """The get-token form; with several registries the user may use, a select of those (of them only)."""
    choices: tuple[tuple[str, str], ...] = ()
    if not fleet.single:
        try:
            choices = tuple((n, fleet.titles.get(n, n)) for n in fleet.eligible(ctx.user_id, team_id=ctx.team_id))
        except Exception as exc:
            report_failure(fleet.shared, Facts(ctx, "form", registry=fleet.shared.registry), exc)
            return None
    return open_token_form(fleet.shared, ctx, trigger=trigger, registries=choices if len(choices) > 1 else ())


def _issue_within_share(fleet: Fleet, name: str, req: IssueRequest) -> Issued | PendingRequest | None:
    """Issue in `name` unless it already holds its share of the workers (it is slow or hangs): then one
    sentence naming it, at once, and the other registries keep their workers."""
    gate = fleet.gates.get(name)
    if gate is not None and not gate.try_enter():
        busy = LimitExceeded(
            f"Registry {name} is busy with many requests; try again in a minute.", detail="registry capacity"
        )
        report_failure(fleet[name], Facts(req.ctx, "issue", seconds=req.seconds, registry=name), busy)
        return None
    try:
        return issue_token(fleet[name], req)
    finally:
        if gate is not None:
            gate.leave()


def _issue_request(ask: TokenAsk, ctx: RequestContext) -> IssueRequest:
    return IssueRequest(ctx, ask.seconds, note=ask.note, reason=ask.reason, break_glass=ask.break_glass)
