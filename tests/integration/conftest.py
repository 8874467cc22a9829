"""Real databases for integration tests.

`db_url` runs a test once on SQLite (a temp file) and once on PostgreSQL, each time
on a fresh database migrated to head; `empty_db_url` is the same before migration.

PostgreSQL is the server named by ``HOTLINE_TEST_PG_URL`` (e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``; its user must be allowed
to create databases), or else a throw-away cluster started once per session from
Debian's binaries (``/usr/lib/postgresql/15/bin``, or ``HOTLINE_TEST_PG_BINDIR``):
``initdb`` in a temp dir, trust auth, listening on 127.0.0.1 on a free port only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.store import CallLogStore

PG_URL_ENV = "HOTLINE_TEST_PG_URL"
PG_BINDIR_ENV = "HOTLINE_TEST_PG_BINDIR"
DEFAULT_PG_BINDIR = "/usr/lib/postgresql/15/bin"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL maintenance database we may CREATE DATABASE from."""
    if url := os.environ.get(PG_URL_ENV):
        yield url
        return
    with _throwaway_cluster(Path(os.environ.get(PG_BINDIR_ENV, DEFAULT_PG_BINDIR))) as url:
        yield url


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'calllog.db'}"
        return
    server = make_url(request.getfixturevalue("pg_server_url"))
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def db_url(empty_db_url: str) -> str:
    await upgrade_async(empty_db_url)
    return empty_db_url


@contextmanager
def _throwaway_cluster(bindir: Path) -> Iterator[str]:
    """initdb + pg_ctl start in a temp dir; on exit, stop the server and delete the dir."""
    missing = [name for name in ("initdb", "pg_ctl") if not (bindir / name).is_file()]
    if missing:
        pytest.fail(
            f"PostgreSQL binaries {missing} not found in {bindir}: install Debian's "
            f"postgresql-15 package, set {PG_BINDIR_ENV} to another bin directory, or set "
            f"{PG_URL_ENV} to an existing server",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    data, log = root / "data", root / "postgres.log"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(program: str, *args: str | Path) -> None:
        argv = [*as_user, str(bindir / program), *map(str, args)]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(
                f"{' '.join(argv)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{server_log}",
                pytrace=False,
            )

    try:
        run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run("pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", "60", "-o", options)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            run("pg_ctl", "stop", "-D", data, "-m", "fast", "-w")
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[CallLogStore]:
    """The SQL call log on a migrated database (SQLite and PostgreSQL)."""
    engine = make_engine(db_url)
    try:
        yield CallLogStore(make_sessionmaker(engine))
    finally:
        await engine.dispose()
