"""The engine end to end: TokenEngine -> KubeExecutor -> the official client -> FakeKube -> FakeRok.

No patching: the real adapters talk to the fakes over loopback, and the assertions read what the fakes
recorded (each exec's argv, pod, container and protocol; each minted token).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.registry import RegistryClient
from bot.bootstrap import Engine
from bot.domain.errors import (
    AccessDenied,
    AmbiguousAccountError,
    CommandFailed,
    EmailMappingRefused,
    ExecError,
    ExecStartError,
    ExecTimeout,
    NoAccountError,
    OutputParseError,
    PodResolutionError,
    RokBotError,
    UsageError,
)
from bot.domain.identity import Identity, IdentityResolver, Workspace
from bot.domain.models import IssuedToken, Verdict
from bot.domain.ports import PodTarget
from bot.domain.secret import Token
from bot.runtime.clock import ManualClock, SystemClock
from bot.usecases import TokenEngine
from sandbox.kube import V4_PROTOCOL, V5_PROTOCOL
from tests.fakes import FakeAccount, FakeKube, FakePod, FakeRegistry, FakeRok, generate_accounts

EXE = "rok-fort-manage"
# The email rule lives with identity now: the helper applies it as the issue use case does.
RESOLVER = IdentityResolver(
    user_map={}, email_domains=["example.com"], allow_guests=False, workspace=Workspace("T0"), support_contact="#help"
)


def issue(engine: Engine, username: str, seconds: int, *, email: str | None = None) -> IssuedToken:
    """What the use case does around the engine: the account, the email rule for email-mapped users, the mint."""
    account = engine.engine.account(username)
    if email is not None:
        RESOLVER.check_account(Identity("U0TEST", username, "email", email=email), account)
    return engine.engine.mint(account, seconds=seconds)


HOUR = 3600


def commands(kube: FakeKube) -> list[str]:
    """The subcommand of every exec the fake cluster ran, in order."""
    return [record.argv[1] for record in kube.execs]


def exec_attempts(kube: FakeKube) -> int:
    """Exec requests that reached the API server, including those refused before the upgrade."""
    return sum(path.endswith("/exec") for _, path in kube.requests)


def assert_no_token(exc: BaseException, rok: FakeRok) -> None:
    """No minted token shows in the error's message, detail or repr."""
    texts = [str(exc), repr(exc), getattr(exc, "user_message", ""), getattr(exc, "detail", "")]
    for record in rok.minted:
        for text in texts:
            assert record.token not in text


def warm(engine: Engine, kube: FakeKube) -> None:
    """Load the account table and the pod, then forget what the fake recorded so far."""
    engine.engine.account_table()
    kube.reset_records()


# --- accounts and argv ---------------------------------------------------------------------------


def test_exact_username_match_the_substring_trap(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    issued = {name: issue(engine, name, HOUR) for name in ("jdoe", "jdoe2", "ajdoe")}
    for name, token in issued.items():
        assert token.account_uuid == rok.account(name).uuid
        assert token.username == name
    assert len({t.account_uuid for t in issued.values()}) == 3
    creates = [r.argv for r in kube.execs if r.argv[1] == "token-create"]
    assert [argv[3] for argv in creates] == [rok.account(n).uuid for n in ("jdoe", "jdoe2", "ajdoe")]
    assert [(m.username, m.token) for m in rok.minted] == [(n, issued[n].token.reveal()) for n in issued]

    kube.reset_records()
    for near_miss in ("jdo", "doe", "JDOE", "jdoe3"):
        with pytest.raises(NoAccountError) as err:
            issue(engine, near_miss, HOUR)
        assert err.value.user_message == "There is no Rok Registry account with that username."
    assert kube.execs == []  # a fresh table is not reloaded for a miss
    assert len(rok.minted) == 3


@pytest.mark.parametrize("username", ["", "jdoe jdoe2", "jdoe;id", "-jdoe", "--user", "x" * 200, "jdoe\n"])
def test_malformed_usernames_never_reach_the_pod(engine: Engine, kube: FakeKube, username: str) -> None:
    with pytest.raises(UsageError):
        issue(engine, username, HOUR)
    assert kube.execs == []


def test_several_accounts_with_one_username_is_an_error(engine: Engine, rok: FakeRok) -> None:
    rok.accounts.append(FakeAccount(uuid="5e1e63c4-5d0c-4b3e-8f43-9a0d6bb7d5a1", username="bob", email="b@x"))
    with pytest.raises(AmbiguousAccountError):
        issue(engine, "bob", HOUR)
    assert rok.minted == []


def test_an_email_mapped_issue_needs_the_accounts_email_when_account_list_shows_one(
    engine: Engine, kube: FakeKube, rok: FakeRok
) -> None:
    warm(engine, kube)
    issued = issue(engine, "bob", HOUR, email="Bob@Example.com")  # case-insensitive
    assert issued.username == "bob"
    kube.reset_records()
    with pytest.raises(EmailMappingRefused) as refused:
        issue(engine, "carol", HOUR, email="carol@elsewhere.test")
    assert isinstance(refused.value, AccessDenied)  # audited as a refusal
    assert "user map" in refused.value.user_message
    assert kube.execs == [] and [m.username for m in rok.minted] == ["bob"]
    # Mapped by the user map (no email given): the account's email is not compared.
    assert issue(engine, "carol", HOUR).username == "carol"


def test_an_account_with_an_empty_email_cell_matches_no_email(engine: Engine, rok: FakeRok) -> None:
    rok.account("carol").email = ""
    with pytest.raises(EmailMappingRefused):
        issue(engine, "carol", HOUR, email="carol@example.com")
    assert rok.minted == []


def test_without_an_email_column_the_email_is_not_compared(engine: Engine, rok: FakeRok) -> None:
    rok.account_list_email = False
    assert issue(engine, "carol", HOUR, email="carol@elsewhere.test").username == "carol"


def test_upper_case_uuids_in_the_output_are_read_in_lower_case(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    rok.upper_case_uuids = True
    jdoe = rok.account("jdoe").uuid
    assert jdoe.upper() in rok.execute([EXE, "account-list"]).stdout  # the fault is on
    issued = issue(engine, "jdoe", HOUR)
    [minted] = rok.minted
    assert issued.account_uuid == jdoe  # the canonical, lower-case form
    assert issued.token_uuid == minted.token_uuid
    assert [r.argv[3] for r in kube.execs if r.argv[1] == "token-create"] == [jdoe]


def test_bordered_account_list_is_read_too(engine: Engine, rok: FakeRok) -> None:
    rok.bordered_account_list = True
    assert issue(engine, "carol", HOUR).account_uuid == rok.account("carol").uuid


def test_argv_is_the_template_with_single_items(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    issued = issue(engine, "alice", 5400)
    assert [r.argv for r in kube.execs] == [
        [EXE, "account-list"],
        [EXE, "token-create", "--user", rok.account("alice").uuid, "--duration", "5400", "--no-borders"],
    ]
    assert [(r.pod, r.container, r.protocol) for r in kube.execs] == [
        ("rok-registry-0", "rok-registry", V5_PROTOCOL)
    ] * 2
    [minted] = rok.minted
    assert issued.token.reveal() == minted.token
    assert issued.token_uuid == minted.token_uuid
    assert issued.expires_at == minted.expires_at
    assert issued.duration_seconds == 5400


def test_custom_template_substitutes_inside_one_item(
    make_engine: Callable[..., Engine], kube: FakeKube, rok: FakeRok
) -> None:
    engine = make_engine(
        ROK_BOT_TOKEN_CREATE_COMMAND='["rok-fort-manage", "token-create", "--user={uuid}", "--duration={seconds}"]'
    )
    issue(engine, "bob", 600)
    assert kube.execs[-1].argv == [EXE, "token-create", f"--user={rok.account('bob').uuid}", "--duration=600"]
    assert len(rok.minted) == 1  # the fake's parser accepted the `--opt=value` form and bordered output


# --- cache ---------------------------------------------------------------------------------------


def test_warm_cache_costs_exactly_one_exec(engine: Engine, kube: FakeKube) -> None:
    issue(engine, "jdoe", HOUR)
    kube.reset_records()
    issue(engine, "jdoe2", HOUR)
    assert commands(kube) == ["token-create"]
    assert exec_attempts(kube) == 1
    assert len(kube.requests) == 1  # the pod is cached too: no Service or pod reads


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def timed_engine(engine: Engine, settings: object, clock: ManualClock) -> TokenEngine:
    """A TokenEngine on the real adapters with a clock the test moves: TTL 300 s, miss refresh after 10 s."""
    return TokenEngine(
        runner=engine.executor,
        verifier=engine.registry,
        account_list_argv=[EXE, "account-list"],
        token_create_argv=[EXE, "token-create", "--user", "{uuid}", "--duration", "{seconds}", "--no-borders"],
        cache_ttl=300,
        max_concurrent_execs=4,
        miss_refresh_after=10,
        clock=clock,
    )


def test_cache_ttl_expiry_reloads(timed_engine: TokenEngine, kube: FakeKube, clock: ManualClock) -> None:
    timed_engine.mint(timed_engine.account("jdoe"), seconds=HOUR)
    clock.advance(299)
    timed_engine.mint(timed_engine.account("jdoe"), seconds=HOUR)
    assert commands(kube) == ["account-list", "token-create", "token-create"]
    clock.advance(2)
    timed_engine.mint(timed_engine.account("jdoe"), seconds=HOUR)
    assert commands(kube) == ["account-list", "token-create", "token-create", "account-list", "token-create"]


def test_a_miss_refreshes_at_most_once(
    timed_engine: TokenEngine, kube: FakeKube, rok: FakeRok, clock: ManualClock
) -> None:
    timed_engine.mint(timed_engine.account("jdoe"), seconds=HOUR)
    newcomer = FakeAccount(uuid="7d3f3c1e-2b2a-4a57-9a55-2d4f7a1c9e10", username="newcomer", email="n@x")
    rok.accounts.append(newcomer)

    clock.advance(5)  # the table is fresh: a miss is a miss, no reload
    with pytest.raises(NoAccountError):
        timed_engine.mint(timed_engine.account("newcomer"), seconds=HOUR)
    assert commands(kube).count("account-list") == 1

    clock.advance(60)  # older than the miss threshold: one reload finds the new account
    assert timed_engine.mint(timed_engine.account("newcomer"), seconds=HOUR).account_uuid == newcomer.uuid
    assert commands(kube).count("account-list") == 2

    clock.advance(60)  # an unknown name reloads once, not in a loop
    with pytest.raises(NoAccountError):
        timed_engine.mint(timed_engine.account("nobody"), seconds=HOUR)
    assert commands(kube).count("account-list") == 3
    with pytest.raises(NoAccountError):
        timed_engine.mint(timed_engine.account("nobody"), seconds=HOUR)
    assert commands(kube).count("account-list") == 3


def test_a_failed_load_is_not_cached(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    rok.fault = "exit"
    with pytest.raises(CommandFailed) as err:
        issue(engine, "jdoe", HOUR)
    assert err.value.exit_code == 3
    assert commands(kube) == ["account-list"]  # a non-zero exit is not retried
    rok.fault = None
    issue(engine, "jdoe", HOUR)
    assert commands(kube) == ["account-list", "account-list", "token-create"]


# --- concurrency ---------------------------------------------------------------------------------


def test_burst_single_flight_bounded_execs_and_rest_interleaved(
    make_engine: Callable[..., Engine], kube: FakeKube, rok: FakeRok
) -> None:
    engine = make_engine(ROK_BOT_MAX_CONCURRENT_EXECS="4")
    rok.latency = 0.05
    kube.pods.append(FakePod(name="rok-registry-1", ready_since=datetime.now(UTC) + timedelta(seconds=5)))
    names = [a.username for a in rok.accounts]
    wanted = [names[i % len(names)] for i in range(50)]
    random.Random(7).shuffle(wanted)
    issued: dict[int, IssuedToken] = {}
    resolved: list[PodTarget] = []
    errors: list[BaseException] = []
    start = threading.Barrier(50 + 4)

    def mint(i: int) -> None:
        start.wait()
        try:
            issued[i] = issue(engine, wanted[i], HOUR)
        except BaseException as exc:
            errors.append(exc)

    def resolve() -> None:
        # REST reads on the executor's shared client while execs run on their own clients.
        start.wait()
        try:
            for _ in range(5):
                resolved.append(engine.executor.resolve(fresh=True))
                time.sleep(0.02)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=mint, args=(i,)) for i in range(50)]
    threads += [threading.Thread(target=resolve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert commands(kube).count("account-list") == 1
    assert commands(kube).count("token-create") == 50
    assert 2 <= kube.max_concurrent_execs <= 4
    assert kube.current_execs == 0
    assert len(resolved) == 20 and {t.pod for t in resolved} == {"rok-registry-0"}
    assert sum(path.endswith("/pods") for _, path in kube.requests) >= 20
    assert len(issued) == 50
    for i, token in issued.items():
        assert token.username == wanted[i]
        assert token.account_uuid == rok.account(wanted[i]).uuid
    assert {t.token.reveal() for t in issued.values()} == {m.token for m in rok.minted}


# --- pod resolution ------------------------------------------------------------------------------


@pytest.fixture
def named(rok: FakeRok, tmp_path: Path) -> Iterator[FakeKube]:
    """A cluster whose namespace and Service differ from the defaults, so messages must name them."""
    server = FakeKube(rok, namespace="rok-system", service="registry-api").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def named_engine(make_engine: Callable[..., Engine], named: FakeKube, tmp_path: Path) -> Engine:
    return make_engine(
        KUBECONFIG=str(named.write_kubeconfig(tmp_path / "named-kubeconfig")),
        ROK_REGISTRY_NAMESPACE="rok-system",
        ROK_REGISTRY_SERVICE="registry-api",
    )


def _no_selector(k: FakeKube) -> None:
    k.service_selector = None


def _no_service(k: FakeKube) -> None:
    k.service_exists = False


def _no_pods(k: FakeKube) -> None:
    k.pods.clear()


def _none_ready(k: FakeKube) -> None:
    k.pods[0].ready = False
    k.pods.append(FakePod(name="rok-registry-1", deleting=True))
    k.pods.append(FakePod(name="rok-registry-2", phase="Pending"))
    k.pods.append(FakePod(name="other-0", labels={"app": "other"}))  # ready, but not behind the Service


@pytest.mark.parametrize("stage", [_no_selector, _no_service, _no_pods, _none_ready])
def test_resolution_errors_name_the_namespace_and_service(
    named_engine: Engine, named: FakeKube, rok: FakeRok, stage: Callable[[FakeKube], None]
) -> None:
    stage(named)
    with pytest.raises(PodResolutionError) as err:
        issue(named_engine, "jdoe", HOUR)
    said = f"{err.value.user_message} {err.value.detail}"
    assert "rok-system" in said and "registry-api" in said
    assert named.execs == [] and rok.minted == []


def test_prefers_the_pod_ready_longest(named_engine: Engine, named: FakeKube) -> None:
    now = datetime.now(UTC)
    named.pods = [
        FakePod(name="young", ready_since=now - timedelta(minutes=1)),
        FakePod(name="oldest-but-deleting", ready_since=now - timedelta(days=3), deleting=True),
        FakePod(name="old-but-unready", ready_since=now - timedelta(days=2), ready=False),
        FakePod(name="oldest-ready", ready_since=now - timedelta(hours=5)),
        FakePod(name="middle", ready_since=now - timedelta(hours=1)),
    ]
    assert named_engine.executor.resolve(fresh=True) == PodTarget("oldest-ready", "rok-registry")
    issue(named_engine, "jdoe", HOUR)
    assert {r.pod for r in named.execs} == {"oldest-ready"}


@pytest.mark.parametrize(
    ("containers", "annotation", "configured", "chosen"),
    [
        (["sidecar", "rok-registry"], "rok-registry", None, "rok-registry"),
        (["sidecar", "rok-registry", "api"], "rok-registry", "api", "rok-registry"),  # annotation first
        (["sidecar", "api"], None, "api", "api"),
        (["sidecar", "api"], "gone", "api", "api"),  # an annotation naming no container is ignored
        (["first", "second"], None, None, "first"),
        (["first", "second"], None, "missing", "first"),
    ],
)
def test_container_choice(
    make_engine: Callable[..., Engine],
    kube: FakeKube,
    containers: list[str],
    annotation: str | None,
    configured: str | None,
    chosen: str,
) -> None:
    engine = make_engine(**({"ROK_REGISTRY_CONTAINER": configured} if configured else {}))
    kube.pods[0].containers = containers
    kube.pods[0].annotations = {"kubectl.kubernetes.io/default-container": annotation} if annotation else {}
    assert engine.executor.resolve(fresh=True).container == chosen
    issue(engine, "jdoe", HOUR)
    assert {r.container for r in kube.execs} == {chosen}


# --- exec faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [("garbage", OutputParseError), ("empty", OutputParseError), ("two-tokens", OutputParseError)],
)
def test_unreadable_output_never_yields_a_token(
    engine: Engine, kube: FakeKube, rok: FakeRok, fault: str, error: type[RokBotError]
) -> None:
    warm(engine, kube)
    rok.fault = fault
    with pytest.raises(error) as err:
        issue(engine, "jdoe", HOUR)
    assert type(err.value) is error
    assert commands(kube) == ["token-create"]
    assert_no_token(err.value, rok)


def test_garbage_account_list(engine: Engine, rok: FakeRok) -> None:
    rok.fault = "garbage"
    with pytest.raises(OutputParseError):
        issue(engine, "jdoe", HOUR)


def test_non_zero_exit_is_command_failed_with_the_code(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    warm(engine, kube)
    rok.fault = "exit"
    with pytest.raises(CommandFailed) as err:
        issue(engine, "jdoe", HOUR)
    assert err.value.exit_code == 3
    assert "token-create exited 3" in err.value.detail
    assert "cannot connect to the Rok database" in err.value.detail  # stderr, kept apart from stdout
    assert commands(kube) == ["token-create"]


def test_missing_executable_is_command_failed(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    warm(engine, kube)
    rok.fault = "not-found"
    with pytest.raises(CommandFailed) as err:
        issue(engine, "jdoe", HOUR)
    assert "executable file not found" in err.value.detail
    assert commands(kube) == ["token-create"]
    assert rok.minted == []


def test_hang_is_bounded_by_the_exec_timeout(make_engine: Callable[..., Engine], kube: FakeKube, rok: FakeRok) -> None:
    engine = make_engine(ROK_BOT_EXEC_TIMEOUT="1s")
    warm(engine, kube)
    kube.exec_fault = "hang"
    with pytest.raises(ExecTimeout) as err:
        issue(engine, "jdoe", HOUR)
    assert "ran past 1s" in err.value.detail
    assert commands(kube) == ["token-create"]  # a timeout is never retried: it may have minted


def test_a_frame_dripped_past_the_exec_timeout_is_an_exec_timeout(
    make_engine: Callable[..., Engine], kube: FakeKube, rok: FakeRok
) -> None:
    # One byte every 100 ms: each read is far inside the 1 s socket timeout, the whole frame is not. The
    # fake cuts the drip after 4 s: a client that waited for the frame that long ends in a plain ExecError.
    engine = make_engine(ROK_BOT_EXEC_TIMEOUT="1s", ROK_BOT_MAX_CONCURRENT_EXECS="1")
    warm(engine, kube)
    kube.exec_fault = "drip"
    kube.drip_interval, kube.drip_cap = 0.1, 4.0
    with pytest.raises(ExecTimeout) as err:
        issue(engine, "jdoe", HOUR)
    assert "ran past 1s" in err.value.detail
    assert commands(kube) == ["token-create"]  # a timeout is never retried: it may have minted
    assert len(rok.minted) == 1
    with pytest.raises(ExecTimeout):
        engine.executor.run([EXE, "account-list"])
    # The one exec slot is free again.
    kube.exec_fault = None
    assert issue(engine, "jdoe", HOUR).username == "jdoe"


def test_http500_is_exec_start_error_retried_once(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    warm(engine, kube)
    kube.exec_fault = "http500"
    kube.exec_fault_commands = {"token-create"}
    with pytest.raises(ExecStartError) as err:
        issue(engine, "jdoe", HOUR)
    assert "500" in err.value.detail
    assert "-+-+-" not in err.value.detail  # websocket-client's dump of the response headers is cut
    assert exec_attempts(kube) == 2 and kube.execs == [] and rok.minted == []


def test_exec_into_a_pod_that_is_gone_is_exec_start_error(engine: Engine, kube: FakeKube) -> None:
    with pytest.raises(ExecStartError) as err:
        engine.executor.run([EXE, "account-list"], target=PodTarget("rok-registry-9", "rok-registry"))
    assert "rok-registry-9" in err.value.detail and "404" in err.value.detail
    assert kube.execs == []


def test_pod_gone_without_replacement(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    warm(engine, kube)
    kube.pods.clear()
    with pytest.raises(PodResolutionError) as err:  # the retry re-resolves and finds nothing
        issue(engine, "jdoe", HOUR)
    assert "rok-registry" in err.value.detail
    assert exec_attempts(kube) == 1 and rok.minted == []


def test_pod_removed_after_resolution_is_retried_on_a_fresh_pod(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    warm(engine, kube)
    kube.pods = [FakePod(name="rok-registry-1")]
    issued = issue(engine, "jdoe", HOUR)
    assert [(r.pod, r.argv[1]) for r in kube.execs] == [("rok-registry-1", "token-create")]
    assert exec_attempts(kube) == 2
    assert [m.token for m in rok.minted] == [issued.token.reveal()]
    kube.reset_records()
    issue(engine, "jdoe", HOUR)  # the new pod is now the cached one
    assert [(r.pod, r.argv[1]) for r in kube.execs] == [("rok-registry-1", "token-create")]
    assert exec_attempts(kube) == 1


@pytest.mark.parametrize("fault", ["drop", "restart"])
def test_a_token_create_cut_mid_exec_is_not_retried(engine: Engine, kube: FakeKube, rok: FakeRok, fault: str) -> None:
    warm(engine, kube)
    kube.pods.append(FakePod(name="rok-registry-1"))  # a retry would have somewhere to go
    kube.exec_fault = fault
    with pytest.raises(ExecError) as err:
        issue(engine, "jdoe", HOUR)
    assert type(err.value) is ExecError
    assert "dropped" in err.value.user_message
    assert commands(kube) == ["token-create"]
    assert len(rok.minted) == (1 if fault == "restart" else 0)
    assert_no_token(err.value, rok)


def test_account_list_dropped_is_retried_once(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    kube.exec_fault = "drop"
    kube.exec_fault_commands = {"account-list"}
    with pytest.raises(ExecError):
        issue(engine, "jdoe", HOUR)
    assert commands(kube) == ["account-list", "account-list"]
    assert rok.minted == []


def test_v4_protocol(engine: Engine, kube: FakeKube, rok: FakeRok) -> None:
    kube.force_protocol = V4_PROTOCOL
    issued = issue(engine, "jdoe2", HOUR)
    assert issued.token.reveal() == rok.minted[0].token
    assert [r.protocol for r in kube.execs] == [V4_PROTOCOL, V4_PROTOCOL]
    rok.fault = "exit"
    with pytest.raises(CommandFailed) as err:
        issue(engine, "jdoe2", HOUR)
    assert err.value.exit_code == 3


def test_output_over_the_limit_is_refused(make_engine: Callable[..., Engine], kube: FakeKube, rok: FakeRok) -> None:
    engine = make_engine(ROK_BOT_EXEC_OUTPUT_LIMIT="4096")
    rok.accounts += generate_accounts(200)
    with pytest.raises(ExecError) as err:
        issue(engine, "jdoe", HOUR)
    assert "more than 4096 bytes" in err.value.detail
    assert "token-create" not in commands(kube) and rok.minted == []
    assert commands(kube).count("account-list") == 1  # a too-big table is not asked for twice
    rok.accounts = rok.accounts[:6]
    issue(engine, "jdoe", HOUR)  # the limit is on output, not on the engine


# --- verify --------------------------------------------------------------------------------------


def test_verify_valid_expired_and_malformed(engine: Engine, rok: FakeRok, registry: FakeRegistry) -> None:
    issued = issue(engine, "jdoe", HOUR)
    result = engine.engine.verify(issued.token)
    assert result.verdict is Verdict.VALID and result.ok
    assert result.token_uuid == issued.token_uuid
    assert result.expires_at == rok.minted[0].expires_at
    assert result.created_at is not None and result.created_at <= datetime.now(UTC)
    assert isinstance(result.user, dict) and result.user["username"] == "jdoe"

    rok.expire(issued.token.reveal())
    expired = engine.engine.verify(issued.token)
    assert expired.verdict is Verdict.REJECTED
    assert "expired or malformed" in expired.message

    assert engine.engine.verify(Token("not-a-token-at-all-0123456789")).verdict is Verdict.REJECTED
    assert registry.requests == 3
    for verdict in (result, expired):
        assert issued.token.reveal() not in f"{verdict!r} {verdict.message}"


@pytest.mark.parametrize("fault", ["http500", "drop"])
def test_verify_registry_faults_are_unreachable(
    engine: Engine, rok: FakeRok, registry: FakeRegistry, fault: str
) -> None:
    token = issue(engine, "jdoe", HOUR).token
    registry.fault = fault
    result = engine.engine.verify(token)
    assert result.verdict is Verdict.UNREACHABLE and not result.ok
    assert token.reveal() not in f"{result!r} {result.message}"


def test_verify_hang_is_bounded(registry: FakeRegistry, rok: FakeRok) -> None:
    registry.fault = "hang"
    client = RegistryClient(registry_url=registry.url, timeout=0.5)
    try:
        result = client.verify(Token(rok.mint(rok.account("bob").uuid, 60)))
    finally:
        client.close()
    assert result.verdict is Verdict.UNREACHABLE
    assert "in time" in result.message


def test_verify_registry_down(engine: Engine, registry: FakeRegistry) -> None:
    registry.stop()
    result = engine.engine.verify(Token("not-a-token-at-all-0123456789"))
    assert result.verdict is Verdict.UNREACHABLE


def test_issued_token_repr_hides_the_token(engine: Engine, rok: FakeRok) -> None:
    issued = issue(engine, "jdoe", HOUR)
    secret = rok.minted[0].token
    assert secret not in repr(issued) and secret not in str(issued) and secret not in f"{issued.token}"


def test_api_server_gone_mid_exec_is_exec_error(
    make_engine: Callable[..., Engine], kube: FakeKube, rok: FakeRok
) -> None:
    engine = make_engine(ROK_BOT_EXEC_TIMEOUT="5s")
    warm(engine, kube)
    kube.exec_fault = "hang"
    stopper = threading.Timer(0.3, kube.stop)
    stopper.start()
    try:
        with pytest.raises(ExecError) as err:  # not a raw websocket exception
            issue(engine, "jdoe", HOUR)
    finally:
        stopper.join()
    assert type(err.value) is ExecError
    assert "dropped" in err.value.user_message


def test_each_minted_or_verified_token_is_handed_to_protect(engine: Engine, rok: FakeRok) -> None:
    """The log redactor's hook: called with the token as soon as token-create's output is parsed."""
    protected: list[tuple[Token, datetime, int]] = []
    service = TokenEngine(
        runner=engine.executor,
        verifier=engine.registry,
        account_list_argv=[EXE, "account-list"],
        token_create_argv=[EXE, "token-create", "--user", "{uuid}", "--duration", "{seconds}", "--no-borders"],
        cache_ttl=300,
        max_concurrent_execs=4,
        protect=lambda token, until: protected.append((token, until, len(rok.minted))),
        clock=SystemClock(),
    )
    issued = service.mint(service.account("jdoe"), seconds=HOUR)
    [(token, until, minted)] = protected
    assert token == issued.token and until >= issued.expires_at and minted == 1
    assert service.verify(issued.token).verdict is Verdict.VALID
    assert protected[-1][0] == issued.token and protected[-1][1] > datetime.now(UTC)
    rok.fault = "garbage"
    with pytest.raises(OutputParseError):
        service.mint(service.account("jdoe"), seconds=HOUR)
    assert len(protected) == 2  # nothing parsed, nothing to protect
