"""The CLI's commands in process against a temp SQLite file: the database the tests
seed and read back, and a runner that returns what the operator would read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.store import CallLogStore
from hotline import cli

Run = Callable[..., tuple[int, str, str]]
T = TypeVar("T")


def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a temp SQLite file the CLI is pointed at (no secrets file, no logging)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)
    return url


def on_store(url: str, work: Callable[[CallLogStore], Awaitable[T]]) -> T:
    """`await work(store)` on the database at `url` (migrated first)."""

    async def run() -> T:
        await upgrade_async(url)
        engine = make_engine(url)
        try:
            return await work(CallLogStore(make_sessionmaker(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cli_runner(command: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """`hotline <command> *args` in process: its exit code, stdout and stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([command, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
