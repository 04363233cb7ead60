"""The admin CLI's `issue` reaches the audit channel and the SIEM the serving bot delivers to, whatever its shell.

The README's "admin CLI against a real cluster" runs `rok-token-bot issue` with the registry, the kubeconfig and
the bot's database, and no ROK_BOT_AUDIT_CHANNEL or webhook: its `issued` event must still be posted by the bot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot import __version__
from sandbox.siem import FakeSiem
from sandbox.world import AUDIT_CHANNEL, Sandbox

SECRET = "siem-webhook-secret-0123456789"


def _cli_issue(box: Sandbox, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "ROK_BOT_SECRETS_DIR": "/nonexistent",
        "KUBECONFIG": box.env["KUBECONFIG"],
        "ROK_REGISTRY_URL": box.env["ROK_REGISTRY_URL"],
        "ROK_BOT_DATA_DIR": box.env["ROK_BOT_DATA_DIR"],  # the bot's own database
        **extra,
    }
    argv = [sys.executable, "-m", "bot", "issue", "jdoe", "--duration", "2h", "--json"]
    return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)


def test_the_clis_issued_event_is_delivered_by_the_bot_to_its_channel_and_its_webhook(tmp_path: Path) -> None:
    with FakeSiem(SECRET) as siem:
        webhook = {"ROK_BOT_AUDIT_WEBHOOK_URL": siem.url, "ROK_BOT_AUDIT_WEBHOOK_SECRET": SECRET}
        with Sandbox(settings=webhook) as box:
            box.wait_audit("started")  # the bot started on this database, and recorded where it delivers
            box.server.stop(drain_timeout=10)
            box.server = None

            done = _cli_issue(box, tmp_path)  # no ROK_BOT_AUDIT_CHANNEL, no webhook in the admin's shell
            assert done.returncode == 0, done.stderr
            token_uuid = json.loads(done.stdout)["token_uuid"]
            assert "warning" not in done.stderr
            assert f"audited to slack:{AUDIT_CHANNEL}, webhook" in done.stderr

            box.start_bot()  # the next start delivers what waits in the outbox
            box.advance(60)  # the CLI wrote on the machine's clock, a little ahead of the sandbox's manual one
            box.wait_audit("issued")
            assert any(token_uuid in line.ids for line in box.audit_lines("issued"))
            assert box.server.bot.flush_audit(10)
            assert [e["token_uuid"] for e in siem.accepted if e["outcome"] == "issued"] == [token_uuid]
            # Each start names the version that ran, in both sinks.
            starts = [e["reason"] for e in siem.accepted if e["outcome"] == "started"]
            assert len(starts) == 2 and all(reason.startswith(f"rok-token-bot {__version__}, ") for reason in starts)


def test_the_cli_warns_when_its_event_would_reach_no_sink(tmp_path: Path) -> None:
    with Sandbox(start_bot=False) as box:  # no bot ever started on this database
        done = _cli_issue(box, tmp_path)
        assert done.returncode == 0, done.stderr
        issued_line, *warning = done.stderr.splitlines()
        assert issued_line.startswith("issued a 2h token for jdoe")
        assert warning and warning[0].startswith("rok-token-bot: warning: no audit sink")
        assert "ROK_BOT_AUDIT_CHANNEL" in done.stderr
        assert json.loads(done.stdout)["token"] not in done.stderr

        named = _cli_issue(box, tmp_path, ROK_BOT_AUDIT_CHANNEL=AUDIT_CHANNEL)
        assert named.returncode == 0, named.stderr
        assert "warning" not in named.stderr
