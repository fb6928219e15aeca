"""A throwaway PostgreSQL cluster for tests: initdb in a temporary directory, started
on a free port of 127.0.0.1 (and a Unix socket in that directory), stopped and deleted
afterwards.

PostgreSQL refuses to run as root: when the tests run as root, the server programs run
as the ``postgres`` user (``runuser``), which owns the cluster's directory. Needs the
server binaries (Debian: ``apt-get install postgresql``); :func:`find_pg_bin` finds them
on PATH or under ``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "hcs"
TIMEOUT_S = 60


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """A PostgreSQL server of its own for the tests (see the module's docstring)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="hcs-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # KeyError: no such user
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self._started = False

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._prefix, *args],
            check=True,
            capture_output=True,
            timeout=TIMEOUT_S,
            cwd=self.root,
        )

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(TIMEOUT_S),
            "start",
        )
        self._started = True

    def create_database(self, name: str) -> str:
        """Create a database; returns its URI."""
        self._run(
            str(self.bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            name,
        )
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server (immediately) and delete the cluster."""
        try:
            if self._started:
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    str(TIMEOUT_S),
                    "stop",
                )
                self._started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster | None]:
    """A started cluster, or None when PostgreSQL is not installed."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        yield None
        return
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
