"""`hotline report`: the period's figures in Vietnamese as Markdown, CSV or XLSX, with PNGs.

The figures and their definitions are `calllog.report`'s (local Asia/Ho_Chi_Minh days,
`--from`/`--to` inclusive, a call counted on the day it started, nearest-rank
percentiles, ...). Here they are fetched, laid out as tables and written:

    report.md            the report, charts embedded       (--format md, the default)
    report.csv           every figure, one per line        (--format csv)
    report.xlsx          one sheet per table               (--format xlsx)
    calls-per-day.png, calls-per-branch.png                (always)
    details.csv, details-cases.csv                         (--details: what each figure counts)

Reproducible: the same command on the same database writes the same bytes. Nothing
says when it was generated; rows are in a fixed order; charts are drawn by Agg at a
fixed size and DPI with the bundled DejaVu Sans and no PNG metadata; the XLSX has its
dates set from the period (the first instant after it) and fixed zip entry times.
CSV files are UTF-8 with a BOM (Excel then reads the Vietnamese right).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
import zipfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from zoneinfo import ZoneInfo

import structlog
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallRecord, Case, CaseStatus
from calllog.report import (
    BUCKET_LABELS,
    BUCKET_OF,
    CASE_STATUS_LABELS,
    NO_BRANCH,
    OUTCOME_LABELS,
    SURVEY_LABELS,
    BranchInfo,
    Bucket,
    CaseStats,
    Counts,
    Report,
    ReportPeriod,
    ReportSetup,
    compute_report,
    ratio,
    satisfied_scores,
)
from calllog.store import CallLogStore
from hotline.settings import Settings
from routing.config import HotlineConfig, load_config
from routing.hours import open_state

log = structlog.get_logger(__name__)

FORMATS = ("md", "csv", "xlsx")
DAY_CHART, BRANCH_CHART = "calls-per-day.png", "calls-per-branch.png"
FETCH_PAGE = 10_000
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
COLOURS = {
    Bucket.CONNECTED: "#2e7d32", Bucket.MENU: "#9e9e9e", Bucket.MISSED: "#ef6c00",
    Bucket.OUTSIDE_HOURS: "#1565c0", Bucket.OTHER: "#6d4c41",
}
CHART_DPI = 100
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_T = TypeVar("_T")
DEFAULT_SURVEY_SCALE = 5


# --- inputs --------------------------------------------------------------------------


class CallSource(Protocol):
    """What the report reads of the call log (`CallLogStore`, `InMemoryCallLog`)."""

    async def list_calls(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = ...
    ) -> Sequence[CallRecord]: ...


@runtime_checkable
class CaseSource(Protocol):
    """A call log that can also list complaint cases (checked at run time: logs from
    before cases were stored have no `list_cases`, and the report then says so)."""

    async def list_cases(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = ...
    ) -> Sequence[Case]: ...


def report_setup(config: HotlineConfig, period: ReportPeriod) -> ReportSetup:
    """The plain values the computation needs: branches, each day's note, the scale."""
    calendar = config.calendar()
    zone = ZoneInfo(calendar.timezone)
    notes: dict[date, str] = {}
    closed: set[date] = set()
    for day in period.days():
        state = open_state(calendar, datetime.combine(day, time(12), zone))
        if state.reason in ("holiday", "closed_day"):
            notes[day] = (state.holiday or "Ngày lễ") if state.reason == "holiday" else "Ngày nghỉ"
            closed.add(day)
        elif make_up := next((d for d in calendar.extra_working_days if d.date == day), None):
            notes[day] = f"Làm bù ({make_up.name})"
    return ReportSetup(
        hotline_name=config.hotline.name,
        hotline_number=config.hotline.number,
        branches=tuple(BranchInfo(b.key, b.name, b.agency) for b in config.branches),
        day_notes=notes,
        non_working_days=frozenset(closed),
        timezone=calendar.timezone,
        survey_scale=_survey_scale(config),
    )


def _survey_scale(config: HotlineConfig) -> int:
    """`survey.scale` of the YAML; 5 for a configuration without a survey section."""
    scale = getattr(getattr(config, "survey", None), "scale", None)
    return scale if isinstance(scale, int) else DEFAULT_SURVEY_SCALE


async def fetch_records(
    store: CallSource, period: ReportPeriod, timezone: str
) -> tuple[list[CallRecord], list[Case] | None]:
    """Every call started in the period, and its cases (None if the log has no cases)."""
    since, until = period.bounds(timezone)
    calls = await _all(lambda limit: store.list_calls(since=since, until=until, limit=limit))
    if not isinstance(store, CaseSource):
        return calls, None
    cases = await _all(lambda limit: store.list_cases(since=since, until=until, limit=limit))
    return calls, cases


async def _all(fetch: Callable[[int], Awaitable[Sequence[_T]]]) -> list[_T]:
    """All rows of a listing that takes a limit: asked again with a larger one while full."""
    limit = FETCH_PAGE
    while len(rows := await fetch(limit)) == limit:
        limit *= 4
    return list(rows)


async def load_report(url: str, config: HotlineConfig, period: ReportPeriod) -> Report:
    setup = report_setup(config, period)
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        calls, cases = await fetch_records(
            CallLogStore(make_sessionmaker(engine)), period, setup.timezone
        )
    finally:
        await engine.dispose()
    log.info("report.fetched", calls=len(calls), cases=None if cases is None else len(cases))
    return compute_report(calls, cases, setup, period)


# --- tables: one layout, three renderings --------------------------------------------


@dataclass(frozen=True)
class Pct:
    value: Fraction | None


@dataclass(frozen=True)
class Dec:
    value: Fraction | None
    places: int = 2


@dataclass(frozen=True)
class Secs:
    value: int | None


Cell = int | str | Pct | Dec | Secs


@dataclass(frozen=True)
class Table:
    key: str
    """Names the table in the CSV."""
    sheet: str
    """The XLSX sheet (at most 31 characters)."""
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def report_title(report: Report) -> str:
    return f"BÁO CÁO KẾT QUẢ HOẠT ĐỘNG {report.setup.hotline_name.upper()}"


def report_period_line(report: Report) -> str:
    return f"(từ ngày {_d(report.period.first)} đến ngày {_d(report.period.last)})"


def report_tables(report: Report) -> list[Table]:
    """The report's tables in order (the cases table only when the log has cases)."""
    tables = [
        _summary_table(report),
        _group_table("theo_nhanh", "Theo nhánh", "2. Kết quả theo nhánh", "Nhánh",
                     report.by_branch, report.total),
        _group_table("theo_co_quan", "Theo cơ quan", "3. Kết quả theo cơ quan phụ trách",
                     "Cơ quan phụ trách", report.by_agency, report.total),
        _outcome_table(report),
        Table("thoi_gian", "Thời gian", "5. Thời gian chờ và thời gian đàm thoại",
              ("Chỉ tiêu", "Số cuộc gọi", "Trung vị (giây)", "Phân vị 90 (giây)", "Tổng (giây)"),
              tuple((label, s.count, Secs(s.median), Secs(s.p90), Secs(s.total)) for label, s in (
                  ("Thời gian chờ gặp cán bộ", report.wait),
                  ("Thời gian đàm thoại", report.talk)))),
        Table("goi_lai", "Gọi lại", "6. Gọi lại cho người dân", ("Chỉ tiêu", "Số cuộc gọi"), (
            ("Cần gọi lại", report.callbacks.needed), ("Đã gọi lại", report.callbacks.done),
            ("Chưa gọi lại", report.callbacks.pending))),
    ]
    if report.cases is not None:
        tables.append(_case_table(report.cases))
    return [*tables, *_survey_tables(report), _day_table(report)]


GROUP_COLUMNS = ("Tiếp nhận", *(BUCKET_LABELS[b] for b in Bucket), "Tỷ lệ kết nối")


def _counts_cells(counts: Counts) -> tuple[Cell, ...]:
    return (counts.received, *(counts.of(b) for b in Bucket), Pct(counts.answer_rate))


def _summary_table(report: Report) -> Table:
    total = report.total

    def row(label: str, n: int) -> tuple[Cell, ...]:
        return (label, n, Pct(ratio(n, total.received)))

    return Table("tong_quan", "Tổng quan", "1. Tổng quan", ("Chỉ tiêu", "Số cuộc gọi", "Tỷ lệ"), (
        row("Tổng số cuộc gọi đến", total.received),
        row("Cuộc gọi đã chọn nhánh", total.chose_branch),
        *(row(BUCKET_LABELS[b], total.of(b)) for b in Bucket),
        row("Cuộc gọi vào ngày nghỉ (lễ, cuối tuần)", report.non_working_day_calls),
        ("Tỷ lệ kết nối / cuộc gọi đã chọn nhánh", "", Pct(total.answer_rate)),
        ("Tỷ lệ kết nối / tổng số cuộc gọi", "", Pct(total.answer_rate_of_all)),
    ))


def _group_table(key: str, sheet: str, title: str, first: str,
                 groups: Sequence[tuple[str, Counts]], total: Counts) -> Table:
    return Table(key, sheet, title, (first, *GROUP_COLUMNS), (
        *((label, *_counts_cells(counts)) for label, counts in groups),
        ("Tổng cộng", *_counts_cells(total)),
    ))


def _outcome_table(report: Report) -> Table:
    received = report.total.received
    return Table("ket_qua", "Kết quả cuộc gọi", "4. Kết quả cuộc gọi",
                 ("Kết quả", "Nhóm", "Số cuộc gọi", "Tỷ lệ"), (
        *((OUTCOME_LABELS[outcome], BUCKET_LABELS[BUCKET_OF[outcome]], n,
           Pct(ratio(n, received))) for outcome, n in report.outcomes),
        ("Tổng cộng", "", received, Pct(ratio(received, received))),
    ))


def _case_table(cases: CaseStats) -> Table:
    def row(label: str, by_status: Mapping[CaseStatus, int]) -> tuple[Cell, ...]:
        return (label, *(by_status[s] for s in CaseStatus), sum(by_status.values()))

    return Table("phan_anh", "Phản ánh, kiến nghị", "7. Phản ánh, kiến nghị",
                 ("Cơ quan xử lý", *(CASE_STATUS_LABELS[s] for s in CaseStatus), "Tổng"), (
        *(row(agency, by_status) for agency, by_status in cases.by_agency),
        row("Tổng cộng", cases.by_status),
    ))


def _survey_tables(report: Report) -> list[Table]:
    survey = report.survey
    low, high = satisfied_scores(survey.scale)

    def row(label: str, n: int) -> tuple[Cell, ...]:
        return (label, n, Pct(ratio(n, survey.scored)))

    return [
        Table("hai_long", "Hài lòng", "8. Mức độ hài lòng", ("Chỉ tiêu", "Số lượt", "Tỷ lệ"), (
            *(row(f"{score} điểm", n) for score, n in survey.distribution.items()),
            row("Tổng số lượt chấm điểm", survey.scored),
            (f"Hài lòng ({low}–{high} điểm)", survey.satisfied, Pct(survey.satisfied_rate)),
            ("Điểm trung bình", "", Dec(survey.mean)),
        )),
        Table("khao_sat", "Khảo sát", "Kết thúc khảo sát", ("Kết quả khảo sát", "Số cuộc gọi"), (
            *((SURVEY_LABELS[result], n) for result, n in survey.results.items()),
            ("Tổng số cuộc gọi được mời khảo sát", survey.offered),
        )),
    ]


def _day_table(report: Report) -> Table:
    notes = report.setup.day_notes
    return Table("theo_ngay", "Theo ngày", "9. Số cuộc gọi theo ngày",
                 ("Ngày", "Thứ", "Ghi chú", *GROUP_COLUMNS), (
        *((_d(day), WEEKDAYS_VI[day.weekday()], notes.get(day, ""), *_counts_cells(counts))
          for day, counts in report.by_day),
        ("Tổng cộng", "", "", *_counts_cells(report.total)),
    ))


# --- Markdown ------------------------------------------------------------------------


def render_markdown(report: Report, tables: Sequence[Table]) -> str:
    by_key = {t.key: t for t in tables}
    total, survey, callbacks = report.total, report.survey, report.callbacks
    low, high = satisfied_scores(survey.scale)
    parts = [
        f"# {report_title(report)}", f"**{report_period_line(report)}**",
        f"Số tổng đài: {report.setup.hotline_number}. Số liệu lấy từ nhật ký cuộc gọi; ngày "
        f"tính theo giờ Việt Nam, mỗi cuộc gọi tính vào ngày bắt đầu (cách tính: cuối báo cáo).",
        f"## {by_key['tong_quan'].title}",
        f"Trong kỳ báo cáo, Tổng đài đã tiếp nhận **{_n(total.received)}** cuộc gọi đến; trong "
        f"đó **{_n(total.chose_branch)}** cuộc gọi đã chọn nhánh, **{_n(total.connected)}** cuộc "
        f"gọi được kết nối với cán bộ phụ trách (đạt **{_pct(total.answer_rate)}** số cuộc gọi "
        f"đã chọn nhánh, **{_pct(total.answer_rate_of_all)}** tổng số cuộc gọi) và "
        f"**{_n(total.of(Bucket.OUTSIDE_HOURS))}** cuộc gọi ngoài giờ làm việc hoặc ngày nghỉ.",
        _md_table(by_key["tong_quan"]),
        f"## {by_key['theo_nhanh'].title}", _md_table(by_key["theo_nhanh"]),
        f"![Số cuộc gọi theo nhánh]({BRANCH_CHART})",
        f"## {by_key['theo_co_quan'].title}", _md_table(by_key["theo_co_quan"]),
        f"## {by_key['ket_qua'].title}", _md_table(by_key["ket_qua"]),
        f"## {by_key['thoi_gian'].title}",
        f"Thời gian chờ trung vị **{_dur(report.wait.median)}** (90% số cuộc gọi chờ không quá "
        f"{_dur(report.wait.p90)}); thời gian đàm thoại trung vị **{_dur(report.talk.median)}**, "
        f"tổng cộng {_dur(report.talk.total)}.",
        _md_table(by_key["thoi_gian"]),
        f"## {by_key['goi_lai'].title}",
        f"**{_n(callbacks.needed)}** cuộc gọi cần gọi lại cho người dân (ngoài giờ, nhỡ, để lại "
        f"lời nhắn): đã gọi lại **{_n(callbacks.done)}**, còn **{_n(callbacks.pending)}** cuộc "
        "chưa gọi lại (tại thời điểm lập báo cáo).",
        _md_table(by_key["goi_lai"]),
        "## 7. Phản ánh, kiến nghị",
    ]
    if report.cases is None:
        parts.append("_Nhật ký cuộc gọi chưa lưu phản ánh, kiến nghị: mục này chưa có số liệu._")
    else:
        by_status = report.cases.by_status
        parts += [
            f"Tổng đài đã tiếp nhận **{_n(report.cases.total)}** phản ánh, kiến nghị; trong đó "
            f"**{_n(by_status[CaseStatus.RESOLVED])}** đã giải quyết, "
            f"**{_n(by_status[CaseStatus.FORWARDED] + by_status[CaseStatus.VERIFYING])}** đang "
            f"xử lý, **{_n(by_status[CaseStatus.REJECTED])}** không thụ lý (tình trạng tại thời "
            "điểm lập báo cáo).",
            _md_table(by_key["phan_anh"]),
        ]
    parts += [
        f"## {by_key['hai_long'].title}",
        f"Có **{_n(survey.scored)}** lượt người dân chấm điểm sau cuộc gọi (thang điểm "
        f"1–{survey.scale}); **{_n(survey.satisfied)}** lượt hài lòng ({low}–{high} điểm), đạt "
        f"**{_pct(survey.satisfied_rate)}**; điểm trung bình **{_dec(survey.mean, 2)}**.",
        _md_table(by_key["hai_long"]), _md_table(by_key["khao_sat"]),
        f"## {by_key['theo_ngay'].title}", f"![Số cuộc gọi theo ngày]({DAY_CHART})",
        _md_table(by_key["theo_ngay"]),
        "## Cách tính", _NOTES,
    ]
    return "\n\n".join(parts) + "\n"


_NOTES = "\n".join((
    "- Ngày tính theo giờ Việt Nam (Asia/Ho_Chi_Minh); kỳ báo cáo gồm cả ngày đầu và ngày "
    "cuối. Cuộc gọi tính vào ngày bắt đầu (cuộc gọi kéo dài qua nửa đêm tính vào ngày trước).",
    "- Kết nối: người gọi đã nói chuyện với cán bộ. Gác máy ở menu: gác máy hoặc không bấm "
    "phím trước khi chọn nhánh. Nhỡ, không có cán bộ: đã chọn nhánh nhưng cán bộ bận, không "
    "nghe máy, hoặc người gọi gác máy khi đang chờ. Ngoài giờ: gọi ngoài giờ làm việc, ngày "
    "nghỉ, ngày lễ. Khác: lỗi hệ thống, cuộc gọi chưa kết thúc.",
    "- Tỷ lệ kết nối = số cuộc kết nối / số cuộc gọi đã chọn nhánh (phần tổng quan có thêm "
    "tỷ lệ trên tổng số cuộc gọi).",
    "- Thời gian chờ: từ lúc cuộc gọi vào tổng đài (gồm lời chào, chọn nhánh) đến lúc gặp cán "
    "bộ. Thời gian đàm thoại: từ lúc gặp cán bộ đến khi kết thúc cuộc gọi (gồm cả phần khảo "
    "sát sau cuộc gọi, nếu có). Tính bằng giây, làm tròn xuống; trung vị và phân vị 90 theo "
    "hạng gần nhất (giá trị thứ ⌈p·n⌉ của dãy n giá trị đã sắp xếp).",
    "- Hài lòng: điểm từ 4/5 thang điểm trở lên (4–5 điểm trên thang 1–5).",
    f"- Cuộc gọi chưa chọn nhánh được tính vào dòng \"{NO_BRANCH}\". Gọi lại, phản ánh, "
    "kiến nghị: tình trạng tại thời điểm lập báo cáo. Danh sách từng cuộc gọi và nhóm được "
    "tính: `hotline report ... --details` (details.csv).",
))


def _md_table(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---"] + ["--:" if any(not isinstance(r[i], str) for r in table.rows) else "---"
                        for i in range(1, len(table.columns))]
    rows = [line([_md_cell(c) for c in row]) for row in table.rows]
    return "\n".join([line(table.columns), line(aligns), *rows])


def _md_cell(cell: Cell) -> str:
    match cell:
        case Pct(value):
            return _pct(value)
        case Dec(value, places):
            return _dec(value, places)
        case Secs(value):
            return "—" if value is None else f"{_n(value)}" + (
                f" ({_clock(value)})" if value >= 60 else "")
        case int():
            return _n(cell)
        case str():
            return cell


# --- CSV and XLSX --------------------------------------------------------------------


def render_csv(tables: Sequence[Table]) -> str:
    """Every figure on its own line: table, row, column, value (numbers with a dot)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("bảng", "dòng", "cột", "giá trị"))
    for table in tables:
        for row in table.rows:
            for column, cell in zip(table.columns[1:], row[1:], strict=True):
                writer.writerow((table.key, row[0], column, _raw(cell)))
    return out.getvalue()


def render_details(report: Report) -> str:
    """One line per call: every value the figures use and where the call was counted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow((
        "call_id", "day", "weekday", "day_note", "non_working_day", "started_at", "bridged_at",
        "ended_at", "branch_key", "branch", "agency", "outcome", "outcome_label", "bucket",
        "bucket_label", "chose_branch", "wait_seconds", "talk_seconds", "callback", "survey",
        "survey_score", "satisfied",
    ))
    for f in report.calls:
        writer.writerow((
            f.call_id, f.day.isoformat(), WEEKDAYS_VI[f.day.weekday()], f.day_note,
            _flag(f.non_working_day), _iso(f.started_at), _iso(f.bridged_at), _iso(f.ended_at),
            _opt(f.branch_key), f.branch, f.agency, f.outcome or "", OUTCOME_LABELS[f.outcome],
            f.bucket.value, BUCKET_LABELS[f.bucket], _flag(f.chose_branch), _opt(f.wait_seconds),
            _opt(f.talk_seconds), f.callback or "", f.survey or "", _opt(f.survey_score),
            _flag(f.satisfied),
        ))
    return out.getvalue()


def render_case_details(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
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


def render_xlsx(report: Report, tables: Sequence[Table]) -> bytes:
    workbook = Workbook()
    del workbook[workbook.sheetnames[0]]  # the empty default sheet
    for table in tables:
        sheet = workbook.create_sheet(table.sheet[:31])
        sheet.append([f"{table.title} {report_period_line(report)}"])
        sheet["A1"].font = Font(bold=True)
        sheet.append([])
        sheet.append(list(table.columns))
        for cell in sheet[3]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_xlsx_value(c) for c in row])
            for cell, value in zip(sheet[sheet.max_row], row, strict=True):
                cell.number_format = _xlsx_format(value)
        for i, column in enumerate(table.columns):
            width = max(len(text) for text in [column, *(_md_cell(r[i]) for r in table.rows)])
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


def _xlsx_value(cell: Cell) -> int | float | str | None:
    match cell:
        case Pct(value):
            return None if value is None else float(_half_up(value, 3)) / 1000
        case Dec(value, places):
            return None if value is None else float(_half_up(value, places)) / 10**places
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


def _raw(cell: Cell) -> str:
    match cell:
        case Pct(value):
            return "" if value is None else _fixed(value * 100, 1, ".")
        case Dec(value, places):
            return "" if value is None else _fixed(value, places, ".")
        case Secs(value):
            return _opt(value)
        case _:
            return str(cell)


# --- charts --------------------------------------------------------------------------


def render_charts(report: Report) -> dict[str, bytes]:
    with rc_context({"font.family": "DejaVu Sans", "font.size": 9,
                     "svg.hashsalt": "hotline-report", "axes.spines.top": False,
                     "axes.spines.right": False}):
        return {DAY_CHART: _day_chart(report), BRANCH_CHART: _branch_chart(report)}


def _day_chart(report: Report) -> bytes:
    figure = Figure(figsize=(11, 4.5), dpi=CHART_DPI)
    axes = figure.add_subplot()
    days = [day for day, _ in report.by_day]
    xs = list(range(len(days)))
    for x, day in zip(xs, days, strict=True):
        if day in report.setup.non_working_days:
            axes.axvspan(x - 0.5, x + 0.5, color="#eeeeee", zorder=0, linewidth=0)
    bottom = [0] * len(days)
    for bucket in Bucket:
        heights = [c.of(bucket) for _, c in report.by_day]
        axes.bar(xs, heights, 0.8, bottom=bottom, color=COLOURS[bucket],
                 label=BUCKET_LABELS[bucket], zorder=2)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    step = 1 if len(days) <= 62 else 7
    axes.set_xticks(xs[::step], [f"{d:%d/%m}" for d in days[::step]], rotation=90)
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.set_ylabel("Số cuộc gọi")
    axes.set_title(f"Số cuộc gọi theo ngày {report_period_line(report)} — nền xám: ngày nghỉ")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(figure)


def _branch_chart(report: Report) -> bytes:
    figure = Figure(figsize=(11, 5.5), dpi=CHART_DPI)
    axes = figure.add_subplot()
    labels = [label for label, _ in report.by_branch]
    ys = list(range(len(labels)))
    left = [0] * len(labels)
    for bucket in Bucket:
        widths = [c.of(bucket) for _, c in report.by_branch]
        axes.barh(ys, widths, 0.7, left=left, color=COLOURS[bucket], label=BUCKET_LABELS[bucket])
        left = [a + w for a, w in zip(left, widths, strict=True)]
    for y, total in zip(ys, left, strict=True):
        axes.text(total, y, f" {total}", va="center")
    axes.set_yticks(ys, labels)
    axes.invert_yaxis()
    axes.set_xlim(0, max([*left, 1]) * 1.1)  # room for the totals
    axes.set_xlabel("Số cuộc gọi")
    axes.set_title(f"Số cuộc gọi theo nhánh {report_period_line(report)}")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=CHART_DPI, metadata={"Software": None})
    return buffer.getvalue()


# --- writing and the command ---------------------------------------------------------


def write_report(
    report: Report, out: Path, formats: Sequence[str] = ("md",), *, details: bool = False
) -> list[Path]:
    """Write the report's files into `out` (created); return their paths in order."""
    out.mkdir(parents=True, exist_ok=True)
    tables = report_tables(report)
    files: dict[str, bytes] = {}
    if "md" in formats:
        files["report.md"] = render_markdown(report, tables).encode()
    if "csv" in formats:
        files["report.csv"] = render_csv(tables).encode("utf-8-sig")
    if "xlsx" in formats:
        files["report.xlsx"] = render_xlsx(report, tables)
    files.update(render_charts(report))
    if details:
        files["details.csv"] = render_details(report).encode("utf-8-sig")
        if report.cases is not None:
            files["details-cases.csv"] = render_case_details(report).encode("utf-8-sig")
    for name, data in files.items():
        (out / name).write_bytes(data)
    log.info("report.written", out=str(out), files=sorted(files))
    return [out / name for name in files]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD", help="first day (local time), included")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD", help="last day (local time), included")
    parser.add_argument("--format", dest="formats", action="append", choices=FORMATS,
                        help="md (default), csv or xlsx; repeat for several")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory to write into (default var/reports/FROM_TO)")
    parser.add_argument("--details", action="store_true",
                        help="also write details.csv: one line per call counted")


def report_command(args: argparse.Namespace, settings: Settings) -> int:
    """`hotline report`: print the files written, one per line."""
    if args.last < args.first:
        print(f"--to {args.last} is before --from {args.first}", file=sys.stderr)
        return 2
    period = ReportPeriod(args.first, args.last)
    config = load_config(settings.config)
    report = asyncio.run(load_report(settings.database_url, config, period))
    out = args.out or Path("var/reports") / f"{period.first}_{period.last}"
    for path in write_report(report, out, args.formats or ["md"], details=args.details):
        print(path)
    return 0


# --- number formats (Vietnamese: 1.234; 85,7%) --------------------------------------


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _half_up(value: Fraction, places: int) -> int:
    scaled = value * 10**places
    return int((scaled * 2 + 1) // 2) if scaled >= 0 else -int((-scaled * 2 + 1) // 2)


def _fixed(value: Fraction, places: int, point: str) -> str:
    whole, part = divmod(abs(_half_up(value, places)), 10**places)
    sign = "-" if value < 0 and (whole or part) else ""
    return f"{sign}{whole}" + (f"{point}{part:0{places}d}" if places else "")


def _pct(value: Fraction | None) -> str:
    return "—" if value is None else _fixed(value * 100, 1, ",") + "%"


def _dec(value: Fraction | None, places: int) -> str:
    return "—" if value is None else _fixed(value, places, ",")


def _dur(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{secs} giây"
    if minutes or hours:
        text = f"{minutes} phút {text}"
    return f"{_n(hours)} giờ {text}" if hours else text


def _clock(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _d(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _flag(value: bool | None) -> str:
    return "" if value is None else str(int(value))

