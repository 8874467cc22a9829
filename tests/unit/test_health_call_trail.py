"""The call trail (Asterisk's CEL file) missing is said loudly at start and in /readyz."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from hotline.health import HealthServer, HealthSources
from hotline.serve import call_trail_problem, report_call_trail
from hotline.settings import unknown_environment


def test_no_cel_file_configured_is_no_call_trail() -> None:
    assert call_trail_problem(None) == "HOTLINE_CEL_DB is not set"


def test_a_cel_file_that_is_not_there_is_no_call_trail(tmp_path: Path) -> None:
    problem = call_trail_problem(tmp_path / "cel.db")
    assert problem is not None and "does not exist" in problem


def test_a_directory_named_as_the_cel_file_is_no_call_trail(tmp_path: Path) -> None:
    problem = call_trail_problem(tmp_path)
    assert problem is not None and "not a file" in problem


def test_a_readable_cel_file_is_a_call_trail(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    cel.touch(mode=0o600)
    assert call_trail_problem(cel) is None


def test_the_start_up_log_says_loudly_when_there_is_no_call_trail() -> None:
    with capture_logs() as logs:
        report_call_trail(None, {"HOTLINE_CEL_BD": "/var/log/asterisk/cel.db"})
    levels = {(e["log_level"], e["event"].split(":")[0]) for e in logs}
    assert ("error", "no call trail") in levels
    (misspelled,) = [e for e in logs if e["log_level"] == "warning"]
    assert misspelled["name"] == "HOTLINE_CEL_BD"


def test_unknown_hotline_variables_are_named() -> None:
    environ = {"HOTLINE_CEL_DB": "x", "HOTLINE_CELDB": "y", "HOTLINE_SECRETS_FILE": "z",
               "PATH": "/bin"}
    assert unknown_environment(environ) == ["HOTLINE_CELDB"]


def server(trail: str | None, connected: bool = True) -> HealthServer:
    return HealthServer(HealthSources(
        ari_connected=lambda: connected, active_calls=lambda: 0,
        calls_by_outcome=lambda: {}, reloads=lambda: {}, call_trail=lambda: trail,
    ))


def test_readyz_reports_no_call_trail_as_degraded_not_down() -> None:
    status, _, body = server("HOTLINE_CEL_DB is not set").respond("/readyz")
    assert status == 200
    assert body == b"ready, degraded: no call trail (HOTLINE_CEL_DB is not set)\n"
    assert server(None).respond("/readyz")[2] == b"ready\n"
    assert server("x", connected=False).respond("/readyz")[0] == 503
