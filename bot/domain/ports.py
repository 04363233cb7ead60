"""The small interfaces the engine needs from the outside world, and the values that cross them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain.models import VerifyResult
from bot.domain.secret import Token


@dataclass(frozen=True, slots=True)
class PodTarget:
    """The pod and container an exec goes to."""

    pod: str
    container: str


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a finished command left: its exit code and its two output streams, kept apart."""

    exit_code: int
    stdout: str
    stderr: str
    target: PodTarget
    seconds: float


class CommandRunner(Protocol):
    """Runs an argv list (never a shell) in the Rok Registry pod."""

    def resolve(self, *, fresh: bool = False) -> PodTarget: ...

    def forget(self, target: PodTarget) -> None: ...

    def run(self, argv: list[str], *, target: PodTarget | None = None) -> ExecResult: ...


class Verifier(Protocol):
    """Asks the registry about a token."""

    def verify(self, token: Token) -> VerifyResult: ...
