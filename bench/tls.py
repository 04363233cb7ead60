"""What a Slack Web API call costs the bot's CPU over HTTPS, with and without one shared TLS context.

    .venv/bin/python -m bench.tls [--calls 50]       # ~10 s

slack_sdk's WebClient calls urllib; given no `ssl` context, every call makes a default one, which reads the
system's CA store (`bot.bootstrap.core.tls_context` gives every Slack client one, made once). The sandbox's
Slack is plain HTTP, so `bench.run` cannot see it: here an HTTPS server on 127.0.0.1 (`sandbox.tls`) answers
`auth.test`, its throwaway CA appended to this machine's CA store (SSL_CERT_FILE), so that a default context
reads as many certificates as in production. Each call still makes a TLS handshake (urllib keeps no
connection). Printed: the CPU seconds of this process per call (its own and the server's thread's), median of 3
rounds, and the wall time per call.
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from slack_sdk import WebClient

from sandbox.tls import https_server, issue_certificate


def _round(client: WebClient, calls: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        client.auth_test()
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="rok-bench-tls-"))
    ca, cert, key = issue_certificate(tmp, "bench")
    system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    store = tmp / "store.pem"
    store.write_bytes((system.read_bytes() if system.exists() else b"") + ca.read_bytes())
    os.environ["SSL_CERT_FILE"] = str(store)
    certificates = store.read_bytes().count(b"-----BEGIN CERTIFICATE-----")
    server, url = https_server(cert, key)
    try:
        shared = ssl.create_default_context()
        clients = {
            "a default context per call (before)": WebClient(token="xoxb-bench", base_url=url),
            "one shared context (bot.bootstrap.core.tls_context)": WebClient(
                token="xoxb-bench", base_url=url, ssl=shared
            ),
        }
        rows: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for _ in range(3):
            for name, client in clients.items():
                rows[name].append(_round(client, args.calls))
        print(
            f"Slack auth.test over HTTPS on 127.0.0.1, {args.calls} calls x 3 rounds, "
            f"CA store: {certificates} certificates"
        )
        for name, results in rows.items():
            cpu = statistics.median(r[0] for r in results) * 1000
            wall = statistics.median(r[1] for r in results) * 1000
            print(f"  {name:55s} CPU {cpu:6.2f} ms/call   wall {wall:6.2f} ms/call")
        started = time.process_time()
        for _ in range(20):
            ssl.create_default_context()
        print(f"  ssl.create_default_context() alone: {(time.process_time() - started) / 20 * 1000:.2f} ms of CPU")
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
