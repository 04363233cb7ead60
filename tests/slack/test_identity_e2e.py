"""Email mapping against the user map, through the real app: a Slack email never takes someone else's username."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sandbox.world import Person, Sandbox

PEOPLE = (
    Person("U0JOHN", "john", "john.doe@example.com", mapped_to="jdoe"),  # the admin mapped John to Rok `jdoe`
    Person("U0JANE", "jane", "jdoe@example.com"),  # not in the map; her email's local part is `jdoe`
    Person("U0UPPER", "upper", "Alice@EXAMPLE.COM"),  # Rok usernames are case-sensitive: never lower-cased
    Person("U0CAROL", "carol", "carol@example.com"),  # Rok's `carol` has another email (set below)
    Person("U0BOB", "bob", "bob@example.com"),  # Rok's `bob` has this email: mapped
)


def _refusal(box: Sandbox, user_id: str) -> str:
    _, _, url = box.slash(user_id, "1h")
    return box.wait_reply(url).text


def test_email_mapping_cannot_take_a_username_the_user_map_gives_to_someone_else() -> None:
    box = Sandbox(people=PEOPLE)
    box.rok.account("carol").email = "carol@elsewhere.test"
    with box:
        jane = _refusal(box, "U0JANE")
        assert "user map" in jane and "U0JANE" in jane and "#platform-help" in jane
        upper = _refusal(box, "U0UPPER")
        assert "upper-case" in upper and "U0UPPER" in upper
        carol = _refusal(box, "U0CAROL")
        assert "email" in carol and "user map" in carol
        refused = box.wait_audit("refused", count=3)
        for user_id in ("U0JANE", "U0UPPER", "U0CAROL"):
            assert any(f"<@{user_id}>" in str(call.params.get("blocks")) for call in refused)
            assert not box.private_messages(user_id)
        assert box.rok.minted == []
        assert all("*failed*" not in str(call.params.get("blocks")) for call in box.audit_posts())

        box.slash("U0JOHN", "1h")
        token = box.wait_private("U0JOHN")[-1].token
        box.slash("U0BOB", "1h")
        box.wait_private("U0BOB")
        record = box.rok.lookup(token or "")
        assert record is not None and record.username == "jdoe"
        assert sorted(m.username for m in box.rok.minted) == ["bob", "jdoe"]


def test_a_user_map_with_a_slack_id_twice_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with Sandbox(start_bot=False) as box:
        Path(box.env["ROK_BOT_USER_MAP"]).write_text("U0JDOE: jdoe\nU0ALICE: alice\nU0JDOE: alice\n")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **box.env}
        env["ROK_BOT_SECRETS_DIR"] = str(tmp_path / "none")
        done = subprocess.run(
            [sys.executable, "-m", "bot", "serve"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,  # a guard only: a start that fails takes a second or two
            check=False,
        )
    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if "ROK_BOT_USER_MAP" in line]
    assert line.startswith("rok-token-bot: error: ROK_BOT_USER_MAP: ") and "U0JDOE" in line
    assert not box.slack.calls_to("chat.postMessage")  # never started: no "started" audit event
