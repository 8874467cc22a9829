"""Liveness, readiness and metrics, answered without opening a socket."""

from __future__ import annotations

from hotline.health import HealthServer, HealthSources


def server(connected: bool) -> HealthServer:
    return HealthServer(HealthSources(
        ari_connected=lambda: connected,
        active_calls=lambda: 2,
        calls_by_outcome=lambda: {"connected": 5, "abandoned_in_menu": 1},
        reloads=lambda: {"applied": 1, "refused": 2},
    ))


def test_liveness_is_always_ok() -> None:
    assert server(False).respond("/healthz")[0] == 200


def test_ready_only_while_the_ari_websocket_is_up() -> None:
    assert server(True).respond("/readyz")[0] == 200
    status, _, body = server(False).respond("/readyz")
    assert status == 503 and b"ARI" in body


def test_metrics_in_prometheus_text() -> None:
    status, kind, body = server(True).respond("/metrics")
    text = body.decode()
    assert status == 200 and kind.startswith("text/plain")
    assert 'hotline_calls_total{outcome="connected"} 5.0' in text
    assert 'hotline_calls_total{outcome="abandoned_in_menu"} 1.0' in text
    assert "hotline_calls_active 2.0" in text
    assert "hotline_ari_connected 1.0" in text
    assert 'hotline_config_reloads_total{result="refused"} 2.0' in text


def test_unknown_path_is_404() -> None:
    assert server(True).respond("/admin")[0] == 404
