"""`hotline report`, in process: the README's two commands regenerate the committed
docs/example-report byte for byte (synthetic month -> temp SQLite file -> report), the
command writes what the `reports` package renders from the same calls kept in memory
(one implementation behind the CLI and the console), and a period that ends before it
starts is refused."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import reports
from calllog.channels import ChannelTallies, channel_tallies
from calllog.db import make_engine, make_sessionmaker
from calllog.memory import InMemoryCallLog
from calllog.model import CallRecord, Case
from calllog.presence import PresenceHistory
from calllog.queries import CallbackFigures, CallQueries
from hotline import cli
from routing.config import load_config
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


async def in_memory(
    calls: list[CallRecord],
    cases: list[synthetic_month.SyntheticCase],
    period: reports.ReportPeriod,
) -> tuple[list[CallRecord], list[Case]]:
    """The synthetic month kept in the in-memory call log, read back for `period`."""
    log = InMemoryCallLog()
    await log.apply(calls)
    for synthetic in cases:
        stored = await log.create_case(synthetic.case)
        assert stored.id is not None
        for step in synthetic.steps:
            await log.update_case(stored.id, status=step.status, by="Tổ vận hành", at=step.at,
                                  agency=step.agency, note=step.note)
    since, until = period.bounds("Asia/Ho_Chi_Minh")
    return (list(await log.list_calls(since=since, until=until, limit=10_000)),
            list(await log.list_cases(since=since, until=until, limit=10_000)))


async def callback_figures(period: reports.ReportPeriod) -> CallbackFigures:
    """The call backs' results as staff recorded them: only the database keeps them."""
    engine = make_engine("sqlite+aiosqlite:///var/demo-month.db")
    try:
        since, until = period.bounds("Asia/Ho_Chi_Minh")
        return await CallQueries(make_sessionmaker(engine)).callback_figures(
            since=since, until=until)
    finally:
        await engine.dispose()


async def channel_figures(period: reports.ReportPeriod) -> ChannelTallies:
    """The figures by channel (phone, Zalo): counted by the database only."""
    engine = make_engine("sqlite+aiosqlite:///var/demo-month.db")
    try:
        since, until = period.bounds("Asia/Ho_Chi_Minh")
        return await channel_tallies(make_sessionmaker(engine), since=since, until=until)
    finally:
        await engine.dispose()


def test_the_cli_writes_what_the_reports_package_renders_for_the_same_calls(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = ROOT / "config" / "hotline.yaml"
    config = load_config(config_path)
    first, last = date(2026, 9, 1), date(2026, 9, 30)
    calls, cases = synthetic_month.synthetic_month(config, first, last, seed=7)
    assert asyncio.run(synthetic_month.fill("sqlite+aiosqlite:///var/demo-month.db", calls,
                                            cases)) == len(cases) > 0
    period = reports.ReportPeriod(first, date(2026, 9, 20))  # not the whole month stored
    records, kept_cases = asyncio.run(in_memory(calls, cases, period))

    with capture_logs() as logs:
        assert cli.main(["report", "--from", "2026-09-01", "--to", "2026-09-20", "--format",
                         "md", "--format", "csv", "--format", "xlsx", "--details", "--out",
                         "cli"]) == 0
    assert logs[0]["calls"] == len(records) and logs[0]["cases"] == len(kept_cases)
    assert capsys.readouterr().out.splitlines() == [
        f"cli/{name}" for name in ("report.md", "report.csv", "report.xlsx", "calls-per-day.png",
                                   "calls-per-branch.png", "details.csv", "details-cases.csv")]

    report = reports.build(records, kept_cases, period, config,
                           asyncio.run(callback_figures(period)),
                           asyncio.run(channel_figures(period)),
                           PresenceHistory(()))  # the CLI read it: no desk paused
    assert report.figures.total.received == len(records) > 200
    for fmt in ("md", "csv", "xlsx", "day-chart", "branch-chart", "details", "case-details"):
        written = env / "cli" / reports.FORMATS[fmt].filename
        assert written.read_bytes() == reports.render(report, fmt), fmt


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
