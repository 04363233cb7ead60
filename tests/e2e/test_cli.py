"""The admin CLI against the fake cluster and registry: exit codes, stdout/stderr split, one-line errors.

A handful of tests run the real console entry as a subprocess (it talks to the in-process fakes over
loopback); the rest call `bot.cli.main([...])` in-process, which runs the same code faster.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from bot import __version__
from bot.cli import main
from tests.fakes import FakeKube, FakeRegistry, FakeRok

ERROR_PREFIX = "rok-token-bot: error: "
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def run(core_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Call the CLI in-process under `core_env`; returns (exit code, stdout, stderr)."""

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def sub_env(core_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """An explicit, minimal environment for subprocesses: nothing inherited but PATH."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KUBECONFIG": core_env["KUBECONFIG"],
        "ROK_REGISTRY_URL": core_env["ROK_REGISTRY_URL"],
        "ROK_BOT_SECRETS_DIR": "/nonexistent",
    }


def cli(
    args: list[str], env: dict[str, str], cwd: Path, *, stdin: str | None = None, entry: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(entry or [sys.executable, "-m", "bot"]), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_error_line(err: str, rok: FakeRok) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR_PREFIX)
    for record in rok.minted:
        assert record.token not in err
    return lines[0]


# --- subprocess: the real console entry ----------------------------------------------------------


def test_issue_prints_only_the_token_on_stdout(
    sub_env: dict[str, str], tmp_path: Path, rok: FakeRok, kube: FakeKube
) -> None:
    done = cli(["issue", "jdoe", "--duration", "24h"], sub_env, tmp_path)
    assert done.returncode == 0, done.stderr
    [minted] = rok.minted
    assert done.stdout == minted.token + "\n"
    assert minted.username == "jdoe"
    issued_line, warning = done.stderr.splitlines()  # no bot ever recorded an audit sink in this database
    assert issued_line.startswith("issued a 1d token for jdoe")
    assert warning.startswith("rok-token-bot: warning: no audit sink")
    assert minted.token_uuid in done.stderr and minted.token not in done.stderr
    assert kube.execs[-1].argv[-3:] == ["--duration", "86400", "--no-borders"]


@pytest.mark.parametrize("shape", ["urlsafe", "std-b64", "short", "long"])
def test_debug_logs_of_every_library_never_print_the_token(
    sub_env: dict[str, str], tmp_path: Path, rok: FakeRok, registry: FakeRegistry, shape: str
) -> None:
    """kubernetes, urllib3, websocket and httpx log at DEBUG through the redacting handler: no token."""
    rok.token_shape = shape
    env = {**sub_env, "ROK_BOT_LOG_LEVEL": "DEBUG"}
    done = cli(["issue", "jdoe", "--duration", "1h"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token == rok.minted[-1].token
    verified = cli(["verify"], {**env, "ROK_REGISTRY_TOKEN": token}, tmp_path)
    assert verified.returncode == 0, verified.stderr
    logs = done.stderr + verified.stderr
    assert "urllib3" in logs or "httpx" in logs or "kubernetes" in logs  # the libraries did log at DEBUG
    assert token not in logs
    assert not [piece for piece in (token[i : i + 12] for i in range(0, len(token) - 11, 6)) if piece in logs]
    assert rok.lookup(token) is not None


def test_verify_reads_stdin(sub_env: dict[str, str], tmp_path: Path, rok: FakeRok, registry: FakeRegistry) -> None:
    token = rok.mint(rok.account("alice").uuid, 3600)
    done = cli(["verify"], sub_env, tmp_path, stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("valid: The token is valid.")
    assert token not in done.stdout + done.stderr
    assert registry.requests == 1


def test_doctor_all_ok(sub_env: dict[str, str], tmp_path: Path, kube: FakeKube) -> None:
    assert cli(["db", "upgrade"], sub_env, tmp_path).returncode == 0  # what `serve` does at start
    done = cli(["doctor"], sub_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    names = [line.split()[1] for line in lines]
    assert names == [
        "settings", "cluster", "rbac", "rbac", "rbac", "rbac", "rbac", "pod", "accounts", "registry", "store",
    ]  # fmt: skip
    assert all(line.startswith("ok ") for line in lines)
    assert "rok-registry-0" in done.stdout and "6 account(s)" in done.stdout
    assert "schema at revision" in lines[-1] and "(head)" in lines[-1]
    assert done.stderr.strip() == f"rok-token-bot {__version__}: 11 ok, 0 failed"
    assert len(kube.access_reviews) == 5


def test_doctor_warns_about_a_missing_sqlite_store_and_creates_none(sub_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "state"
    done = cli(["doctor"], {**sub_env, "ROK_BOT_DATA_DIR": str(data)}, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("WARN  store")
    assert f"no file {data / 'rok-token-bot.sqlite3'}: the bot creates it at its first start" in done.stdout
    assert not data.exists()  # doctor only looks


def test_doctor_warns_about_a_data_dir_open_to_others(
    run: Callable[..., tuple[int, str, str]], core_env: dict[str, str]
) -> None:
    data = Path(core_env["ROK_BOT_DATA_DIR"])
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    assert run("db", "upgrade")[0] == 0
    code, out, _ = run("doctor")
    assert code == 0, out
    store = [line for line in out.splitlines() if line.split()[1] == "store"]
    assert store[0].startswith("ok    store") and "(head)" in store[0]
    assert store[1].startswith("WARN  store")
    assert f"{data} (0755); run `chmod 700 {data} && chmod 600 {data}/rok-token-bot.sqlite3*`" in store[1]
    data.chmod(0o700)
    code, out, _ = run("doctor")
    assert "WARN" not in out


def test_doctor_names_the_downgrade_on_a_newer_schema(
    run: Callable[..., tuple[int, str, str]], core_env: dict[str, str]
) -> None:
    from bot.store.migrate import head
    from tests.store.test_store_start_errors import FUTURE, set_revision

    assert run("db", "upgrade")[0] == 0
    set_revision(f"sqlite:///{Path(core_env['ROK_BOT_DATA_DIR']) / 'rok-token-bot.sqlite3'}", FUTURE)
    code, out, _ = run("doctor")
    assert code == 1
    (failed,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failed.startswith("FAIL  store")
    assert f"run `rok-token-bot db downgrade {head()}` with the newer release's image" in failed


def test_issue_on_a_read_only_database_is_one_line_and_mints_nothing(
    run: Callable[..., tuple[int, str, str]],
    core_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    rok: FakeRok,
) -> None:
    assert run("db", "upgrade")[0] == 0
    path = Path(core_env["ROK_BOT_DATA_DIR"]) / "rok-token-bot.sqlite3"
    monkeypatch.setenv("ROK_BOT_DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    code, out, err = run("issue", "jdoe", "--duration", "1h")
    assert (code, out) == (1, "")
    line = assert_one_error_line(err, rok)
    assert "SQLite database is read-only" in line
    assert rok.minted == []


def test_exec_fault_through_the_subprocess(
    sub_env: dict[str, str], tmp_path: Path, rok: FakeRok, kube: FakeKube
) -> None:
    kube.exec_fault = "restart"
    kube.exec_fault_commands = {"token-create"}
    done = cli(["issue", "jdoe"], sub_env, tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "dropped" in assert_one_error_line(done.stderr, rok)
    assert len(rok.minted) == 1  # minted, cut off, not retried, and the token never shown


def test_missing_registry_url_is_a_usage_error(sub_env: dict[str, str], tmp_path: Path) -> None:
    del sub_env["ROK_REGISTRY_URL"]
    done = cli(["issue", "jdoe"], sub_env, tmp_path)
    assert done.returncode == 2
    assert done.stderr == ERROR_PREFIX + "ROK_REGISTRY_URL: required but not set\n"
    assert done.stdout == ""


def test_help_from_both_entries(sub_env: dict[str, str], tmp_path: Path) -> None:
    for entry in ([sys.executable, "-m", "bot"], [str(VENV_BIN / "rok-token-bot")]):
        done = cli(["--help"], sub_env, tmp_path, entry=entry)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: rok-token-bot")
        for command in ("issue", "verify", "doctor", "serve"):
            assert command in done.stdout


def test_version_prints_pyprojects_version_from_both_entries(sub_env: dict[str, str], tmp_path: Path) -> None:
    """The one version: pyproject's, as installed (tests/meta/test_packaging.py holds bot.__version__ to it)."""
    for entry in ([sys.executable, "-m", "bot"], [str(VENV_BIN / "rok-token-bot")]):
        done = cli(["--version"], sub_env, tmp_path, entry=entry)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"rok-token-bot {__version__}\n", "")


def test_a_token_given_as_an_argument_is_refused_without_echo(sub_env: dict[str, str], tmp_path: Path) -> None:
    secret = "pretend-this-is-a-real-token-0123456789"
    done = cli(["verify", secret], sub_env, tmp_path)
    assert done.returncode == 2
    assert secret not in done.stdout + done.stderr
    assert done.stderr.startswith(ERROR_PREFIX) and "ROK_REGISTRY_TOKEN" in done.stderr


# --- in-process: the same main() -----------------------------------------------------------------


def test_issue_json(run: Callable[..., tuple[int, str, str]], rok: FakeRok) -> None:
    code, out, err = run("issue", "ajdoe", "--duration", "1h30m", "--json")
    assert code == 0, err
    data = json.loads(out)
    [minted] = rok.minted
    assert out.count("\n") == 1
    assert data["token"] == minted.token
    assert data["token_uuid"] == minted.token_uuid
    assert data["username"] == "ajdoe"
    assert datetime.fromisoformat(data["expires_at"]) == minted.expires_at
    assert data["duration_seconds"] == 5400
    assert minted.token not in err


def test_issue_default_duration(run: Callable[..., tuple[int, str, str]], kube: FakeKube) -> None:
    code, _, err = run("issue", "bob")
    assert code == 0, err
    assert "--duration" in kube.execs[-1].argv and "86400" in kube.execs[-1].argv


def test_verify_from_the_environment(
    run: Callable[..., tuple[int, str, str]], rok: FakeRok, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = rok.mint(rok.account("jdoe").uuid, 7200)
    monkeypatch.setenv("ROK_REGISTRY_TOKEN", token)
    code, out, err = run("verify")
    assert code == 0, err
    [line] = out.splitlines()
    assert line.startswith("valid: ") and "Expires " in line and rok.minted[0].token_uuid in line
    assert token not in out + err

    rok.expire(token)
    code, out, err = run("verify")
    assert code == 1
    assert out.startswith("rejected: ") and "expired" in out
    assert token not in out + err


def test_verify_reads_stdin_in_process(
    run: Callable[..., tuple[int, str, str]], rok: FakeRok, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("not-a-token-0123456789abcdef\n"))
    code, out, _ = run("verify")
    assert code == 1 and out.startswith("rejected: ")


def test_verify_without_a_token_is_a_usage_error(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run("verify")
    assert (code, out) == (2, "")
    assert err.startswith(ERROR_PREFIX)


@pytest.mark.parametrize("how", ["stopped", "http500", "drop"])
def test_verify_registry_unreachable(
    run: Callable[..., tuple[int, str, str]],
    rok: FakeRok,
    registry: FakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    token = rok.mint(rok.account("jdoe").uuid, 7200)
    monkeypatch.setenv("ROK_REGISTRY_TOKEN", token)
    if how == "stopped":
        registry.stop()
    else:
        registry.fault = how
    code, out, err = run("verify")
    assert (code, out) == (1, "")
    line = assert_one_error_line(err, rok)
    assert "Rok Registry" in line


def _deny(kube: FakeKube, registry: FakeRegistry) -> str:
    kube.denied.add(("create", "pods", "exec"))
    return "rbac"


def _break_registry(kube: FakeKube, registry: FakeRegistry) -> str:
    registry.fault = "http500"
    return "registry"


def _stop_registry(kube: FakeKube, registry: FakeRegistry) -> str:
    registry.stop()
    return "registry"


def _no_pods(kube: FakeKube, registry: FakeRegistry) -> str:
    kube.pods.clear()
    return "pod"


@pytest.mark.parametrize("breakage", [_deny, _break_registry, _stop_registry, _no_pods])
def test_doctor_reports_the_failing_check(
    run: Callable[..., tuple[int, str, str]],
    kube: FakeKube,
    registry: FakeRegistry,
    breakage: Callable[[FakeKube, FakeRegistry], str],
) -> None:
    failing = breakage(kube, registry)
    code, out, err = run("doctor")
    assert code == 1
    lines = out.splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert failed and {line.split()[1] for line in failed} <= {failing, "accounts"}
    assert any(line.split()[1] == failing for line in failed)
    assert all(line.startswith(("ok ", "FAIL ", "WARN  store")) for line in lines)
    assert f"{len(failed)} failed" in err
    if failing == "rbac":
        assert "create pods/exec in rok-registry" in failed[0]


def test_doctor_with_a_broken_kubeconfig(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    code, out, _ = run("doctor")
    assert code == 1
    assert [line.split()[:2] for line in out.splitlines()] == [["ok", "settings"], ["FAIL", "cluster"]]
    assert "KUBECONFIG" in out


@pytest.mark.parametrize(
    ("target", "fault", "needle"),
    [
        ("rok", "exit", "exited 3"),
        ("rok", "garbage", "format"),
        ("rok", "empty", "format"),
        ("rok", "two-tokens", "format"),
        ("rok", "not-found", "executable file not found"),
        ("kube", "http500", "500"),
        ("kube", "drop", "dropped"),
        ("kube", "restart", "dropped"),
        ("kube", "hang", "ran past 1s"),
    ],
)
def test_every_fault_is_one_line_and_exit_1(
    run: Callable[..., tuple[int, str, str]],
    rok: FakeRok,
    kube: FakeKube,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    fault: str,
    needle: str,
) -> None:
    monkeypatch.setenv("ROK_BOT_EXEC_TIMEOUT", "1s")
    if target == "rok":
        rok.fault = fault
        rok.fault_commands = {"token-create"}
    else:
        kube.exec_fault = fault
        kube.exec_fault_commands = {"token-create"}
    code, out, err = run("issue", "jdoe", "--duration", "1h")
    assert (code, out) == (1, "")
    assert needle in assert_one_error_line(err, rok)


@pytest.mark.parametrize(
    ("stage", "needle"),
    [
        (lambda kube: kube.pods.clear(), "rok-registry"),
        (lambda kube: setattr(kube.pods[0], "ready", False), "Running and Ready"),
        (lambda kube: setattr(kube, "service_exists", False), "Service"),
        (lambda kube: kube.stop(), "reading the Service"),
    ],
)
def test_cluster_problems_are_one_line_and_exit_1(
    run: Callable[..., tuple[int, str, str]],
    rok: FakeRok,
    kube: FakeKube,
    stage: Callable[[FakeKube], None],
    needle: str,
) -> None:
    stage(kube)
    code, out, err = run("issue", "jdoe")
    assert (code, out) == (1, "")
    assert needle in assert_one_error_line(err, rok)


def test_no_account_is_exit_1_and_the_substring_trap(run: Callable[..., tuple[int, str, str]], rok: FakeRok) -> None:
    code, out, err = run("issue", "jdo")
    assert (code, out) == (1, "")
    assert "no Rok Registry account" in assert_one_error_line(err, rok)
    for name in ("jdoe", "jdoe2", "ajdoe"):
        code, out, _ = run("issue", name, "--json")
        assert code == 0
        assert json.loads(out)["username"] == name
    assert [m.username for m in rok.minted] == ["jdoe", "jdoe2", "ajdoe"]


def test_broken_kubeconfig_is_one_line(
    run: Callable[..., tuple[int, str, str]], rok: FakeRok, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text("this: is: not: a kubeconfig\n")
    monkeypatch.setenv("KUBECONFIG", str(bad))
    code, out, err = run("issue", "jdoe")
    assert (code, out) == (1, "")
    assert "KUBECONFIG" in assert_one_error_line(err, rok)


@pytest.mark.parametrize(
    ("duration", "hint"),
    [("24", "did you mean 24h?"), ("0m", ""), ("30d", "maximum"), ("junk", ""), ("1m", "minimum"), ("-1h", "")],
)
def test_bad_durations_are_usage_errors_stating_the_range(
    run: Callable[..., tuple[int, str, str]], kube: FakeKube, duration: str, hint: str
) -> None:
    code, out, err = run("issue", "jdoe", f"--duration={duration}")
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith(ERROR_PREFIX)
    assert "between 5m and 7d" in line
    assert hint in line
    assert kube.execs == []


def test_unknown_command_and_missing_username_are_usage_errors(run: Callable[..., tuple[int, str, str]]) -> None:
    for argv in (["frobnicate"], ["issue"], ["issue", "jdoe", "--bogus"], []):
        with pytest.raises(SystemExit) as exit_:
            run(*argv)
        assert exit_.value.code == 2


def test_doctor_never_prints_credentials_embedded_in_urls(
    sub_env: dict[str, str], tmp_path: Path, registry: FakeRegistry, kube: FakeKube
) -> None:
    """A registry URL with `user:password@` works, but doctor shows it without the userinfo."""
    url = registry.url.replace("http://", "http://admin:S3cretPassw0rd@")
    done = cli(["doctor"], {**sub_env, "ROK_REGISTRY_URL": url, "ROK_BOT_LOG_LEVEL": "DEBUG"}, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "S3cretPassw0rd" not in output and "admin" not in output
    assert registry.url.removeprefix("http://") in done.stdout  # the URL is still shown, host and path


def test_an_unreachable_registry_is_named_without_its_credentials(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, registry: FakeRegistry, rok: FakeRok
) -> None:
    monkeypatch.setenv("ROK_REGISTRY_URL", "http://admin:S3cretPassw0rd@127.0.0.1:9/registry")
    monkeypatch.setenv("ROK_REGISTRY_TOKEN", rok.mint(rok.account("jdoe").uuid, 3600))
    code, out, err = run("verify")
    assert code == 1
    line = assert_one_error_line(err, rok)
    assert "http://127.0.0.1:9/registry/auth/v1/token" in line and "S3cret" not in out + err


def test_doctor_warns_while_plain_http_is_allowed(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROK_REGISTRY_ALLOW_HTTP", "true")
    code, out, err = run("doctor")
    assert code == 0, out + err
    [warning] = [line for line in out.splitlines() if line.startswith("WARN") and "store" not in line.split()[1]]
    assert "ROK_REGISTRY_ALLOW_HTTP" in warning and "clear text" in warning
    assert err.strip() == f"rok-token-bot {__version__}: 10 ok, 0 failed, 2 warnings"  # and the empty store's


def test_a_plain_http_registry_url_is_refused_with_one_line(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, kube: FakeKube
) -> None:
    monkeypatch.setenv("ROK_REGISTRY_URL", "http://rok-registry.rok-registry.svc:8080")
    for command in ("doctor", "issue", "verify"):
        code, out, err = run(command, *(["jdoe"] if command == "issue" else []))
        assert (code, out) == (2, ""), command
        assert err.startswith(f"{ERROR_PREFIX}ROK_REGISTRY_URL: ") and err.count("\n") == 1, err
        assert "ROK_REGISTRY_ALLOW_HTTP=true" in err
    assert not kube.execs
