"""The service's cost of the wallboard (issue 15): N browsers on the console's
`/wallboard/events` (Server-Sent Events) while M calls in progress in the service's
registry change step R times a second.

Three processes, as in production: the service's side (`benchmarks.live_endpoint
--serve`: the real `HealthServer` and `ivr.live.LiveCalls`, fake calls moving through
their steps), the real console (`hotline console` on a throw-away SQLite file, its one
follower long-polling the service's `/live`), and this process holding the browsers
(logged in, each on its own connection). CPU of the service and of the console comes
from /proc. Prints a table; numbers only, no assertions:

    .venv/bin/python -m benchmarks.wallboard_fanout [--seconds 20]
        [--scenario BROWSERS:CALLS:CHANGES_PER_S ...]

A scenario with browsers = -1 runs the service with no console at all (its baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.load_harness import cpu_seconds

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "mật khẩu đo tải 2026"
DEFAULT_SCENARIOS = ["-1:100:3.3", "0:100:3.3", "50:100:3.3", "50:100:20"]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Counts:
    events: int = 0
    bytes: int = 0


async def _service(calls: int, rate: float) -> tuple[asyncio.subprocess.Process, int]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.live_endpoint", "--serve", str(calls), str(rate),
        cwd=REPO, stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    line = b""
    while not line.strip().isdigit():
        line = await child.stdout.readline()
        if not line:
            raise RuntimeError("the service side exited")
    return child, int(line)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _console(service_port: int, tmp: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'c.db'}",
           "HOTLINE_SECRETS_FILE": str(tmp / "none.env"),
           "HOTLINE_CONSOLE_SECRET": secrets.token_urlsafe(32),
           "HOTLINE_CONSOLE_PORT": str(port), "HOTLINE_LOG_LEVEL": "warning",
           "HOTLINE_CONSOLE_SERVICE_URL": f"http://127.0.0.1:{service_port}",
           "HOTLINE_CONFIG": str(REPO / "config" / "hotline.yaml")}
    adding = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "users", "add", "bench", "--role", "viewer",
        "--password-stdin", env=env, cwd=REPO, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await adding.communicate((PASSWORD + "\n").encode())
    assert adding.returncode == 0, "hotline users add failed"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "console", env=env, cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/login")).status_code == 200:
                    return child, url
            await asyncio.sleep(0.1)
    child.kill()
    raise RuntimeError("the console did not start")


async def _log_in(http: httpx.AsyncClient) -> None:
    found = _TOKEN.search((await http.get("/login")).text)
    assert found is not None
    answer = await http.post("/login", data={"username": "bench", "password": PASSWORD,
                                             "csrf_token": found.group(1)})
    assert answer.status_code == 303, answer.status_code


async def _browser(url: str, cookies: httpx.Cookies, counts: Counts) -> None:
    async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=None) as http, \
            http.stream("GET", "/wallboard/events") as stream:
        async for line in stream.aiter_lines():
            counts.bytes += len(line) + 1
            if line.startswith("event: board"):
                counts.events += 1


async def measure(browsers: int, calls: int, rate: float, seconds: float) -> dict[str, float]:
    service, service_port = await _service(calls, rate)
    console: asyncio.subprocess.Process | None = None
    tasks: list[asyncio.Task[None]] = []
    counts = Counts()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if browsers >= 0:
                console, url = await _console(service_port, Path(tmp))
                async with httpx.AsyncClient(base_url=url) as http:
                    await _log_in(http)
                    cookies = http.cookies
                tasks = [asyncio.create_task(_browser(url, cookies, counts))
                         for _ in range(browsers)]
            await asyncio.sleep(3)  # warm up: everyone connected and following
            counts.events = counts.bytes = 0
            s0 = cpu_seconds(service.pid)
            c0 = cpu_seconds(console.pid) if console else 0.0
            t0 = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - t0
            service_cpu = cpu_seconds(service.pid) - s0
            console_cpu = (cpu_seconds(console.pid) - c0) if console else 0.0
            events, size = counts.events, counts.bytes
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if console is not None:
                console.terminate()
                await console.wait()
    finally:
        service.terminate()
        await service.wait()
    return {"browsers": browsers, "calls": calls, "rate": rate,
            "service_pct": round(100 * service_cpu / elapsed, 2),
            "console_pct": round(100 * console_cpu / elapsed, 1),
            "events_per_browser_s": round(events / max(browsers, 1) / elapsed, 2),
            "kib_per_event": round(size / max(events, 1) / 1024, 1)}


async def main(scenarios: list[str], seconds: float) -> None:
    print(f"{'browsers':>8} {'calls':>5} {'chg/s':>6} {'service CPU %':>14} "
          f"{'console CPU %':>14} {'events/s/browser':>17} {'KiB/event':>10}")
    for scenario in scenarios:
        browsers, calls, rate = scenario.split(":")
        row = await measure(int(browsers), int(calls), float(rate), seconds)
        shown = "none" if row["browsers"] < 0 else str(row["browsers"])
        print(f"{shown:>8} {row['calls']:>5} {row['rate']:>6} {row['service_pct']:>14} "
              f"{row['console_pct']:>14} {row['events_per_browser_s']:>17} "
              f"{row['kib_per_event']:>10}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scenario", action="append", dest="scenarios",
                        help="BROWSERS:CALLS:CHANGES_PER_S (repeatable; -1: no console)")
    args = parser.parse_args()
    asyncio.run(main(args.scenarios or DEFAULT_SCENARIOS, args.seconds))
