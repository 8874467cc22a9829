"""`/metrics` of the console process, on loopback only: the ZNS sends by state and the
failed attempts, read from the outbox at scrape time (Prometheus text).

Why here and not in the service's health server: the sends are the console process's
work (its worker), and the service's /metrics is answered without touching the
database, so that a slow database or a Zalo backlog never costs the call-routing
process anything ("a console or Zalo fault never touches a call"). Requests from any
address but loopback are refused 404, as if the path did not exist; behind a reverse
proxy on the same host, uvicorn's proxy headers give the real client's address.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from calllog.zalo import SendStatus
from calllog.zns import SendCounts, ZnsOutbox

METRICS_PATH = "/metrics"
LOOPBACK = frozenset({"127.0.0.1", "::1"})
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Counts(Collector):
    def __init__(self, counts: SendCounts) -> None:
        self._counts = counts

    def collect(self) -> list[Metric]:
        sends = GaugeMetricFamily("hotline_zns_sends", "ZNS sends in the outbox by state",
                                  labels=["state"])
        for status in SendStatus:
            sends.add_metric([status.value], self._counts.by_status.get(status, 0))
        failures = CounterMetricFamily(
            "hotline_zns_send_failures", "ZNS send attempts that failed (retried or not)")
        failures.add_metric([], self._counts.failed_attempts)
        return [sends, failures]


def metrics_text(counts: SendCounts) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counts(counts))
    return generate_latest(registry)


def with_metrics(app: ASGIApp, outbox: ZnsOutbox) -> ASGIApp:
    """`app` with `/metrics` answered here, for loopback clients only."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            response = await _metrics(Request(scope, receive), outbox)
            await response(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


async def _metrics(request: Request, outbox: ZnsOutbox) -> Response:
    client = request.client
    if client is None or client.host not in LOOPBACK or request.method != "GET":
        return PlainTextResponse("Not Found", 404)
    return Response(metrics_text(await outbox.counts()), media_type=CONTENT_TYPE)
