"""The composition root: builds the real adapters from settings. Tests wire fakes through the same code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import logs
from bot.domain.secret import Token
from bot.settings import Settings

if TYPE_CHECKING:  # the adapters import heavy clients: load them only when an engine is built
    from bot.adapters.kube import KubeExecutor
    from bot.adapters.registry import RegistryClient
    from bot.service import TokenService


# Masked a while past its expiry too: the registry's clock and ours may differ.
PROTECT_GRACE_SECONDS = 600


def protect_token(token: Token, until: datetime) -> None:
    """Mask this token in every log line of the process until shortly after `until`."""
    logs.protect(token.reveal(), until=until.timestamp() + PROTECT_GRACE_SECONDS)


@dataclass
class Engine:
    """The token engine and the adapters behind it."""

    service: TokenService
    executor: KubeExecutor
    registry: RegistryClient

    def close(self) -> None:
        self.registry.close()


def build_engine(settings: Settings, *, bounds: tuple[int, int] | None = None) -> Engine:
    """Wire the Kubernetes executor, the registry client and the service from settings.

    `bounds` widens the engine's hard duration range to a policy's (e.g. admins up to 30d).
    """
    import websocket

    from bot.adapters.kube import KubeExecutor, build_configuration
    from bot.adapters.registry import RegistryClient
    from bot.service import TokenService

    # The exec WebSocket's connect and reads use websocket-client's default timeout: bound them too.
    websocket.setdefaulttimeout(float(settings.exec_timeout))
    executor = KubeExecutor(
        configuration=build_configuration(settings.kubeconfig),
        namespace=settings.namespace,
        service=settings.service,
        container=settings.container,
        timeout=float(settings.exec_timeout),
        output_limit=settings.exec_output_limit,
    )
    registry = RegistryClient(registry_url=settings.registry_url, ca_bundle=settings.ca_bundle)
    service = TokenService(
        runner=executor,
        verifier=registry,
        account_list_argv=settings.account_list_command,
        token_create_argv=settings.token_create_command,
        min_seconds=bounds[0] if bounds else settings.min_duration,
        max_seconds=bounds[1] if bounds else settings.max_duration,
        cache_ttl=float(settings.account_cache_ttl),
        max_concurrent_execs=settings.max_concurrent_execs,
        protect=protect_token,
    )
    return Engine(service=service, executor=executor, registry=registry)
