"""Liveness, readiness and Prometheus metrics over HTTP on loopback.

    GET /healthz  200 while the process runs
    GET /readyz   200 when every readiness check passes (`readiness_checks`: the ARI
                  event websocket is connected, the call-log journal can be written),
                  else 503 naming the checks that fail
    GET /metrics  Prometheus text: calls by outcome, current calls, ARI connected,
                  config reloads by result, the call-log spool (depth, writes waiting
                  for the disk, journal bytes and failures, entries rejected), database
                  reachable
    GET /live     JSON: the calls in progress and the desks, for the console's wallboard
                  (`routing.live.LiveSnapshot`, its fields documented there).
                  `?after=<version>` waits until the version differs, at most `wait`
                  s (default `LIVE_WAIT_S`, at most `LIVE_WAIT_MAX_S`): a long-poll

A few lines of asyncio instead of a web framework: three fixed GET routes on
loopback do not justify one, and the service stays on one event loop. A request line
longer than `MAX_REQUEST_LINE` is answered 414 (and the connection closed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from calllog.spool import SpoolStats

log = structlog.get_logger(__name__)

MAX_REQUEST_LINE: Final = 8 * 1024
"""Bytes: the three routes' request lines are a few dozen."""
REQUEST_TIMEOUT_S: Final = 5.0
DISCARD_MAX: Final = 1024 * 1024
"""After refusing a request: read and drop at most this much of what the client still
sends before closing (closing on unread data resets the connection, and the client
could lose the answer)."""

LIVE_WAIT_S: Final = 20.0
LIVE_WAIT_MAX_S: Final = 60.0

_REASONS: Final = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   414: "URI Too Long", 503: "Service Unavailable"}


@dataclass
class HealthSources:
    """What the endpoints read, at request time (no state of their own)."""

    ari_connected: Callable[[], bool]
    active_calls: Callable[[], int]
    calls_by_outcome: Callable[[], dict[str, int]]
    reloads: Callable[[], dict[str, int]]
    spool: Callable[[], SpoolStats] = field(default=SpoolStats)
    calls_shed: Callable[[], int] = lambda: 0
    calls_refused: Callable[[], int] = lambda: 0
    loop_lag: Callable[[], float] = lambda: 0.0
    ari_latency: Callable[[], float] = lambda: 0.0
    call_trail: Callable[[], str | None] = lambda: None
    """Why there is no call trail (Asterisk's CEL file), None when there is one."""
    review_recordings: Callable[[], tuple[int, int, int]] = lambda: (0, 0, 0)
    """Quality-review recordings on disk: files, bytes (at the last sweep), purged."""


@dataclass(frozen=True)
class ReadinessCheck:
    problem: str
    """What /readyz says while the check fails."""
    ok: Callable[[], bool]


def readiness_checks(sources: HealthSources) -> list[ReadinessCheck]:
    """What must hold for the service to be ready (one line per check)."""
    return [
        ReadinessCheck("ARI websocket down", sources.ari_connected),
        ReadinessCheck("call-log journal cannot be written (disk full or failing?)",
                       lambda: sources.spool().journal_ok),
    ]


class _Collector(Collector):
    def __init__(self, sources: HealthSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily("hotline_calls", "Calls ended, by outcome",
                                    labels=["outcome"])
        for outcome, count in sorted(self._sources.calls_by_outcome().items()):
            calls.add_metric([outcome], count)
        yield calls
        yield GaugeMetricFamily("hotline_calls_active", "Calls in progress",
                                value=self._sources.active_calls())
        yield GaugeMetricFamily("hotline_ari_connected", "1 when the ARI websocket is up",
                                value=1 if self._sources.ari_connected() else 0)
        reloads = CounterMetricFamily("hotline_config_reloads", "Config reloads, by result",
                                      labels=["result"])
        for result, count in sorted(self._sources.reloads().items()):
            reloads.add_metric([result], count)
        yield reloads
        yield from _spool_metrics(self._sources.spool())
        yield CounterMetricFamily("hotline_calls_shed",
                                  "New calls sent to the fallback IVR because of overload",
                                  value=self._sources.calls_shed())
        yield CounterMetricFamily("hotline_calls_refused",
                                  "New calls turned away (SIP 503) because of overload",
                                  value=self._sources.calls_refused())
        yield GaugeMetricFamily("hotline_event_loop_lag_seconds",
                                "How late the event loop runs (smoothed)",
                                value=self._sources.loop_lag())
        yield GaugeMetricFamily("hotline_ari_latency_seconds",
                                "How long ARI takes to answer a request (smoothed)",
                                value=self._sources.ari_latency())
        files, size, purged = self._sources.review_recordings()
        yield GaugeMetricFamily("hotline_review_recordings_files",
                                "Quality-review recordings on disk", value=files)
        yield GaugeMetricFamily("hotline_review_recordings_bytes",
                                "Disk used by the quality-review recordings", value=size)
        yield CounterMetricFamily("hotline_review_recordings_purged",
                                  "Quality-review recordings deleted after retention",
                                  value=purged)


def _spool_metrics(spool: SpoolStats) -> Iterator[Metric]:
    yield GaugeMetricFamily("hotline_spool_depth",
                            "Call-log writes taken but not yet in the database",
                            value=spool.depth)
    yield GaugeMetricFamily("hotline_spool_unwritten",
                            "Call-log writes taken but not yet in the journal "
                            "(kept in memory while the disk refuses them)",
                            value=spool.unwritten)
    yield GaugeMetricFamily("hotline_spool_journal_bytes",
                            "Size of the call-log journal file", value=spool.journal_bytes)
    yield GaugeMetricFamily("hotline_spool_journal_ok",
                            "1 when the last write to the call-log spool's files succeeded",
                            value=1 if spool.journal_ok else 0)
    yield CounterMetricFamily("hotline_spool_journal_failures",
                              "Writes to the call-log spool's files that failed (journal "
                              "flushes, progress marker, compaction), retried",
                              value=spool.journal_failures)
    yield CounterMetricFamily("hotline_spool_rejected",
                              "Call-log entries moved to rejected.jsonl since start",
                              value=spool.rejected)
    yield GaugeMetricFamily("hotline_spool_rejected_at_start",
                            "Entries rejected.jsonl held when the service started",
                            value=spool.rejected_at_start)
    yield GaugeMetricFamily("hotline_database_ok",
                            "1 when the last call-log write to the database succeeded",
                            value=1 if spool.database_ok else 0)


LiveSource = Callable[[int | None, float], Awaitable[bytes]]
"""The live snapshot's JSON once its version differs from the one given (None: at
once), or after the given seconds (`ivr.live.LiveCalls.json_after`)."""


class HealthServer:
    def __init__(self, sources: HealthSources, live: LiveSource | None = None) -> None:
        self._sources = sources
        self._live = live
        self._checks = readiness_checks(sources)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(sources))

    async def serve(self, host: str, port: int) -> asyncio.Server:
        server = await asyncio.start_server(self._handle, host, port, limit=MAX_REQUEST_LINE)
        log.info("health endpoint listening", url=f"http://{host}:{port}/readyz")
        return server

    def respond(self, path: str) -> tuple[int, str, bytes]:
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            problems = [check.problem for check in self._checks if not check.ok()]
            if problems:
                return 503, "text/plain", f"not ready: {'; '.join(problems)}\n".encode()
            if (no_trail := self._sources.call_trail()) is not None:
                # Degraded, still ready: calls are served and logged; only the end of
                # calls the fallback dialplan served is unknown (a setting to fix).
                return 200, "text/plain", f"ready, degraded: no call trail ({no_trail})\n".encode()
            return 200, "text/plain", b"ready\n"
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4", generate_latest(self._registry)
        return 404, "text/plain", b"not found\n"

    async def live(self, query: str) -> tuple[int, str, bytes]:
        """`GET /live?<query>`: the snapshot, at once or once it changed (`after`)."""
        assert self._live is not None
        try:
            params = {k: v[-1] for k, v in parse_qs(query, strict_parsing=False).items()}
            after = int(params["after"]) if "after" in params else None
            wait = min(float(params.get("wait", LIVE_WAIT_S)), LIVE_WAIT_MAX_S)
            if wait != wait or wait < 0:  # NaN or negative
                raise ValueError(wait)
        except ValueError:
            return 400, "text/plain", b"after: a version (integer); wait: seconds\n"
        return 200, "application/json", await self._live(after, wait)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            except ValueError:  # longer than the reader's limit
                await _answer(writer, 414, "text/plain", b"request line too long\n")
                await _discard(reader)
                return
            parts = request.decode("latin-1").split()
            if len(parts) < 2 or parts[0] != "GET":
                status, kind, body = 405, "text/plain", b"GET only\n"
            elif parts[1].split("?")[0] == "/live" and self._live is not None:
                status, kind, body = await self.live(parts[1].partition("?")[2])
            else:
                status, kind, body = self.respond(parts[1].split("?")[0])
            await _answer(writer, status, kind, body)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


async def _answer(writer: asyncio.StreamWriter, status: int, kind: str, body: bytes) -> None:
    writer.write(
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )
    await writer.drain()


async def _discard(reader: asyncio.StreamReader) -> None:
    """Drop what the client still sends: up to `DISCARD_MAX`, for at most a second, and
    only while it keeps coming."""
    dropped = 0
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(1.0):
            while dropped < DISCARD_MAX:
                chunk = await asyncio.wait_for(reader.read(64 * 1024), 0.1)
                if not chunk:
                    return
                dropped += len(chunk)
