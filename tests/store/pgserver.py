"""A throwaway PostgreSQL server for the tests: initdb in a temporary directory, on 127.0.0.1, no fsync.

Used when ROK_BOT_TEST_POSTGRES_URL is not set (CI sets it: .ci/run starts its own server) and the
PostgreSQL server binaries are installed (Debian: `apt-get install postgresql`). As root, the server runs
as the `postgres` user through `runuser`, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: the newest /usr/lib/postgresql/N/bin, else the PATH's."""

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version, reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(which)
    for pg_ctl in candidates:
        bindir = Path(pg_ctl).resolve().parent
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throwaway server; `url` connects as the `postgres` superuser to database `postgres`."""

    bindir: Path
    root: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> PostgresServer | None:
        """Start one, or None when that is impossible here (no binaries; root without a postgres user)."""
        bindir = find_bindir()
        if bindir is None:
            return None
        as_user: list[str] = []
        root = Path(tempfile.mkdtemp(prefix="rok-pg-"))
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                return None
            os.chown(root, account.pw_uid, account.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        server = cls(bindir=bindir, root=root, port=_free_port(), as_user=as_user)
        try:
            server._run(
                "initdb",
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            )
            server.resume()
        except subprocess.CalledProcessError as exc:
            log = root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"could not start PostgreSQL from {bindir}: {exc.stderr}\n{tail}") from exc
        return server

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bindir / tool), *args], check=True, capture_output=True, text=True)

    def resume(self) -> None:
        """Start (or start again, after `pause`) the server on its data directory and port."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        data, log = str(self.root / "data"), str(self.root / "log")
        self._run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start")

    def pause(self) -> None:
        """Stop the server, keeping its data (a restart or failover, as clients see it): `resume` brings it back."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def fresh_databases(admin_url: str, *, prefix: str) -> Iterator[Callable[[], str]]:
    """`make()` creates an empty database on the server behind `admin_url` (a superuser URL) and returns its
    URL; every database made is dropped on exit, even with sessions still open."""
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []
    numbers = itertools.count()

    def make() -> str:
        name = f"{prefix}_{os.getpid()}_{next(numbers)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
