"""Liveness, readiness and Prometheus metrics over HTTP on loopback.

    GET /healthz  200 while the process runs
    GET /readyz   200 when the ARI event websocket is connected, else 503
    GET /metrics  Prometheus text: calls by outcome, current calls, ARI connected,
                  config reloads by result, spool depth, database reachable

A few lines of asyncio instead of a web framework: three fixed GET routes on
loopback do not justify one, and the service stays on one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)


@dataclass
class HealthSources:
    """What the endpoints read, at request time (no state of their own)."""

    ari_connected: Callable[[], bool]
    active_calls: Callable[[], int]
    calls_by_outcome: Callable[[], dict[str, int]]
    reloads: Callable[[], dict[str, int]]
    spool_depth: Callable[[], int] = lambda: 0
    database_ok: Callable[[], bool] = lambda: True
    calls_shed: Callable[[], int] = lambda: 0
    calls_refused: Callable[[], int] = lambda: 0
    loop_lag: Callable[[], float] = lambda: 0.0
    ari_latency: Callable[[], float] = lambda: 0.0
    call_trail: Callable[[], str | None] = lambda: None
    """Why there is no call trail (Asterisk's CEL file), None when there is one."""


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
        yield GaugeMetricFamily("hotline_spool_depth",
                                "Call-log writes journaled but not yet in the database",
                                value=self._sources.spool_depth())
        yield GaugeMetricFamily("hotline_database_ok",
                                "1 when the last call-log write to the database succeeded",
                                value=1 if self._sources.database_ok() else 0)
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


class HealthServer:
    def __init__(self, sources: HealthSources) -> None:
        self._sources = sources
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(sources))

    async def serve(self, host: str, port: int) -> asyncio.Server:
        server = await asyncio.start_server(self._handle, host, port)
        log.info("health endpoint listening", url=f"http://{host}:{port}/readyz")
        return server

    def respond(self, path: str) -> tuple[int, str, bytes]:
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ready = self._sources.ari_connected()
            if ready and (no_trail := self._sources.call_trail()) is not None:
                # Degraded, still ready: calls are served and logged; only the end of
                # calls the fallback dialplan served is unknown (a setting to fix).
                return 200, "text/plain", f"ready, degraded: no call trail ({no_trail})\n".encode()
            return (200, "text/plain", b"ready\n") if ready else (
                503, "text/plain", b"not ready: ARI websocket down\n")
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4", generate_latest(self._registry)
        return 404, "text/plain", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            parts = request.decode("latin-1").split()
            status, kind, body = (
                self.respond(parts[1].split("?")[0]) if len(parts) >= 2 and parts[0] == "GET"
                else (405, "text/plain", b"GET only\n")
            )
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
                      503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
