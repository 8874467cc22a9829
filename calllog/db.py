"""Engines, sessions and schema migrations for the call log.

URLs: ``sqlite+aiosqlite:///var/hotline.db`` (relative to the working directory;
four slashes for an absolute path) or ``postgresql+asyncpg://user@127.0.0.1:5432/hotline``.
Nothing here runs at import time: the wiring calls these functions once.
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_PACKAGE = "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_MODE = 0o600
PG_CONNECT_TIMEOUT_S = 5.0
"""asyncpg waits 60 s by default for an unreachable server: the spool's retry loop
should see the failure (and back off) much sooner."""
PG_POOL_TIMEOUT_S = 10.0


def make_engine(url: str) -> AsyncEngine:
    """An async engine for `url`, set up for the call log's workload."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database))
        engine = create_async_engine(parsed)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(
            parsed,
            pool_size=5,
            max_overflow=5,
            pool_pre_ping=True,  # survive a database restart without failing a call
            pool_recycle=1800,
            pool_timeout=PG_POOL_TIMEOUT_S,
            connect_args={"timeout": PG_CONNECT_TIMEOUT_S},
        )
    return create_async_engine(parsed, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Alembic configuration for `url`, found from the installed `migrations` package.

    The URL travels in `Config.attributes`, not the ini options, so passwords with
    ``%`` need no escaping. Logging is left as the application configured it.
    """
    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (blocking).

    Runs its own event loop, so it must not be called from a thread with a running
    loop: from async code use `await upgrade_async(url)`.
    """
    _refuse_running_loop("upgrade_async")
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops everything)."""
    _refuse_running_loop("downgrade_async")
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


async def downgrade_async(url: str, revision: str) -> None:
    await asyncio.to_thread(downgrade, url, revision)


def _migrations_dir() -> Path:
    return Path(str(resources.files(MIGRATIONS_PACKAGE)))


def _refuse_running_loop(alternative: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"this blocks and runs its own event loop; from async code use `await {alternative}(url)`"
    )


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds citizens' numbers),
    before SQLite does (0644). SQLite gives its -wal, -shm and -journal files the
    database file's mode, so they are private too. An existing file is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, SQLITE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def _sqlite_on_connect(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
