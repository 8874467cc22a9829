"""calllog.db against real SQLite files (PostgreSQL is covered by test_calllog_store.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from calllog.db import make_engine, upgrade, upgrade_async
from tests.filemodes import born_private, mode

__all__ = ["born_private"]


async def test_sqlite_engine_creates_the_directory_and_turns_on_wal_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'db' / 'hotline.db'}")
    try:
        async with engine.connect() as connection:
            assert (await connection.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await connection.scalar(text("PRAGMA foreign_keys"))) == 1
    finally:
        await engine.dispose()
    assert (tmp_path / "var" / "db" / "hotline.db").is_file()


def test_upgrade_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    upgrade("sqlite+aiosqlite:///var/hotline.db")  # relative to the cwd, like the CLI
    upgrade("sqlite+aiosqlite:///var/hotline.db")  # already at head: nothing to do
    assert (tmp_path / "var" / "hotline.db").is_file()


async def test_upgrade_async_leaves_the_running_loop_free(tmp_path: Path) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async with asyncio.TaskGroup() as tasks:
        ticker = tasks.create_task(tick())
        await upgrade_async(f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}")
        ticker.cancel()
    assert ticks > 1


@pytest.mark.usefixtures("born_private")
async def test_sqlite_call_log_and_its_wal_files_are_created_private(tmp_path: Path) -> None:
    """Citizens' numbers: the database, its -wal and -shm are 0600 from their creation."""
    path = tmp_path / "var" / "hotline.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE probe (number TEXT)"))
            await connection.execute(text("INSERT INTO probe VALUES ('0912345678')"))
            files = sorted(p.name for p in path.parent.iterdir())
            assert files == ["hotline.db", "hotline.db-shm", "hotline.db-wal"]
            assert {name: mode(path.parent / name) for name in files} == dict.fromkeys(
                files, 0o600)
    finally:
        await engine.dispose()
    assert mode(path) == 0o600
