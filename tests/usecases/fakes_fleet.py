"""Two registries, `prod` and `staging`, on the in-memory fakes: one minter, quota and approvals board each,
everything else (directory, replies, audit, sealer, ledger, pending requests) shared, as `serve` wires them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.adapters.quota import LedgerQuota
from bot.domain.ledger import QuotaRule
from bot.domain.models import RequestContext
from bot.domain.registry_policy import PolicyOverrides, build_policies
from bot.usecases import Fleet, Ports, TokenAsk, request_token
from tests.usecases.fakes import FakeBoard, FakeMinter
from tests.usecases.fakes_lifecycle import LifeWorld, life_world

NAMES = ("prod", "staging")
PROD_CHANNEL = "C0PRODOPS"
GLOBAL: dict[str, Any] = {"quota": {"per_hour": 100, "cooldown": 0}}


@dataclass
class FleetWorld:
    """The fleet and, by registry name, the fakes that differ."""

    life: LifeWorld
    fleet: Fleet
    engines: dict[str, FakeMinter]
    boards: dict[str, FakeBoard]

    @property
    def shared(self) -> Ports:
        return self.fleet.shared

    def ctx(self, user_id: str = "U0JDOE", request_id: str = "r1", *, once_key: str | None = None) -> RequestContext:
        return self.life.base.ctx(user_id, request_id, once_key=once_key)

    def ask(
        self,
        named: str | None = None,
        *,
        channel: str | None = None,
        user: str = "U0JDOE",
        rid: str = "r1",
        **kw: Any,
    ) -> object:
        """A slash command (or a chooser's click when `named`), resolved and issued."""
        ctx = self.ctx(user, rid, once_key=f"key-{rid}")
        return request_token(self.fleet, TokenAsk(ctx, channel, named=named, **{"seconds": 3600, **kw}))

    def minted(self) -> dict[str, int]:
        return {name: len(engine.minted) for name, engine in self.engines.items()}


def fleet_world(
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    policy: dict[str, Any] | None = None,
    share: int | None = None,
) -> FleetWorld:
    """prod (the default of #prodops, titled Production) and staging, each with its own policy overrides."""
    document = policy or GLOBAL
    life = life_world(policy=document)
    policies = build_policies(
        document,
        {name: PolicyOverrides.model_validate((overrides or {}).get(name, {})) for name in NAMES},
        default=86400,
        minimum=300,
        maximum=7 * 86400,
        allow_guests=False,
    )
    engines: dict[str, FakeMinter] = {}
    boards: dict[str, FakeBoard] = {}
    ports: dict[str, Ports] = {}
    for name in NAMES:
        engine = FakeMinter(clock=life.base.clock, prefix=name)
        engine.add("jdoe")
        board = FakeBoard()
        rule_of = policies.policy_for(name)
        quota = LedgerQuota(
            ledger=life.ledger,
            rule=QuotaRule(rule_of.per_hour, rule_of.cooldown),
            clock=life.base.clock,
            retries=life.retries,
            registry=name,
        )
        engines[name], boards[name] = engine, board
        ports[name] = replace(
            life.ports, engine=engine, policy=rule_of, quota=quota, board=board, alarm=board, registry=name
        )
    fleet = Fleet.of(ports, channels={PROD_CHANNEL: "prod"}, titles={"prod": "Production"}, share=share)
    life.base.ports = fleet.shared
    return FleetWorld(life, fleet, engines, boards)
