"""Real databases for integration tests.

`db_url` runs a test once on SQLite (a temp file) and once on PostgreSQL, each time
on a fresh database migrated to head; `empty_db_url` is the same before migration.

PostgreSQL is the server named by ``HOTLINE_TEST_PG_URL`` (e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``; its user must be allowed
to create databases), or else a throw-away cluster started once per session from
Debian's binaries (``/usr/lib/postgresql/15/bin``, or ``HOTLINE_TEST_PG_BINDIR``):
``initdb`` in a temp dir, trust auth, listening on 127.0.0.1 on a free port only.

`stoppable_pg` is a cluster of the test's own that it may stop and start again (the
spool's outage test); it is skipped when ``HOTLINE_TEST_PG_URL`` names the server.

`clock` (stopped at a Monday 9:00 ICT), `fake` (the fake Zalo on it) and `http` (a
client whose requests go to the fake) serve the Zalo tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.store import CallLogStore
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.pg import PG_URL_ENV, StoppablePostgres, pg_bindir
from tests.zalo_fake import FakeZalo


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL maintenance database we may CREATE DATABASE from."""
    if url := os.environ.get(PG_URL_ENV):
        yield url
        return
    with _throwaway_cluster(pg_bindir()) as url:
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
    """A cluster for the whole session; on exit, stopped and its directory deleted."""
    cluster = StoppablePostgres(bindir)
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.destroy()


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a migrated database (SQLite and PostgreSQL)."""
    engine = make_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> CallLogStore:
    """The SQL call log on a migrated database (SQLite and PostgreSQL)."""
    return CallLogStore(sessions)


@pytest.fixture
def stoppable_pg() -> Iterator[StoppablePostgres]:
    """A running PostgreSQL of this test's own, to stop and start (see the class)."""
    if os.environ.get(PG_URL_ENV):
        pytest.skip(f"{PG_URL_ENV} names an external server, which a test must not stop")
    cluster = StoppablePostgres(pg_bindir())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9AM_ICT, running=False)


@pytest.fixture
def fake(clock: FakeClock) -> FakeZalo:
    return FakeZalo(clock)


@pytest.fixture
async def http(fake: FakeZalo) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield client
