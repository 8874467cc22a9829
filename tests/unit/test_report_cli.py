"""`hotline report`, in process: the README's two commands regenerate the committed
docs/example-report byte for byte (synthetic month -> temp SQLite file -> report), and a
period that ends before it starts is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hotline import cli
from scripts import synthetic_month

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "example-report"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp working directory with the synthetic month in `var/demo-month.db`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "sqlite+aiosqlite:///var/demo-month.db")
    monkeypatch.setenv("HOTLINE_CONFIG", str(ROOT / "config" / "hotline.yaml"))
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)
    return tmp_path


def test_the_readme_commands_regenerate_the_example_report(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert synthetic_month.main([
        "--db", "var/demo-month.db", "--config", str(ROOT / "config" / "hotline.yaml")]) == 0
    with capture_logs() as logs:
        code = cli.main(["report", "--from", "2026-09-01", "--to", "2026-09-30", "--format", "md",
                         "--format", "csv", "--format", "xlsx", "--details", "--out", "example"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("var/demo-month.db: 426 calls from 2026-09-01 to 2026-09-30")
    written = ["report.md", "report.csv", "report.xlsx", "calls-per-day.png",
               "calls-per-branch.png", "details.csv", "details-cases.csv"]
    assert out[1:] == [f"example/{name}" for name in written]
    assert sorted(p.name for p in EXAMPLE.iterdir()) == sorted(written)
    for committed in EXAMPLE.iterdir():
        assert (env / "example" / committed.name).read_bytes() == committed.read_bytes(), (
            f"{committed} is stale: regenerate it with the commands in README.md (Reports)")
    assert [e["event"] for e in logs] == ["report.fetched", "report.written"]


def test_a_period_ending_before_it_starts_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", "--from", "2026-09-30", "--to", "2026-09-01"]) == 2
    assert capsys.readouterr().err == "--to 2026-09-01 is before --from 2026-09-30\n"
    assert not (env / "var").exists()


def test_a_day_that_does_not_exist_is_an_argument_error(env: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "--from", "2026-02-30", "--to", "2026-03-01"])
    assert exit_.value.code == 2
