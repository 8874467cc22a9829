"""Liveness, readiness and metrics, answered without opening a socket."""

from __future__ import annotations

from calllog.spool import SpoolStats
from hotline.health import HealthServer, HealthSources


def server(connected: bool, spool: SpoolStats | None = None) -> HealthServer:
    return HealthServer(HealthSources(
        ari_connected=lambda: connected,
        active_calls=lambda: 2,
        calls_by_outcome=lambda: {"connected": 5, "abandoned_in_menu": 1},
        reloads=lambda: {"applied": 1, "refused": 2},
        spool=lambda: spool or SpoolStats(),
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


def test_not_ready_while_the_call_log_journal_cannot_be_written() -> None:
    status, _, body = server(True, SpoolStats(journal_ok=False)).respond("/readyz")
    assert status == 503 and b"journal" in body and b"ARI" not in body
    status, _, body = server(False, SpoolStats(journal_ok=False)).respond("/readyz")
    assert status == 503 and b"journal" in body and b"ARI" in body


def test_metrics_show_the_spool_disk_and_rejected_entries() -> None:
    stats = SpoolStats(depth=9, unwritten=6, journal_bytes=31_000_000, journal_ok=False,
                       journal_failures=4, database_ok=False, rejected=1, rejected_at_start=2)
    text = server(True, stats).respond("/metrics")[2].decode()
    for line in ("hotline_spool_depth 9.0", "hotline_spool_unwritten 6.0",
                 "hotline_spool_journal_bytes 3.1e+07", "hotline_spool_journal_ok 0.0",
                 "hotline_spool_journal_failures_total 4.0", "hotline_database_ok 0.0",
                 "hotline_spool_rejected_total 1.0", "hotline_spool_rejected_at_start 2.0"):
        assert line in text.splitlines(), line
