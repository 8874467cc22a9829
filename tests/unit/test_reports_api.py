"""The `reports` package's front, as the console will call it: `build` from records and the
YAML, `render` one download per format (the zip holding them all), names and media types
a download button needs, and unknown formats refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import reports
from reports import PeriodReport
from reports.tables import report_tables
from routing.config import HotlineConfig, load_config
from tests.unit.test_report import PERIOD, SETUP, sample_calls, sample_cases

ROOT = Path(__file__).resolve().parents[2]
SINGLE_FILES = ("md", "csv", "xlsx", "day-chart", "branch-chart", "details", "case-details")


@pytest.fixture(scope="module")
def config() -> HotlineConfig:
    return load_config(ROOT / "config" / "hotline.yaml")


@pytest.fixture(scope="module")
def report() -> PeriodReport:
    return PeriodReport.of(reports.compute_report(sample_calls(), sample_cases(), SETUP, PERIOD))


def test_build_computes_the_figures_with_the_setup_taken_from_the_yaml(
    config: HotlineConfig,
) -> None:
    built = reports.build(sample_calls(), sample_cases(), PERIOD, config)
    setup = reports.report_setup(config, PERIOD)
    assert built.figures == reports.compute_report(sample_calls(), sample_cases(), setup, PERIOD)
    assert built.figures.setup.day_notes[PERIOD.first.replace(day=2)] == "Quốc khánh"
    assert built.tables == tuple(report_tables(built.figures))
    assert built.period == PERIOD


def test_the_zip_holds_every_file_of_the_report_in_a_folder_named_after_the_period(
    report: PeriodReport,
) -> None:
    archive = zipfile.ZipFile(io.BytesIO(reports.render(report, "zip")))
    folder = "2026-09-01_2026-09-03"
    assert archive.namelist() == [f"{folder}/{reports.FORMATS[fmt].filename}"
                                  for fmt in SINGLE_FILES]
    for fmt in SINGLE_FILES:
        name = f"{folder}/{reports.FORMATS[fmt].filename}"
        assert archive.read(name) == reports.render(report, fmt), fmt
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_every_format_renders_the_same_bytes_twice(report: PeriodReport) -> None:
    for fmt in reports.FORMATS:
        assert reports.render(report, fmt) == reports.render(report, fmt), fmt


def test_the_files_the_cli_writes_are_the_renderings_by_file_name(report: PeriodReport) -> None:
    written = reports.files(report, ["xlsx", "md"], details=True)
    assert list(written) == ["report.md", "report.xlsx", "calls-per-day.png",
                             "calls-per-branch.png", "details.csv", "details-cases.csv"]
    assert written["report.md"] == reports.render(report, "md")


def test_a_log_without_cases_has_no_case_details_file() -> None:
    report = PeriodReport.of(reports.compute_report(sample_calls(), None, SETUP, PERIOD))
    assert "details-cases.csv" not in reports.files(report, ["md"], details=True)
    names = zipfile.ZipFile(io.BytesIO(reports.render(report, "zip"))).namelist()
    assert not any(name.endswith("details-cases.csv") for name in names)


def test_a_download_is_named_after_the_period_with_its_media_type(report: PeriodReport) -> None:
    assert reports.download_name(report, "md") == "2026-09-01_2026-09-03-report.md"
    assert reports.download_name(report, "day-chart") == "2026-09-01_2026-09-03-calls-per-day.png"
    assert reports.download_name(report, "zip") == "2026-09-01_2026-09-03.zip"
    assert reports.FORMATS["xlsx"].media_type == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert reports.FORMATS["csv"].media_type == "text/csv; charset=utf-8"
    assert reports.render(report, "csv").startswith("\ufeff".encode())


def test_an_unknown_format_is_refused(report: PeriodReport) -> None:
    with pytest.raises(KeyError):
        reports.render(report, "pdf")
    with pytest.raises(ValueError, match="pdf"):
        reports.files(report, ["md", "pdf"])
