"""The production image against the fakes: `serve` starts, answers a signed /rok-token, drains on SIGTERM.

scripts/build-image.sh runs it on the host with the command that enters the image's read-only root; the
fakes listen on the host's 127.0.0.1 (the image shares the host network in the build sandbox), and the
kubeconfig, user map and policy are written to a directory the command mounts inside the image.

    python -m sandbox.smoke --dir HOST_DIR --inner /tmp/smoke -- COMMAND...

COMMAND gets `NAME=value` pairs and `rok-token-bot serve` appended (it ends in `env -i ...`). Prints one
JSON line of what it saw (`listening_s`: seconds from spawn to the `listening` line, the image's cold start)
and exits 0 when the bot delivered a working token privately and exited 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sandbox import slack_requests as sr
from sandbox.world import SIGNING_SECRET, Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="host directory for the bot's config files")
    parser.add_argument("--inner", default="/tmp/smoke", help="where COMMAND mounts --dir inside the image")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND... that runs a program in the image")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    args.dir.mkdir(parents=True, exist_ok=True)
    args.dir.chmod(0o755)
    with Sandbox(start_bot=False, workdir=args.dir) as box:
        env = {k: v.replace(str(args.dir), args.inner) for k, v in box.env.items()}
        env["ROK_BOT_LOG_LEVEL"] = "WARNING"
        # The config directory is mounted read-only; the store goes where a pod's volume would be (/tmp here).
        env["ROK_BOT_DATA_DIR"] = "/tmp/rok-token-bot-state"
        cmd = [*command, *(f"{k}={v}" for k, v in env.items()), "rok-token-bot", "serve"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr: list[str] = []
        drain = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
        drain.start()
        seen: dict[str, object] = {}
        try:
            first = _readline(proc, args.timeout)
            url = json.loads(first)["listening"]
            seen["listening"] = True
            # The image's cold start on this machine: spawn (entering the read-only root included) to the line
            # `serve` prints once ready and its job workers started (a fresh database, the fakes' 2 users).
            seen["listening_s"] = round(time.perf_counter() - started, 3)
            healthz = box._http.get(url + "/healthz").json()
            seen["healthz"] = healthz.get("status")
            fields = sr.slash_command(
                user_id="U0JDOE", text="1h", team_id=box.slack.team_id, response_url=box.slack.new_response_url()
            )
            ack = sr.signed_post(url + "/slack/events", sr.form_body(fields), SIGNING_SECRET, client=box._http)
            seen["ack"] = ack.status_code
            reply = box.wait_private("U0JDOE", timeout=args.timeout)[-1]
            seen["token_delivered"] = reply.token is not None and box.rok.lookup(reply.token) is not None
            proc.send_signal(signal.SIGTERM)
            seen["exit"] = proc.wait(timeout=args.timeout)
        except Exception as exc:
            seen["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            drain.join(5)
        ok = seen.get("exit") == 0 and seen.get("token_delivered") is True and seen.get("ack") == 200
        print(json.dumps(seen))
        if not ok:
            print("".join(stderr[-40:]), file=sys.stderr)
        return 0 if ok else 1


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """The bot's first stdout line, or TimeoutError."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or not line[0]:
        raise TimeoutError(f"serve printed no 'listening' line within {timeout:.0f} s")
    return line[0]


if __name__ == "__main__":
    sys.exit(main())
