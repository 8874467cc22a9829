"""The service's cost of serving the wallboard's live state (issue 15): `GET /live`
long-polled by N clients while M calls in progress change step at R changes/s.

A child process runs what the service runs for this (the `HealthServer` with
`ivr.live.LiveCalls`, the real clock) plus a simulator moving the M fake calls
through their steps; this process holds N long-poll clients (`?after=<version>`,
like the console) and reads the child's CPU time from /proc. The child's CPU with no
client is measured too, so the cost of the clients alone is their difference.
Prints a table; numbers only, no assertions:

    .venv/bin/python -m benchmarks.live_endpoint [--seconds 20]
        [--scenario CLIENTS:CALLS:CHANGES_PER_S ...]

Default scenarios: the console alone watching 100 calls at a realistic rate (a call
changes step about 6 times in 3 minutes: 100 calls -> ~3.3 changes/s), 50 clients on
the same (as if every browser asked the service directly), and 50 clients with 100
calls changing 20 times a second (a worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from benchmarks.load_harness import cpu_seconds
from calllog.model import CallRecord
from hotline.clock import SystemClock
from hotline.health import HealthServer, HealthSources
from ivr.live import LiveCalls
from routing.config import load_config
from routing.live import Step

REPO = Path(__file__).resolve().parents[1]
CYCLE: tuple[tuple[Step, tuple[str, ...]], ...] = (
    ("answering", ()), ("menu", ()), ("ringing", ("1401",)), ("ringing", ("1402",)),
    ("talking", ("1402",)), ("survey", ()),
)
DEFAULT_SCENARIOS = ["0:100:3.3", "1:100:3.3", "50:100:3.3", "0:100:20", "50:100:20"]


# --- the child: the service's side ---------------------------------------------------


async def serve(calls: int, rate: float) -> None:
    """Serve `/live` on a free loopback port (printed on stdout) and move the calls."""
    clock = SystemClock()
    config = load_config(REPO / "config" / "hotline.yaml")
    live = LiveCalls(clock, lambda: config)
    records = []
    for n in range(calls):
        record = CallRecord(call_id=f"1795456{n:03d}.{n}", caller_number=f"0939{n:06d}",
                            started_at=clock.now() - timedelta(seconds=n))
        record.branch_key, record.branch_name, record.agency = 4, "Cải cách", "VP UBND"
        records.append(record)
        live.step(record, "menu")
    live.desks_seen({d.extension: True for d in config.desks})
    server = await HealthServer(HealthSources(
        ari_connected=lambda: True, active_calls=lambda: len(live),
        calls_by_outcome=dict, reloads=dict,
    ), live=live.json_after).serve("127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    positions = dict.fromkeys(range(calls), 1)  # CYCLE[1]: in the menu
    for n in itertools.cycle(range(calls)):
        await asyncio.sleep(1 / rate)
        positions[n] = (positions[n] + 1) % len(CYCLE)
        step, desks = CYCLE[positions[n]]
        live.step(records[n], step, desks)


# --- this process: the clients ---------------------------------------------------------


@dataclass
class Counts:
    answers: int = 0
    bytes: int = 0


async def long_poll(port: int, counts: Counts, stop: asyncio.Event) -> None:
    version: int | None = None
    while not stop.is_set():
        query = "" if version is None else f"?after={version}&wait=20"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /live{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        body = answer.split(b"\r\n\r\n", 1)[1]
        version = json.loads(body)["version"]
        counts.answers += 1
        counts.bytes += len(body)


async def measure(clients: int, calls: int, rate: float, seconds: float) -> dict[str, float]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.live_endpoint", "--serve", str(calls), str(rate),
        cwd=REPO, stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = b""
        while not line.strip().isdigit():  # after the server's own log lines
            line = await child.stdout.readline()
        port = int(line)
        counts, stop = Counts(), asyncio.Event()
        pollers = [asyncio.create_task(long_poll(port, counts, stop)) for _ in range(clients)]
        await asyncio.sleep(2)  # warm up
        counts.answers = counts.bytes = 0
        cpu0, t0 = cpu_seconds(child.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, elapsed = cpu_seconds(child.pid) - cpu0, time.monotonic() - t0
        answers, size = counts.answers, counts.bytes
        stop.set()
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
    finally:
        child.terminate()
        await child.wait()
    return {"clients": clients, "calls": calls, "changes_per_s": rate,
            "cpu_pct": round(100 * cpu / elapsed, 2), "answers_per_s": round(answers / elapsed, 1),
            "kib_per_answer": round(size / max(answers, 1) / 1024, 1),
            "cpu_ms_per_answer": round(1000 * cpu / answers, 3) if answers else 0.0}


async def main(scenarios: list[str], seconds: float) -> None:
    print(f"{'clients':>7} {'calls':>5} {'chg/s':>6} {'CPU % of a core':>16} "
          f"{'answers/s':>10} {'KiB/answer':>10} {'CPU ms/answer':>13}")
    for scenario in scenarios:
        clients, calls, rate = scenario.split(":")
        row = await measure(int(clients), int(calls), float(rate), seconds)
        print(f"{row['clients']:>7} {row['calls']:>5} {row['changes_per_s']:>6} "
              f"{row['cpu_pct']:>16} {row['answers_per_s']:>10} {row['kib_per_answer']:>10} "
              f"{row['cpu_ms_per_answer']:>13}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(int(sys.argv[2]), float(sys.argv[3])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--seconds", type=float, default=20.0)
        parser.add_argument("--scenario", action="append", dest="scenarios",
                            help="CLIENTS:CALLS:CHANGES_PER_S (repeatable)")
        args = parser.parse_args()
        asyncio.run(main(args.scenarios or DEFAULT_SCENARIOS, args.seconds))
