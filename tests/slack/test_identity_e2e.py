"""Email mapping against the user map, through the real app: a Slack email never takes someone else's username."""

from __future__ import annotations

from bot.sandbox.world import Person, Sandbox

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
