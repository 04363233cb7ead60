"""`rok-token-bot demo` as a newcomer runs it: a subprocess, its exit code and the story it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

# Tokens are secrets.token_urlsafe(32): 43 URL-safe characters. Nothing that long may reach stdout.
TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_\-]{43,}")
MASKED = re.compile(r"…[A-Za-z0-9_\-]{4}(?![A-Za-z0-9_\-])")


def _env() -> dict[str, str]:
    return {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}


def _demo(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def _assert_no_token(text: str) -> None:
    assert TOKEN_SHAPED.findall(text) == []


def test_demo_tells_the_story_and_exits_0(tmp_path: Path) -> None:
    result = _demo(tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # 1. Jane's ack at once, then her private message: the token masked in the code block and the export line.
    assert "Checking your request for a 1d token" in out
    assert "Your Rok Registry token" in out
    assert "Username: jdoe" in out
    assert "[ Verify ]" in out
    assert re.search(r"export ROK_REGISTRY_TOKEN=\S*…[A-Za-z0-9_\-]{4}", out)
    assert "<!date^" not in out and "```" not in out
    # 2. Verify; 3. Bob by email; 4. Mallory refused; 5. 30d refused with the range.
    assert "The token is valid." in out
    assert "Username: bob" in out
    assert "not mapped to a Rok Registry username" in out
    assert "choose between 5m and 7d" in out
    # 6. The audit channel, one line per post.
    audit = [line for line in out.split("6. The audit channel", 1)[1].splitlines() if line.lstrip().startswith("│")]
    for outcome in ("issued", "verified", "refused"):
        assert any(f" {outcome} · " in line for line in audit), outcome
    assert re.search(r"2 tokens minted.*1 account-list \+ 2 token-create", out)
    assert "rok-token-bot demo --interactive" in out
    assert "✗" not in out
    # Every token shows as its last 4 characters, and no token shows in full anywhere.
    assert len(MASKED.findall(out)) >= 4
    _assert_no_token(out)
    _assert_no_token(result.stderr)


def test_interactive_reads_commands_from_a_pipe(tmp_path: Path) -> None:
    commands = "/rok-token 2h\nverify\n/rok-token 1h as U0MALLORY\naudit\nquit\n"
    result = _demo(tmp_path, "--interactive", stdin=commands)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "> /rok-token 2h" in out
    assert "Checking your request for a 2h token" in out
    assert re.search(r"export ROK_REGISTRY_TOKEN=\S*…[A-Za-z0-9_\-]{4}", out)
    assert "The token is valid." in out
    assert "Mallory (U0MALLORY) runs /rok-token 1h" in out
    assert "not mapped to a Rok Registry username" in out
    after_audit = out.split("> audit", 1)[1]
    for outcome in ("issued", "verified", "refused"):
        assert f" {outcome} · " in after_audit, outcome
    # The story is not played in interactive mode.
    assert "Bob" not in out
    _assert_no_token(out)


def test_interactive_unknown_input_prints_help_and_end_of_input_quits(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--interactive", stdin="hello\nverify as U0BOB\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify [as USERID]" in result.stdout
    assert "has no token message to verify yet" in result.stdout


def test_open_serves_the_conversation_as_a_page(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--open"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "press Enter" in line or "✗" in line:
                break
        out = "".join(lines)
        url = re.search(r"(http://127\.0\.0\.1:\d+/) ", out)
        assert url, out
        page = httpx.get(url.group(1), timeout=10).text
        fragments = httpx.get(url.group(1) + "fragments", timeout=10).json()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Your Rok Registry token" in page
    assert '<button class="btn primary"' in page and ">Verify</button>" in page
    assert "<pre>export ROK_REGISTRY_TOKEN=" in page
    assert "not mapped to a Rok Registry username" in page
    assert "issued" in fragments["audit"] and "refused" in fragments["audit"]
    assert MASKED.search(page)
    _assert_no_token(page)
    _assert_no_token(fragments["conversation"] + fragments["audit"])


def test_renderer_shows_what_slack_shows_and_escapes_everything_in_html() -> None:
    from sandbox.demo import Masker, blocks_to_html, blocks_to_lines

    token = "T" * 39 + "wxyz"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Hi <there>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Expires:* <!date^1^{date}|2030-01-01 UTC> <@U1>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```export T={token}```"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "&lt;img src=x onerror=alert(1)&gt; `a&amp;b`"}},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Verify"}}]},
    ]
    masked = Masker(lambda: [token]).blocks(blocks)
    lines = blocks_to_lines(masked, {"U1": "jdoe"})
    assert lines == [
        "Hi <there>",
        "──────────",
        "Expires: 2030-01-01 UTC @jdoe",
        "    export T=••••••…wxyz",
        "<img src=x onerror=alert(1)> a&b",
        "[ Verify ]",
    ]
    page = blocks_to_html(masked, {"U1": "jdoe"})
    assert "Hi &lt;there&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert "<pre>export T=••••••…wxyz</pre>" in page
    assert '<span class="mention">@jdoe</span>' in page
    assert token not in page
