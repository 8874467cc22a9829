"""How soon the wallboard shows a change (issue 15: "updates within 2 s of a change
without reloading"): from the service's own instant of a call event to the DOM change
in a real browser.

Real parts, as in tests/e2e/test_wallboard_browser.py: the embedded Asterisk, `hotline
serve`, the console process following the service's `GET /live`, Debian's headless
Chromium (Playwright) on `/wallboard`, a pjsua2 caller and desk 1401. For each of N
calls (the caller presses 4, the desk answers after a second, they talk, the caller
hangs up), three delays:

    menu     the service puts the call in the menu (its `/live` `step_since`)
    talking  the service bridges the call to the desk (`step_since` of `talking`)
    gone     the service closes the call (the call log's `ended_at`)
  -> the first instant the browser's DOM shows it (a MutationObserver on the board:
     the caller's row with that step, or the row gone).

Both ends read this machine's wall clock (the service's `datetime.now`, the page's
`performance.timeOrigin + performance.now()`). This process follows `/live` itself
(one more long-poll client) to learn the `step_since` instants. Prints p50/p95/max;
asserts nothing:

    .venv/bin/python -m benchmarks.wallboard_latency [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from benchmarks.load_harness import percentile
from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallRecord
from calllog.store import CallLogStore
from console.wallboard import masked
from dialplan.generate import desk_password
from hotline.embedded import embedded_pbx, provision
from hotline.pbx import PbxPorts
from routing.config import load_config
from tests.browser.conftest import CHROMIUM, _free_port, console_process
from tests.e2e.conftest import REPO, _start_service, _stop_service, e2e_config, throwaway_settings
from tests.e2e.phones import SipStack

PASSWORD = "mật khẩu đo bảng 2026"
EVENTS = ("menu", "talking", "gone")
OBSERVER = """() => {
  const board = document.getElementById("board");
  window.__seen = {};
  const look = () => {
    const at = performance.timeOrigin + performance.now();
    const shown = new Set();
    board.querySelectorAll("tr[data-caller]").forEach((row) => {
      const caller = row.dataset.caller, seen = (window.__seen[caller] ??= {});
      shown.add(caller);
      seen[row.dataset.step] ??= at;
    });
    for (const [caller, seen] of Object.entries(window.__seen)) {
      if (!shown.has(caller)) { seen.gone ??= at; }
    }
  };
  new MutationObserver(look).observe(board, {childList: true, subtree: true});
  look();
}"""


class LiveFollower(threading.Thread):
    """Follows the service's `/live` and keeps, per caller number, the `step_since` of
    each step its call went through (epoch seconds)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.steps: dict[str, dict[str, float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        version: int | None = None
        with httpx.Client(timeout=10.0) as http:
            while not self.stop.is_set():
                params = {} if version is None else {"after": str(version), "wait": "2"}
                try:
                    snapshot: dict[str, Any] = http.get(self.url, params=params).json()
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue
                version = snapshot["version"]
                for call in snapshot["calls"]:
                    seen = self.steps.setdefault(call["caller_number"], {})
                    since = datetime.fromisoformat(call["step_since"]).timestamp()
                    seen.setdefault(call["step"], since)


def _log_in(page: Page, url: str) -> None:
    page.goto(url + "login")
    page.get_by_label("Tên đăng nhập").fill("bang")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(url)
    page.goto(url + "wallboard")
    page.wait_for_selector("#board[data-events]")


def _records(db_url: str) -> list[CallRecord]:
    async def read() -> list[CallRecord]:
        engine = make_engine(db_url)
        try:
            return await CallLogStore(make_sessionmaker(engine)).list_calls(limit=1000)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _p95(values: list[float]) -> float:
    p95 = percentile(values, 95)
    assert p95 is not None
    return p95


def main(calls: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hotline-wallboard-latency-"))
    config_path = e2e_config(REPO / "config" / "hotline.yaml", tmp / "hotline.yaml")
    config = load_config(config_path)
    settings = throwaway_settings(config_path, tmp)
    pbx = embedded_pbx(settings, name=f"bench-wb-{os.getpid()}", ports=PbxPorts.free())
    provision(pbx, config, settings)
    pbx.start()
    service = _start_service(settings, pbx, tmp / "service.log")
    follower = LiveFollower(f"http://127.0.0.1:{settings.health_port}/live")
    follower.start()
    port = _free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": settings.database_url,
           "HOTLINE_SECRETS_FILE": str(tmp / "no-secrets.env"),
           "HOTLINE_CONSOLE_SECRET": secrets.token_urlsafe(32),
           "HOTLINE_CONSOLE_HOST": "127.0.0.1", "HOTLINE_CONSOLE_PORT": str(port),
           "HOTLINE_CONSOLE_SERVICE_URL": f"http://127.0.0.1:{settings.health_port}",
           "HOTLINE_CONFIG": str(config_path), "HOTLINE_LOG_LEVEL": "warning"}
    sip = SipStack()
    shown: dict[str, dict[str, float]] = {}
    numbers: list[str] = []
    try:
        registrar = f"127.0.0.1:{pbx.ports.sip}"
        secret = settings.sip_secret.get_secret_value()
        desk = sip.phone("1401", registrar, desk_password(secret, "1401"), auto_answer=True)
        desk.answer_after = 1.0
        sip.wait_until(lambda: desk.registered, 10, "desk registration")
        with console_process(port, env, tmp, "bang", "viewer", PASSWORD) as console, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                 args=["--no-sandbox"])
            page = browser.new_page(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
            _log_in(page, console.url)
            page.evaluate(OBSERVER)

            def until_shown(number: str, event: str, timeout: float) -> None:
                def seen() -> bool:
                    found: bool = page.evaluate(
                        "([c, e]) => (window.__seen[c] ?? {})[e] != null",
                        [masked(number), event])
                    return found

                sip.wait_until(seen, timeout, f"{number}: {event} on the wallboard")

            for n in range(calls):
                number = f"0919{os.getpid() % 1000:03d}{n:03d}"
                numbers.append(number)
                caller = sip.phone(number, registrar)
                call = caller.call(config.hotline.number)
                until_shown(number, "menu", 15)
                sip.pump(0.5)
                call.send_digits("4")
                until_shown(number, "talking", 20)
                sip.pump(1.0)
                call.hangup_now()
                until_shown(number, "gone", 15)
                sip.pump(1.0)
                for desk_call in desk.calls:
                    if not desk_call.disconnected:
                        desk_call.hangup_now()
                desk.forget_calls()
                sip.retire(caller)
            shown = page.evaluate("() => window.__seen")
            browser.close()
    finally:
        follower.stop.set()
        sip.close()
        _stop_service(service)
        pbx.stop()
        pbx.remove()
    ended = {r.caller_number: r.ended_at for r in _records(settings.database_url)}
    delays: dict[str, list[float]] = {e: [] for e in EVENTS}
    for number in numbers:
        at = shown[masked(number)]
        service_at = {**follower.steps.get(number, {})}
        if (end := ended.get(number)) is not None:
            service_at["gone"] = end.timestamp()
        for event in EVENTS:
            if event in at and event in service_at:
                delays[event].append(at[event] / 1000 - service_at[event])
    print(f"\nwallboard: service event -> browser DOM, {calls} calls (ms)")
    print(f"{'event':<10}{'n':>4}{'p50':>8}{'p95':>8}{'max':>8}{'min':>8}")
    for event, values in delays.items():
        if values:
            ms = [v * 1000 for v in values]
            print(f"{event:<10}{len(ms):>4}{statistics.median(ms):>8.0f}"
                  f"{_p95(ms):>8.0f}{max(ms):>8.0f}{min(ms):>8.0f}")
        else:
            print(f"{event:<10}{0:>4}  (not measured)")
    everything = [v * 1000 for values in delays.values() for v in values]
    if everything:
        print(f"{'all':<10}{len(everything):>4}{statistics.median(everything):>8.0f}"
              f"{_p95(everything):>8.0f}{max(everything):>8.0f}"
              f"{min(everything):>8.0f}")
    print(f"(logs in {tmp})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    main(parser.parse_args().calls)
