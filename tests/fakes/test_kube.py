"""FakeKube and FakeRok speak the Kubernetes protocols: checked with the official client, unmodified."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client, config

# Imported here, not through `client.X`: the first touch builds hundreds of pydantic models (~1 s).
from kubernetes.client import AuthorizationV1Api, CoreV1Api, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from sandbox.kube import V4_PROTOCOL, V5_PROTOCOL, FakeKube, FakePod
from sandbox.rok import FakeRok, generate_accounts

if TYPE_CHECKING:  # for annotations only: importing a model at run time builds it (see above)
    from kubernetes.client import V1Pod

NS = "rok-registry"
POD = "rok-registry-0"
EXE = "rok-fort-manage"


@dataclass
class Exec:
    stdout: str
    stderr: str
    status: dict[str, Any] | None
    protocol: str | None
    still_open: bool


@pytest.fixture
def rok() -> FakeRok:
    return FakeRok()


@pytest.fixture
def kube(rok: FakeRok) -> Iterator[FakeKube]:
    with FakeKube(rok) as k:
        yield k


@pytest.fixture
def cfg(kube: FakeKube, tmp_path: Path) -> client.Configuration:
    c = client.Configuration()
    config.load_kube_config(config_file=str(kube.write_kubeconfig(tmp_path / "kubeconfig")), client_configuration=c)
    return c


def run_exec(
    cfg: client.Configuration,
    argv: list[str],
    *,
    pod: str = POD,
    container: str = "rok-registry",
    timeout: float = 5,
) -> Exec:
    # A fresh ApiClient per exec, as the client's stream() requires.
    with client.ApiClient(cfg) as api_client:
        ws = stream(
            CoreV1Api(api_client).connect_get_namespaced_pod_exec,
            pod,
            NS,
            command=argv,
            container=container,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        try:
            ws.run_forever(timeout)
            still_open = ws.is_open()
            raw_status = ws.read_channel(3)
            return Exec(
                stdout=ws.read_channel(1),
                stderr=ws.read_channel(2),
                status=json.loads(raw_status) if raw_status else None,
                protocol=ws.subprotocol,
                still_open=still_open,
            )
        finally:
            ws.close()


def token_row(stdout: str) -> str:
    return next(line.split()[-1] for line in stdout.splitlines() if line.startswith("Token"))


# --- exec ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [V5_PROTOCOL, V4_PROTOCOL])
def test_account_list_over_each_protocol(
    kube: FakeKube, cfg: client.Configuration, rok: FakeRok, protocol: str
) -> None:
    kube.force_protocol = None if protocol == V5_PROTOCOL else protocol
    result = run_exec(cfg, [EXE, "account-list"])
    assert result.protocol == protocol
    assert result.status == {"metadata": {}, "status": "Success"}
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["UUID", "Type", "Username", "Email", "Created"]
    pairs = {line.split()[2]: line.split()[0] for line in lines[1:]}
    assert pairs["jdoe"] == rok.account("jdoe").uuid
    assert set(pairs) == {"jdoe", "jdoe2", "ajdoe", "alice", "bob", "carol"}
    [record] = kube.execs
    assert (record.pod, record.container, record.argv, record.protocol) == (
        POD,
        "rok-registry",
        [EXE, "account-list"],
        protocol,
    )
    assert record.ended_at is not None
    assert kube.current_execs == 0


def test_bordered_account_list(cfg: client.Configuration, rok: FakeRok) -> None:
    rok.bordered_account_list = True
    lines = run_exec(cfg, [EXE, "account-list"]).stdout.splitlines()
    assert lines[0].startswith("+---") and lines[2].startswith("+---") and lines[-1].startswith("+---")
    assert lines[1].startswith("| UUID ")
    assert len(lines) == 6 + 4


def test_token_create_mints_a_token_that_the_store_knows(cfg: client.Configuration, rok: FakeRok) -> None:
    jdoe = rok.account("jdoe").uuid
    result = run_exec(cfg, [EXE, "token-create", "--duration", "3600", "--no-borders", "--user", jdoe])
    assert result.status == {"metadata": {}, "status": "Success"}
    rows = dict(line.split(None, 1) for line in result.stdout.splitlines()[1:] if not line.startswith("Created"))
    token = rows["Token"].strip()
    record = rok.lookup(token)
    assert record is not None
    assert record.username == "jdoe" == rows["User"].strip()
    assert record.token_uuid == rows["UUID"].strip()
    assert timedelta(seconds=3599) < record.expires_at - datetime.now(UTC) <= timedelta(seconds=3600)
    assert len(rok.minted) == 1


def test_token_create_bordered_by_default(cfg: client.Configuration, rok: FakeRok) -> None:
    result = run_exec(cfg, [EXE, "token-create", "--user", rok.account("bob").uuid, "--duration", "60"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("+") and lines[1].split("|")[1].strip() == "Field"
    token = next(cell.split("|")[2].strip() for cell in lines if cell.startswith("| Token "))
    assert rok.lookup(token) is not None


def test_nonzero_exit_carries_exit_code_and_stderr(cfg: client.Configuration, rok: FakeRok) -> None:
    rok.fault = "exit"
    result = run_exec(cfg, [EXE, "account-list"])
    assert result.stdout == ""
    assert "fault injected" in result.stderr
    assert result.status is not None
    assert result.status["status"] == "Failure"
    assert result.status["reason"] == "NonZeroExitCode"
    assert result.status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert "exit status 3" in result.status["message"]


def test_client_returncode_reads_our_status(cfg: client.Configuration, rok: FakeRok) -> None:
    with client.ApiClient(cfg) as api_client:
        ws = stream(
            CoreV1Api(api_client).connect_get_namespaced_pod_exec,
            POD,
            NS,
            command=[EXE, "token-create", "--user", "nobody", "--duration", "60"],
            container="rok-registry",
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        ws.run_forever(5)
        assert ws.returncode == 1
        assert "Account with UUID 'nobody' not found" in ws.read_channel(2)
        ws.close()
    assert rok.minted == []


def test_missing_executable_is_an_internal_error(cfg: client.Configuration, rok: FakeRok) -> None:
    rok.fault = "not-found"
    result = run_exec(cfg, [EXE, "account-list"])
    assert (result.stdout, result.stderr) == ("", "")
    assert result.status is not None
    assert result.status["reason"] == "InternalError"
    assert 'exec: "rok-fort-manage": executable file not found in $PATH' in result.status["message"]


@pytest.mark.parametrize("protocol", [V5_PROTOCOL, V4_PROTOCOL])
def test_large_output_arrives_intact(kube: FakeKube, cfg: client.Configuration, rok: FakeRok, protocol: str) -> None:
    rok.accounts = generate_accounts(200)
    kube.force_protocol = protocol
    expected = rok.execute([EXE, "account-list"]).stdout
    assert len(expected) > 4 * 4096  # several frames
    result = run_exec(cfg, [EXE, "account-list"])
    assert result.stdout == expected
    assert result.status == {"metadata": {}, "status": "Success"}


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        ([EXE, "token-list"], 2, "invalid choice"),
        ([EXE, "account-list", "--all"], 2, "unrecognized arguments"),
        ([EXE, "token-create", "--user", "x"], 2, "required: --duration"),
        ([EXE, "token-create", "--user", "x", "--duration", "soon"], 2, "invalid int value"),
        ([EXE, "token-create", "--user", "x", "--duration", "0"], 2, "positive"),
        ([EXE, "token-create", "--user", "x", "--duration", "5", "--force"], 2, "unrecognized"),
        ([EXE, "token-create", "--user", "x", "--duration", "5"], 1, "not found"),
    ],
)
def test_fake_rok_rejects_bad_arguments(argv: list[str], code: int, needle: str) -> None:
    outcome = FakeRok().execute(argv)
    assert outcome.exit_code == code
    assert needle in outcome.stderr
    assert outcome.stdout == ""
    if code == 2:
        assert outcome.stderr.startswith("usage: rok-fort-manage")


@pytest.mark.parametrize(("fault", "stdout_empty"), [("garbage", False), ("empty", True)])
def test_fake_rok_output_faults(rok: FakeRok, fault: str, stdout_empty: bool) -> None:
    rok.fault = fault
    outcome = rok.execute([EXE, "account-list"])
    assert outcome.exit_code == 0
    assert (outcome.stdout == "") is stdout_empty
    assert "UUID" not in outcome.stdout


def test_fake_rok_two_tokens_and_fault_commands(rok: FakeRok) -> None:
    rok.fault = "two-tokens"
    rok.fault_commands = {"token-create"}
    out = rok.execute([EXE, "token-create", "--user", rok.account("alice").uuid, "--duration", "60"]).stdout
    assert sum(line.startswith("| Token ") for line in out.splitlines()) == 2
    assert len(rok.minted) == 1
    rok.fault = "exit"
    assert rok.execute([EXE, "account-list"]).exit_code == 0


def test_fake_rok_store_expiry(rok: FakeRok) -> None:
    a, b = rok.mint(rok.account("carol").uuid, 60), rok.mint(rok.account("carol").uuid, 60)
    assert rok.lookup(a) is not None and rok.lookup("nope") is None
    rok.expire(a)
    assert rok.lookup(a) is None and rok.lookup(b) is not None
    rok.expire_all()
    assert rok.lookup(b) is None
    with pytest.raises(KeyError):
        rok.mint("00000000-0000-4000-8000-000000000000", 60)


# --- exec failures ---------------------------------------------------------------------------------


def test_exec_on_missing_pod_fails_the_handshake(kube: FakeKube, cfg: client.Configuration) -> None:
    kube.pods.clear()
    with pytest.raises(ApiException) as err:
        run_exec(cfg, [EXE, "account-list"])
    assert err.value.status == 0
    assert "Handshake status 404" in str(err.value.reason)
    assert kube.execs == []


def test_exec_on_unknown_container_fails_the_handshake(cfg: client.Configuration) -> None:
    with pytest.raises(ApiException) as err:
        run_exec(cfg, [EXE, "account-list"], container="nope")
    assert "Handshake status 404" in str(err.value.reason)


def test_exec_on_unready_or_deleting_pod_still_runs(kube: FakeKube, cfg: client.Configuration) -> None:
    kube.pods[0].ready = False
    kube.pods[0].deleting = True
    assert run_exec(cfg, [EXE, "account-list"]).status == {"metadata": {}, "status": "Success"}


def test_exec_fault_http500(kube: FakeKube, cfg: client.Configuration) -> None:
    kube.exec_fault = "http500"
    with pytest.raises(ApiException) as err:
        run_exec(cfg, [EXE, "account-list"])
    assert "Handshake status 500" in str(err.value.reason)


def test_exec_fault_drop(kube: FakeKube, cfg: client.Configuration, rok: FakeRok) -> None:
    kube.exec_fault = "drop"
    result = run_exec(cfg, [EXE, "account-list"])
    assert (result.stdout, result.stderr, result.status, result.still_open) == ("", "", None, False)
    assert len(kube.execs) == 1


def test_exec_fault_hang_until_client_leaves(kube: FakeKube, cfg: client.Configuration) -> None:
    kube.exec_fault = "hang"
    result = run_exec(cfg, [EXE, "account-list"], timeout=0.3)
    assert result.still_open
    assert (result.stdout, result.status) == ("", None)
    deadline = time.monotonic() + 1
    while kube.current_execs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kube.current_execs == 0  # the server noticed the client leave


def test_exec_fault_restart_cuts_output(kube: FakeKube, cfg: client.Configuration, rok: FakeRok) -> None:
    kube.exec_fault = "restart"
    full = rok.execute([EXE, "account-list"]).stdout
    result = run_exec(cfg, [EXE, "account-list"])
    assert result.status is None and not result.still_open
    assert result.stdout and full.startswith(result.stdout) and len(result.stdout) < len(full)


def test_exec_fault_drip_delivers_the_output_intact_byte_by_byte(
    kube: FakeKube, cfg: client.Configuration, rok: FakeRok
) -> None:
    kube.exec_fault = "drip"
    kube.drip_interval = 0.0005
    result = run_exec(cfg, [EXE, "account-list"])
    assert result.status == {"metadata": {}, "status": "Success"}
    assert result.stdout == rok.execute([EXE, "account-list"]).stdout


def test_exec_fault_limited_to_one_command(kube: FakeKube, cfg: client.Configuration, rok: FakeRok) -> None:
    kube.exec_fault = "drop"
    kube.exec_fault_commands = {"token-create"}
    assert run_exec(cfg, [EXE, "account-list"]).status is not None
    created = run_exec(cfg, [EXE, "token-create", "--user", rok.account("jdoe").uuid, "--duration", "60"])
    assert created.status is None


def test_concurrent_execs_are_counted(kube: FakeKube, cfg: client.Configuration, rok: FakeRok) -> None:
    rok.latency = 0.2
    results: list[Exec] = []
    threads = [threading.Thread(target=lambda: results.append(run_exec(cfg, [EXE, "account-list"]))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [{"metadata": {}, "status": "Success"}] * 3
    assert kube.max_concurrent_execs == 3
    assert kube.current_execs == 0
    kube.reset_records()
    assert (kube.execs, kube.requests, kube.max_concurrent_execs) == ([], [], 0)


# --- REST ------------------------------------------------------------------------------------------


def status_body(err: ApiException) -> dict[str, Any]:
    """The Status object of an error the API server answered (the client keeps its body as text)."""
    assert err.body is not None
    body: dict[str, Any] = json.loads(err.body)
    return body


def pod_names(pods: list[V1Pod]) -> list[str | None]:
    names = []
    for p in pods:
        assert p.metadata is not None  # the fake serves every pod with its metadata
        names.append(p.metadata.name)
    return names


def test_kubeconfig_carries_server_token_and_namespace(kube: FakeKube, tmp_path: Path) -> None:
    path = kube.write_kubeconfig(tmp_path / "kc")
    _, active = config.list_kube_config_contexts(config_file=str(path))
    assert active["context"]["namespace"] == NS
    c = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=c)
    assert c.host == kube.url
    assert c.get_api_key_with_prefix("BearerToken") == "Bearer fake-sa-token"


def test_requests_without_the_token_get_401(kube: FakeKube) -> None:
    anonymous = client.Configuration(host=kube.url)
    with client.ApiClient(anonymous) as api_client, pytest.raises(ApiException) as err:
        CoreV1Api(api_client).read_namespaced_pod(POD, NS)
    assert err.value.status == 401
    assert status_body(err.value)["reason"] == "Unauthorized"
    wrong = client.Configuration(host=kube.url, api_key={"BearerToken": "Bearer wrong"})
    with pytest.raises(ApiException) as exec_err:
        run_exec(wrong, [EXE, "account-list"])
    assert "Handshake status 401" in str(exec_err.value.reason)


def test_service_with_and_without_selector(kube: FakeKube, cfg: client.Configuration) -> None:
    with client.ApiClient(cfg) as api_client:
        api = CoreV1Api(api_client)
        spec = api.read_namespaced_service("rok-registry", NS).spec
        assert spec is not None and spec.selector == {"app": "rok-registry"}
        kube.service_selector = None
        spec = api.read_namespaced_service("rok-registry", NS).spec
        assert spec is not None and spec.selector is None
        kube.service_exists = False
        with pytest.raises(ApiException) as err:
            api.read_namespaced_service("rok-registry", NS)
        assert err.value.status == 404
        assert status_body(err.value)["reason"] == "NotFound"


def test_pods_deserialize_and_honour_the_label_selector(kube: FakeKube, cfg: client.Configuration) -> None:
    since = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    kube.pods.append(FakePod(name="rok-registry-1", ready=False, deleting=True, ready_since=since))
    kube.pods.append(FakePod(name="other-0", labels={"app": "other"}))
    with client.ApiClient(cfg) as api_client:
        api = CoreV1Api(api_client)
        listed = api.list_namespaced_pod(NS, label_selector="app=rok-registry")
        assert pod_names(listed.items) == [POD, "rok-registry-1"]
        assert pod_names(api.list_namespaced_pod(NS).items) == [
            POD,
            "rok-registry-1",
            "other-0",
        ]
        assert api.list_namespaced_pod(NS, label_selector="app=rok-registry,tier=db").items == []
        assert api.list_namespaced_pod("elsewhere").items == []
        pod = api.read_namespaced_pod("rok-registry-1", NS)
    meta, spec, status = pod.metadata, pod.spec, pod.status
    assert meta is not None and spec is not None and status is not None
    assert meta.deletion_timestamp is not None
    assert meta.annotations is not None
    assert meta.annotations["kubectl.kubernetes.io/default-container"] == "rok-registry"
    assert [c.name for c in spec.containers] == ["rok-registry", "sidecar"]
    assert status.conditions is not None
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.last_transition_time) == ("False", since)
    assert status.phase == "Running"
    assert status.container_statuses is not None
    assert [s.ready for s in status.container_statuses] == [False, False]


def test_missing_pod_is_a_404_status(cfg: client.Configuration) -> None:
    with client.ApiClient(cfg) as api_client, pytest.raises(ApiException) as err:
        CoreV1Api(api_client).read_namespaced_pod("ghost", NS)
    assert err.value.status == 404
    assert status_body(err.value)["message"] == 'pods "ghost" not found'


def review(cfg: client.Configuration, verb: str, resource: str, subresource: str = "", ns: str = NS) -> bool:
    attrs = client.V1ResourceAttributes(namespace=ns, verb=verb, resource=resource, subresource=subresource or None)
    body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
    with client.ApiClient(cfg) as api_client:
        answer = AuthorizationV1Api(api_client).create_self_subject_access_review(body)
    assert answer.status is not None  # the API server always fills in a review's status
    return bool(answer.status.allowed)


def test_access_reviews_allowed_and_denied(kube: FakeKube, cfg: client.Configuration) -> None:
    assert review(cfg, "get", "services")
    assert review(cfg, "list", "pods")
    assert review(cfg, "get", "pods", "exec")
    assert review(cfg, "create", "pods", "exec")
    assert not review(cfg, "delete", "pods")
    assert not review(cfg, "get", "pods", "exec", ns="kube-system")
    kube.denied.add(("create", "pods", "exec"))
    assert not review(cfg, "create", "pods", "exec")
    assert kube.access_reviews[-1]["spec"]["resourceAttributes"]["subresource"] == "exec"


def test_version(cfg: client.Configuration) -> None:
    with client.ApiClient(cfg) as api_client:
        assert VersionApi(api_client).get_code().major == "1"
