"""calllog.db against real SQLite files (PostgreSQL is covered by test_calllog_store.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from calllog.db import make_engine, upgrade, upgrade_async


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
