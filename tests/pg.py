"""Throw-away PostgreSQL clusters from Debian's binaries, for integration and e2e tests.

`initdb` in a temp dir (as user `postgres` when run as root), trust auth, listening
on 127.0.0.1 on a free port only, durability off (tests only).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_URL_ENV = "HOTLINE_TEST_PG_URL"
PG_BINDIR_ENV = "HOTLINE_TEST_PG_BINDIR"
DEFAULT_PG_BINDIR = "/usr/lib/postgresql/15/bin"


def pg_bindir() -> Path:
    return Path(os.environ.get(PG_BINDIR_ENV, DEFAULT_PG_BINDIR))


class StoppablePostgres:
    """A throw-away cluster of one test's own (initdb in a temp dir, like
    `_throwaway_cluster`), which the test may `stop()` and `start()` again: the same
    data, port and `url` each time."""

    def __init__(self, bindir: Path, root: Path | None = None) -> None:
        missing = [name for name in ("initdb", "pg_ctl") if not (bindir / name).is_file()]
        if missing:
            pytest.fail(
                f"PostgreSQL binaries {missing} not found in {bindir}: install Debian's "
                f"postgresql-15 package, set {PG_BINDIR_ENV} to another bin directory, or set "
                f"{PG_URL_ENV} to an existing server",
                pytrace=False,
            )
        self._bindir = bindir
        # `root` (the benchmarks' --pg-dir): a cluster kept there, made once and reused
        self._root = (root or Path(tempfile.mkdtemp(prefix="hotline-pg-stoppable-"))).resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self._data, self._log = self._root / "data", self._root / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
            owner = pwd.getpwnam("postgres")
            os.chown(self._root, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        initdb = ("-D", self._data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        if (self._data / "PG_VERSION").exists():
            return
        try:
            self._run("initdb", *initdb)
        except BaseException:
            shutil.rmtree(self._root, ignore_errors=True)
            raise

    @property
    def running(self) -> bool:
        return (self._data / "postmaster.pid").exists()

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self._root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "start", "-D", self._data, "-l", self._log, "-w", "-t", "60", "-o", options
        )

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, transactions in progress rolled back."""
        self._run("pg_ctl", "stop", "-D", self._data, "-m", "fast", "-w")

    def destroy(self) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def _run(self, program: str, *args: str | Path) -> None:
        argv = [*self._as_user, str(self._bindir / program), *map(str, args)]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            server_log = self._log.read_text() if self._log.exists() else ""
            pytest.fail(
                f"{' '.join(argv)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{server_log}",
                pytrace=False,
            )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
