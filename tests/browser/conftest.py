"""The real console in real headless Chromium.

`console` starts `python -m hotline.cli console` on a free loopback port, on a fresh
SQLite file (the console migrates it at start), with an admin made by the CLI
(`hotline users add admin --role admin --password-stdin`). `browser` is Debian's
Chromium (`apt-get install chromium`, scripts/install-system-deps.sh) driven by PyPI
playwright through its `executable_path`: `playwright install` is never needed.

With HOTLINE_SCREENSHOTS=1 the tests write the pages they see to docs/console/.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "console"
ADMIN_PASSWORD = "mật khẩu quản trị 2026"
START_SECONDS = 60.0


@dataclass(frozen=True)
class RunningConsole:
    url: str
    env: dict[str, str]
    log: Path

    def hotline(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hotline.cli", *args], input=stdin,
                              env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"the console exited ({child.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(url + "login", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the console did not answer within {START_SECONDS} s:\n{log.read_text()}")


@contextlib.contextmanager
def console_process(
    port: int, env: dict[str, str], tmp: Path, username: str, role: str, password: str,
) -> Iterator[RunningConsole]:
    """`python -m hotline.cli console` with `env`, and a user made by the CLI first
    (`hotline users add ... --password-stdin`); stopped on leaving."""
    running = RunningConsole(f"http://127.0.0.1:{port}/", env, tmp / "console.log")
    added = running.hotline("users", "add", username, "--role", role, "--password-stdin",
                            stdin=password + "\n")
    assert added.returncode == 0, added.stderr
    with running.log.open("wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "hotline.cli", "console"], env=env,
                                 cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(running.url, child, running.log)
        yield running
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningConsole]:
    tmp = tmp_path_factory.mktemp("console")
    port = _free_port()
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'hotline.db'}",
        "HOTLINE_SECRETS_FILE": str(tmp / "no-secrets.env"),
        "HOTLINE_CONSOLE_SECRET": secrets.token_urlsafe(32),
        "HOTLINE_CONSOLE_HOST": "127.0.0.1",
        "HOTLINE_CONSOLE_PORT": str(port),
        "HOTLINE_CONFIG": str(ROOT / "config" / "hotline.yaml"),
        "HOTLINE_PROMPTS_HOST_DIR": str(tmp / "sounds"),  # announcements' audio
    }
    with console_process(port, env, tmp, "admin", "admin", ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/install-system-deps.sh")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN",
                                  timezone_id="Asia/Ho_Chi_Minh")
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> None:
    """docs/console/<name>.png, when HOTLINE_SCREENSHOTS=1."""
    if os.environ.get("HOTLINE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
