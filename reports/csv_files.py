"""The report's CSV files: `report.csv` (every figure of the tables, one per line) and,
with `--details`, `details.csv` and `details-cases.csv` (each call and case counted).

Numbers are plain (a dot for the decimal point, no thousands separator); the caller
encodes the text as UTF-8 with a BOM so that Excel reads the Vietnamese right. Text that
a spreadsheet would take for a formula (an agency typed as "=HYPERLINK(...)") is marked
as text with a leading ' (`formula_safe`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from reports.figures import Report
from reports.labels import BUCKET_LABELS, CASE_STATUS_LABELS, OUTCOME_LABELS
from reports.tables import WEEKDAYS_VI, Cell, Dec, Pct, Secs, Table, fmt_fixed


def render_csv(tables: Sequence[Table]) -> str:
    """Every figure on its own line: table, row, column, value (numbers with a dot)."""
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(("bảng", "dòng", "cột", "giá trị"))
    for table in tables:
        for row in table.rows:
            for column, cell in zip(table.columns[1:], row[1:], strict=True):
                writer.writerow((table.key, _raw(row[0]), column, _raw(cell)))
    return out.getvalue()


def _raw(cell: Cell) -> str:
    match cell:
        case Pct(value):
            return "" if value is None else fmt_fixed(value * 100, 1, ".")
        case Dec(value, places):
            return "" if value is None else fmt_fixed(value, places, ".")
        case Secs(value):
            return _opt(value)
        case _:
            return str(cell)


def render_details(report: Report) -> str:
    """One line per call: every value the figures use and where the call was counted."""
    _need_details(report)
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow((
        "call_id", "day", "weekday", "day_note", "non_working_day", "started_at", "bridged_at",
        "ended_at", "branch_key", "branch", "agency", "outcome", "outcome_label", "bucket",
        "bucket_label", "chose_branch", "wait_seconds", "talk_seconds", "callback", "survey",
        "survey_score", "satisfied", "desk_answered", "queue_result", "queue_wait_seconds",
    ))
    for f in report.calls:
        writer.writerow((
            f.call_id, f.day.isoformat(), WEEKDAYS_VI[f.day.weekday()], f.day_note,
            _flag(f.non_working_day), _iso(f.started_at), _iso(f.bridged_at), _iso(f.ended_at),
            _opt(f.branch_key), f.branch, f.agency, f.outcome or "", OUTCOME_LABELS[f.outcome],
            f.bucket.value, BUCKET_LABELS[f.bucket], _flag(f.chose_branch), _opt(f.wait_seconds),
            _opt(f.talk_seconds), f.callback or "", f.survey or "", _opt(f.survey_score),
            _flag(f.satisfied), f.desk_answered or "", f.queue_result or "",
            _opt(f.queue_wait_seconds),
        ))
    return out.getvalue()


def render_case_details(report: Report) -> str:
    _need_details(report)
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(("case_id", "call_id", "opened_at", "day", "category", "agency", "status",
                     "status_label", "opened_by"))
    zone = ZoneInfo(report.setup.timezone)
    for case in report.cases.cases if report.cases else ():
        opened = case.opened_at.astimezone(zone)
        writer.writerow((
            _opt(case.id), case.call_id or "", _iso(opened), opened.date().isoformat(),
            case.category, case.agency or "", case.status.value,
            CASE_STATUS_LABELS[case.status], case.opened_by,
        ))
    return out.getvalue()


def _need_details(report: Report) -> None:
    if not report.details:
        raise ValueError("the report was built without its details (period_data(details=True))")


class _SafeWriter:
    """`csv.writer` whose every cell goes through `formula_safe`."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[str]) -> None:
        self._writer.writerow([formula_safe(cell) for cell in row])


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def formula_safe(text: str) -> str:
    """`text` as a spreadsheet must not run it: a cell that starts with = + - @, a tab or a
    carriage return is prefixed with ' (OWASP, CSV injection), unless it is a number."""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _flag(value: bool | None) -> str:
    return "" if value is None else str(int(value))
