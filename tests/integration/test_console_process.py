"""The console as the child process `hotline serve --embedded` starts beside the service:
it migrates a fresh database, answers on its port, and stops with the service."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path

import httpx
import pytest

from hotline.console_wiring import spawn_console, stop_console

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_spawned_console_serves_the_login_page_on_a_fresh_database_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("HOTLINE_CONSOLE_SECRET", secrets.token_urlsafe(24))
    monkeypatch.setenv("HOTLINE_CONSOLE_PORT", str(port))
    child = spawn_console()
    try:
        deadline = time.monotonic() + 60
        page = None
        while page is None and time.monotonic() < deadline and child.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True, timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200
        assert "Đăng nhập" in page.text
        assert (tmp_path / "h.db").stat().st_mode & 0o077 == 0  # migrated, private
    finally:
        stop_console(child)
    assert child.returncode is not None
