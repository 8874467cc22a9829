"""Capacity benchmark (issue 17, item 9): 200 callers waiting at once in the branch
queues, with the real embedded Asterisk and `hotline serve`, on this box.

Every desk of the nine branches is registered by one SIPp UAS that answers every
INVITE 486 Busy Here (`sipp/busy_desk.xml`), so each caller finds the branch busy
and queues (`routing.queue.should_queue`). Nine SIPp UACs, one per branch key
(`sipp/queued_caller.xml`), call the hotline, wait out the menu, press the key as
RFC 4733 events, and stay on the line until the steady window is over, plus up
to `--spread` s more (uniform), then hang up; arrivals are spread evenly over the
branches at `--rate` calls/s until `--callers` are placed. Branch queues announce
every `--announce-every` s (`max_wait_seconds` 3600: nobody is sent to the message
path), with the branch's music (`--music`) in between.

Measured over a steady window of `--steady` s with every caller waiting: CPU
(utime+stime from /proc/<pid>/stat) of the service and of Asterisk, as CPU seconds
per waiting caller per minute; their RSS; the announcements played; the load
average. Then, from the call log after everyone hung up: whether every announced
position was right (`benchmarks.queue_positions`), how the callers left the queue,
callers the hotline hung up on, and warnings and errors in the service's and
Asterisk's logs.
Prints a summary, writes JSON. Numbers only, no assertions:

    .venv/bin/python -m benchmarks.queue_capacity [--callers 200] [--steady 180]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from benchmarks.load_harness import (
    DTMF_PCAP_DIR,
    REPO,
    BenchError,
    LoadBench,
    _parse_log,
    _Sampler,
    _stop_sipp,
    cpu_seconds,
    free_port,
    free_udp_pair,
    rss_kib,
    write_prompt_overrides,
)
from benchmarks.queue_positions import QUEUE_KINDS, PositionCheck, QueueEvent, check_positions
from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallRecord
from calllog.store import CallLogStore
from hotline.embedded import embedded_pbx, provision
from hotline.pbx import TEST_TRUNK_ADDRESS, PbxPorts
from routing.config import load_config
from tests.e2e.conftest import throwaway_settings

RESULTS = Path(__file__).resolve().parent / "results"
RTP_START = 20000
"""Below the ephemeral range; e2e sessions use 10000-19999 (as `benchmarks.load`)."""
LATE_S = 60.0
"""How long past the ramp and `--settle` the window waits for every caller to queue."""
CALLER_PREFIX = "0977"
"""Caller numbers: 0977 + branch key + 0 + SIPp's call number."""


def queue_config(out: Path, announce_every: int, music: str) -> Path:
    """The shipped YAML, open round the clock, survey off, every branch queueing with
    announcements every `announce_every` s and a wait nobody reaches in the run."""
    data = yaml.safe_load((REPO / "config" / "hotline.yaml").read_text(encoding="utf-8"))
    data["hours"].update(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         periods=["00:00-24:00"], holidays=[], extra_working_days=[])
    for branch in data["branches"]:
        branch["survey"] = False
        branch["queue"] = {"enabled": True, "announce_every_seconds": announce_every,
                           "max_wait_seconds": 3600, "music": music}
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


class QueueBench(LoadBench):
    """`LoadBench`'s PBX and service, with every desk of every branch registered by
    one SIPp UAS (started by `busy_desks`) that answers busy."""

    def __init__(self, *, announce_every: int, music: str, rtp_ports: int, keep: bool) -> None:
        super().__init__(rtp_ports=rtp_ports, keep=keep)
        self.announce_every = announce_every
        self.music = music

    def start(self) -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # Asterisk: 2 sockets per leg
        config_path = queue_config(self.tmp / "hotline.yaml", self.announce_every,
                                   self.music)
        self.config = load_config(config_path)
        self.desks = [desk for branch in self.config.branches for desk in branch.desks]
        settings = throwaway_settings(config_path, self.tmp)
        self.settings = settings.model_copy(
            update={"prompt_overrides": write_prompt_overrides(self.tmp / "prompts")})
        ports = PbxPorts(sip=free_port(socket.SOCK_DGRAM), http=free_port(), ami=free_port(),
                         rtp_start=RTP_START, rtp_end=RTP_START + self.rtp_ports - 1)
        self.pbx = embedded_pbx(self.settings, name=f"queuecap-{os.getpid()}", ports=ports)
        provision(self.pbx, self.config, self.settings)
        self.pbx.start()
        self.say(f"asterisk up: sip {ports.sip}, rtp {ports.rtp_start}-{ports.rtp_end}")
        self.register_desk()

    def busy_desks(self) -> subprocess.Popen[bytes]:
        scenario = self._scenario("busy_desk.xml", {})
        return subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(self.desk_port),
             "-mp", str(self.desk_media), "-nostdin", "-trace_err",
             "-error_file", str(self.tmp / "desk-errors.log")],
            stdout=subprocess.DEVNULL, stderr=(self.tmp / "desk.stderr").open("wb"),
            cwd=self.tmp,
        )

    def callers(self, key: int, count: int, period_ms: int, hold_ms: tuple[int, int],
                ) -> subprocess.Popen[bytes]:
        """`count` callers choosing branch `key`, one every `period_ms`."""
        scenario = self._scenario("queued_caller.xml", {
            "PROMPT_MS": str(round(self.prompt_seconds * 1000) + 100),
            "DTMF_PCAP": str(DTMF_PCAP_DIR / f"dtmf_2833_{key}.pcap"),
            "HOLD_MIN_MS": str(hold_ms[0]), "HOLD_MAX_MS": str(hold_ms[1])})
        scenario = scenario.rename(scenario.with_name(f"queued_caller_{key}.xml"))
        log = self.tmp / f"callers-{key}.log"
        return subprocess.Popen(
            ["sipp", "-sf", str(scenario), self._sip_target(), "-s", self.config.hotline.number,
             "-i", TEST_TRUNK_ADDRESS, "-p", str(free_port(socket.SOCK_DGRAM)),
             "-mp", str(free_udp_pair()), "-r", "1", "-rp", str(period_ms),
             "-m", str(count), "-l", str(count),
             "-key", "caller_prefix", f"{CALLER_PREFIX}{key}0", "-nostdin",
             "-trace_logs", "-log_file", str(log),
             "-trace_err", "-error_file", str(self.tmp / f"callers-{key}-errors.log"),
             "-recv_timeout", "30000", "-timeout", f"{(hold_ms[1] / 1000) + 600:.0f}s"],
            stdout=subprocess.DEVNULL,
            stderr=(self.tmp / f"callers-{key}.stderr").open("wb"), cwd=self.tmp,
        )


@dataclass
class Window:
    seconds: float
    waiting_start: int
    waiting_end: int
    channels_start: int
    channels_end: int
    service_cpu_s: float
    asterisk_cpu_s: float
    sipp_desk_cpu_s: float
    announcements: int
    load_average_1m: tuple[float, float]
    """At the window's start and end."""

    def per_caller_minute(self, cpu_s: float) -> float:
        waiting = (self.waiting_start + self.waiting_end) / 2
        return round(cpu_s / max(1.0, waiting) / (self.seconds / 60), 5)


async def read_log(url: str, since: datetime) -> tuple[list[CallRecord], list[QueueEvent]]:
    """The benchmark's calls (by caller number) and their queue events."""
    engine = make_engine(url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        calls = [c for c in await store.list_calls(since=since, limit=100_000)
                 if c.caller_number.startswith(CALLER_PREFIX)]
        events = [QueueEvent(e.call_id, e.at, e.kind, dict(e.detail))
                  for c in calls for e in await store.events(c.call_id)
                  if e.kind in QUEUE_KINDS]
    finally:
        await engine.dispose()
    return calls, events


def waiting_now(events: list[QueueEvent]) -> int:
    stays: Counter[str] = Counter()
    for e in events:
        if e.kind == "queue_joined":
            stays[e.call_id] += 1
        elif e.kind == "queue_left":
            stays[e.call_id] -= 1
    return sum(1 for n in stays.values() if n > 0)


def log_problems(path: Path) -> Counter[str]:
    """Lines of the service's log at warning level or above, and tracebacks, by event."""
    found: Counter[str] = Counter()
    if not path.is_file():
        return found
    for line in path.read_text(errors="replace").splitlines():
        if "Traceback" in line:
            found["Traceback"] += 1
            continue
        match = re.search(r"\[(warning|error|critical)\s*\]\s*(.{0,60}?)(?:\s+\w+=|$)", line) or \
            re.search(r'"level": "(warning|error|critical)".*?"event": "([^"]{0,60})', line)
        if match:
            found[f"{match.group(1)}: {match.group(2).strip()}"] += 1
    return found


def asterisk_problems(path: Path) -> Counter[str]:
    """Asterisk's WARNING and ERROR lines, by source and message (numbers and paths cut)."""
    found: Counter[str] = Counter()
    if not path.is_file():
        return found
    for line in path.read_text(errors="replace").splitlines():
        match = re.match(r"\[[^]]*\] (WARNING|ERROR)\[\d+\](?:\[[^]]*\])?:? (\S+) (.{0,80})", line)
        if match:
            message = re.sub(r"[\d.]+: |/\S+", "", match.group(3)).strip()
            found[f"{match.group(1)} {match.group(2)} {message}"] += 1
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    keys = list(range(1, 10))
    per_branch = {k: args.callers // 9 + (1 if k <= args.callers % 9 else 0) for k in keys}
    period_ms = round(9000 / args.rate)  # each branch's SIPp: one call per period
    ramp_s = max(per_branch.values()) * period_ms / 1000
    # Nobody hangs up before the window can have closed (it may open `LATE_S` late).
    hold_min_ms = round((ramp_s + args.settle + LATE_S + args.steady + 20) * 1000)
    hold_ms = (hold_min_ms, hold_min_ms + round(args.spread * 1000))
    started = datetime.now(UTC)
    bench = QueueBench(announce_every=args.announce_every, music=args.music,
                       rtp_ports=args.rtp_ports, keep=args.keep)
    with bench:
        assert bench.pbx is not None
        desk = bench.busy_desks()
        procs: dict[int, subprocess.Popen[bytes]] = {}
        try:
            bench.start_service()
            assert bench.service is not None
            pids = {"service": bench.service.pid, "asterisk": bench.pbx_pid,
                    "sipp desk": desk.pid}
            idle_before = {n: cpu_seconds(p) for n, p in pids.items()}
            time.sleep(5)
            idle = {n: round((cpu_seconds(p) - idle_before[n]) * 1000 / 5, 2)
                    for n, p in pids.items()}
            rss_idle = {"service": rss_kib(pids["service"]), "asterisk": rss_kib(pids["asterisk"])}
            sampler = _Sampler({"service": pids["service"], "asterisk": pids["asterisk"]},
                               interval=1.0)
            sampler.start()
            bench.say(f"{args.callers} callers at {args.rate:g}/s over 9 branches "
                      f"(ramp ~{ramp_s:.0f} s), holding {hold_ms[0] / 1000:.0f}-"
                      f"{hold_ms[1] / 1000:.0f} s")
            t0 = time.monotonic()
            for i, key in enumerate(keys):
                # Staggered so the arrivals interleave evenly over the branches.
                time.sleep(max(0.0, t0 + i * period_ms / 9000 - time.monotonic()))
                procs[key] = bench.callers(key, per_branch[key], period_ms, hold_ms)

            # The steady window opens once every caller is in a queue (at the latest
            # `LATE_S` after the ramp and the settling time: then fewer are waiting,
            # and it says so).
            deadline = t0 + ramp_s + args.settle + LATE_S
            waiting = 0
            while time.monotonic() < deadline:
                _calls, events = asyncio.run(read_log(bench.settings.database_url, started))
                waiting = waiting_now(events)
                if waiting >= args.callers:
                    break
                time.sleep(2)
            bench.say(f"{waiting} waiting after {time.monotonic() - t0:.0f} s: "
                      f"steady window of {args.steady:g} s")
            opened_at = datetime.now(UTC)
            channels_start = bench.active_channels()
            load_start = os.getloadavg()[0]
            cpu_start = {n: cpu_seconds(p) for n, p in pids.items()}
            w0 = time.monotonic()
            time.sleep(args.steady)
            cpu_end = {n: cpu_seconds(p) for n, p in pids.items()}
            window_s = time.monotonic() - w0
            closed_at = datetime.now(UTC)
            load_end = os.getloadavg()[0]
            channels_end = bench.active_channels()
            _calls, events = asyncio.run(read_log(bench.settings.database_url, started))
            if time.monotonic() - t0 > hold_ms[0] / 1000:
                bench.say("the window ran into the first hang-ups (a slow ramp)")
            window = Window(
                seconds=round(window_s, 1), waiting_start=waiting,
                waiting_end=waiting_now(events), channels_start=channels_start,
                channels_end=channels_end,
                service_cpu_s=round(cpu_end["service"] - cpu_start["service"], 2),
                asterisk_cpu_s=round(cpu_end["asterisk"] - cpu_start["asterisk"], 2),
                sipp_desk_cpu_s=round(cpu_end["sipp desk"] - cpu_start["sipp desk"], 2),
                announcements=sum(1 for e in events if e.kind == "queue_position"
                                  and opened_at <= e.at < closed_at),
                load_average_1m=(round(load_start, 2), round(load_end, 2)),
            )
            bench.say(f"window: {asdict(window)}")
            bench.say("waiting for the callers to hang up ...")
            exits = {k: p.wait(timeout=hold_ms[1] / 1000 + 900) for k, p in procs.items()}
            time.sleep(3)  # the last queue_left events
            sampler.stop()
            channels_after = bench.active_channels()
            admissions = bench.admissions()
        finally:
            for proc in procs.values():
                _stop_sipp(proc)
            _stop_sipp(desk)
        calls, events = asyncio.run(read_log(bench.settings.database_url, started))
        service_log = bench.tmp / "service.log"
        problems = log_problems(service_log)
        pbx_problems = asterisk_problems(bench.pbx.host_dir / "log" / "messages.log")
        caller_logs = {}
        for key in keys:
            caller_logs.update(_parse_log(bench.tmp / f"callers-{key}.log",
                                          {"answered", "dtmf", "done"}))
        workdir = str(bench.tmp)

    check = check_positions(events)
    answered = sum(1 for e in caller_logs.values() if "answered" in e)
    done = sum(1 for e in caller_logs.values() if "done" in e)
    peak = {name: max((s.get(name, 0) for _, s in sampler.samples), default=0)
            for name in ("service", "asterisk")}
    left = Counter(str(e.detail.get("reason")) for e in events if e.kind == "queue_left")
    joined = Counter(e.call_id for e in events if e.kind == "queue_joined")
    return {
        "benchmark": "queue_capacity",
        "started": started.isoformat(timespec="seconds"),
        "parameters": {
            "callers": args.callers, "per_branch": per_branch, "rate_per_s": args.rate,
            "announce_every_seconds": args.announce_every, "max_wait_seconds": 3600,
            "music": args.music,
            "hold_seconds": [hold_ms[0] / 1000, hold_ms[1] / 1000],
            "steady_seconds": args.steady, "rtp_ports": args.rtp_ports,
        },
        "environment": {"cpus": os.cpu_count(), "kernel": os.uname().release,
                        "database": "SQLite (aiosqlite), throwaway"},
        "idle_cpu_ms_per_s": idle,
        "rss_kib_idle": rss_idle,
        "rss_kib_peak": peak,
        "service_rss_kib_per_waiting_caller": round(
            (peak["service"] - rss_idle["service"]) / max(1, window.waiting_start), 1),
        "window": asdict(window),
        "service_cpu_s_per_waiting_caller_per_minute":
            window.per_caller_minute(window.service_cpu_s),
        "asterisk_cpu_s_per_waiting_caller_per_minute":
            window.per_caller_minute(window.asterisk_cpu_s),
        "callers": {
            "placed": args.callers, "answered": answered, "hung_up_by_themselves": done,
            "not_ending_with_their_own_bye": args.callers - done,
            "call_rows": len(calls), "queued": len(joined),
            "queued_more_than_once": sum(1 for n in joined.values() if n > 1),
            "outcomes": dict(Counter(str(c.outcome) for c in calls)),
            "queue_left": dict(left),
            "shed_to_fallback_ivr": admissions["shed"], "refused": admissions["refused"],
            "sipp_exit_codes": exits,
            "channels_left_after": channels_after,
        },
        "announcements_total": sum(1 for e in events if e.kind == "queue_position"),
        "positions": _positions(check),
        "service_log_problems": dict(problems.most_common(20)),
        "asterisk_log_problems": dict(pbx_problems.most_common(20)),
        "workdir": workdir if args.keep else None,
    }


def _positions(check: PositionCheck) -> dict[str, Any]:
    return {
        "checked": check.checked, "wrong": len(check.wrong), "unplaced": check.unplaced,
        "after_someone_ahead_left": check.moved_up,
        "first_wrong": [{**asdict(m), "at": m.at.isoformat()} for m in check.wrong[:10]],
    }


def summary(report: dict[str, Any]) -> str:
    w, c, p = report["window"], report["callers"], report["positions"]
    return "\n".join([
        f"steady window: {w['seconds']} s, waiting {w['waiting_start']} -> {w['waiting_end']}, "
        f"Asterisk channels {w['channels_start']} -> {w['channels_end']}, "
        f"load average (1 min) {w['load_average_1m'][0]} -> {w['load_average_1m'][1]}",
        f"service CPU: {w['service_cpu_s']} s = "
        f"{report['service_cpu_s_per_waiting_caller_per_minute']} s per waiting caller per min"
        f" (idle {report['idle_cpu_ms_per_s']['service']} ms/s)",
        f"Asterisk CPU: {w['asterisk_cpu_s']} s = "
        f"{report['asterisk_cpu_s_per_waiting_caller_per_minute']} s per waiting caller per min"
        f" (idle {report['idle_cpu_ms_per_s']['asterisk']} ms/s)",
        f"SIPp busy desk CPU: {w['sipp_desk_cpu_s']} s",
        f"RSS KiB: service {report['rss_kib_idle']['service']} idle -> "
        f"{report['rss_kib_peak']['service']} peak "
        f"({report['service_rss_kib_per_waiting_caller']} per waiting caller); Asterisk "
        f"{report['rss_kib_idle']['asterisk']} -> {report['rss_kib_peak']['asterisk']}",
        f"announcements: {w['announcements']} in the window, "
        f"{report['announcements_total']} in the run",
        f"positions: {p['checked']} checked ({p['after_someone_ahead_left']} after a caller "
        f"ahead had left), {p['wrong']} wrong, {p['unplaced']} outside a stay",
        f"callers: {c['placed']} placed, {c['answered']} answered, {c['queued']} queued, "
        f"{c['hung_up_by_themselves']} hung up themselves, {c['shed_to_fallback_ivr']} shed to "
        f"the fallback IVR, {c['refused']} refused (overload); left the queue {c['queue_left']}; "
        f"outcomes {c['outcomes']}; channels left {c['channels_left_after']}",
        f"service log warnings/errors: {report['service_log_problems'] or 'none'}",
        f"Asterisk log warnings/errors: {report['asterisk_log_problems'] or 'none'}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="new callers per second")
    parser.add_argument("--steady", type=float, default=180.0,
                        help="seconds measured with every caller waiting")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds after the ramp for the last callers to queue")
    parser.add_argument("--spread", type=float, default=60.0,
                        help="hang-ups spread uniformly over this many seconds")
    parser.add_argument("--announce-every", type=int, default=15)
    parser.add_argument("--music", choices=["tone", "silence"], default="tone",
                        help="the branches' queue music (silence: the announcements only)")
    parser.add_argument("--rtp-ports", type=int, default=2000)
    parser.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/"
                        "<date>-queue-capacity.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 1
    out = args.out or RESULTS / f"{report['started'][:10]}-queue-capacity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(summary(report))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
