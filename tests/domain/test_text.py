"""The one cleaner of user-typed text: the command's reason, the form's reason and an approver's note."""

from __future__ import annotations

import pytest

from bot.domain.command import split_command
from bot.domain.text import REASON_MAX, clean_text, mask_token_shaped

UUID = "0b9f6c1e-0000-4000-8000-000000000001"
TOKEN = "A" * 20 + "b" * 23


def test_a_reason_is_one_printable_line_with_its_quotes_trimmed() -> None:
    assert clean_text(' "incident\n4711"\t') == "incident 4711"
    assert clean_text("\u201cincident 4711\u201d") == "incident 4711"
    assert clean_text(None) == "" and clean_text("") == "" and clean_text("   ") == ""


def test_anything_token_shaped_is_masked_and_a_uuid_kept() -> None:
    assert clean_text(f"  nightly\n pipeline   {TOKEN} for run {UUID} ") == (
        f"nightly pipeline [masked] for run {UUID}"
    )
    assert mask_token_shaped(f"{UUID}{TOKEN}") == "[masked]"  # glued to a UUID, it is no UUID


def test_a_reason_is_bounded_and_masked_before_it_is_cut() -> None:
    assert len(clean_text("x " * 1000)) <= REASON_MAX
    # A token straddling the limit must not leave its first half behind.
    cut = clean_text("y " * 140 + TOKEN)
    assert "A" * 10 not in cut and cut.endswith("[masked]")


@pytest.mark.parametrize(
    "text",
    [
        f"14d debugging {TOKEN}",
        f"14d --break-glass incident 4711 {TOKEN}",
        f"--break-glass 2h incident {TOKEN}",
    ],
)
def test_a_token_pasted_after_the_slash_command_is_masked_in_its_reason(text: str) -> None:
    """Issue 20, bug 1: the command's reason reached the approvals channel and the audit trail unmasked."""
    reason = split_command(text).reason
    assert TOKEN not in reason and TOKEN[:24] not in reason and "[masked]" in reason
