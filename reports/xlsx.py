"""The report as an XLSX workbook (`report.xlsx`): one sheet per table, numbers kept as
numbers with their display formats, text kept as text (never a formula).

Reproducible: the workbook's dates are set from the period (the first instant after it)
instead of "now", and every zip entry carries the same fixed time.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from reports.figures import Report
from reports.tables import (
    Cell,
    Dec,
    Pct,
    Secs,
    Table,
    cell_text,
    report_period_line,
    report_title,
    round_half_up,
)

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def render_xlsx(report: Report, tables: Sequence[Table]) -> bytes:
    workbook = Workbook()
    del workbook[workbook.sheetnames[0]]  # the empty default sheet
    for table in tables:
        sheet = workbook.create_sheet(table.sheet[:31])
        sheet.append([f"{table.title} {report_period_line(report)}"])
        sheet["A1"].font = Font(bold=True)
        _as_text(sheet["A1"])
        sheet.append([])
        sheet.append(list(table.columns))
        for cell in sheet[3]:
            cell.font = Font(bold=True)
            _as_text(cell)
        for row in table.rows:
            sheet.append([_xlsx_value(c) for c in row])
            for cell, value in zip(sheet[sheet.max_row], row, strict=True):
                cell.number_format = _xlsx_format(value)
                _as_text(cell)
        for i, column in enumerate(table.columns):
            width = max(len(text) for text in [column, *(cell_text(r[i]) for r in table.rows)])
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(60, width + 2)
    # Fixed dates (the first instant after the period) instead of "now": same bytes.
    fixed = report.period.bounds(report.setup.timezone)[1].replace(tzinfo=None)
    props = workbook.properties
    props.creator, props.title = "hotline", f"{report_title(report)} {report_period_line(report)}"
    props.created = props.modified = fixed
    buffer = io.BytesIO()
    with _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).write_data()
    return buffer.getvalue()


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry the same date: zipfile stamps "now" on `writestr` and
    the file's mtime on `write` (openpyxl writes each sheet to a temporary file)."""

    def writestr(self, zinfo_or_arcname: str | zipfile.ZipInfo, data: Any,
                 compress_type: int | None = None, compresslevel: int | None = None) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=_ZIP_TIME)
            zinfo_or_arcname.compress_type = zipfile.ZIP_DEFLATED
            zinfo_or_arcname.external_attr = 0o644 << 16
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename: Any, arcname: Any = None, compress_type: int | None = None,
              compresslevel: int | None = None) -> None:
        self.writestr(str(arcname or filename), Path(filename).read_bytes(), compress_type,
                      compresslevel)


def _as_text(cell: Any) -> None:
    """The cell as text if openpyxl took it for a formula (a string starting with =): the
    report writes none, and an agency typed as "=HYPERLINK(...)" must not run in Excel."""
    if cell.data_type == "f":
        cell.data_type = "s"


def _xlsx_value(cell: Cell) -> int | float | str | None:
    match cell:
        case Pct(value):
            return None if value is None else float(round_half_up(value, 3)) / 1000
        case Dec(value, places):
            return None if value is None else float(round_half_up(value, places)) / 10**places
        case Secs(value):
            return value
        case "":
            return None
        case _:
            return cell


def _xlsx_format(cell: Cell) -> str:
    match cell:
        case Pct():
            return "0.0%"
        case Dec(_, places):
            return "0." + "0" * places
        case int() | Secs():
            return "#,##0"
        case _:
            return "General"
