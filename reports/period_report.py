"""The package's front: `build` a period's report from the call log's records and the
YAML, then `render` it in any format the CLI writes or the console offers for download.

`hotline report` and the console both go through here, so a figure can only differ
between them if the records they read differ.

Formats (`FORMATS`, each one file a download button can serve as it is):

    md            report.md             the report; its charts are linked by file name
    csv           report.csv            every figure, one per line (UTF-8 with a BOM)
    xlsx          report.xlsx           one sheet per table
    day-chart     calls-per-day.png
    branch-chart  calls-per-branch.png
    details       details.csv           one line per call counted
    case-details  details-cases.csv     one line per case counted (only with cases)
    zip           <first>_<last>.zip    every file above in one folder: the Markdown with
                                        its charts beside it, as `hotline report` writes
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from calllog.channels import ChannelTallies
from calllog.model import CallRecord, Case
from calllog.presence import PresenceHistory
from calllog.queries import CallbackFigures, PeriodData
from reports.charts import BRANCH_CHART, DAY_CHART, render_chart
from reports.csv_files import render_case_details, render_csv, render_details
from reports.figures import (
    BranchInfo,
    Report,
    ReportPeriod,
    ReportSetup,
    compute_report,
    report_from_tallies,
)
from reports.markdown import render_markdown
from reports.tables import Table, report_tables
from reports.xlsx import render_xlsx
from routing.config import HotlineConfig
from routing.hours import open_state

DEFAULT_SURVEY_SCALE = 5
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PeriodReport:
    """A period's figures and the tables every rendering (and the console page) shows."""

    figures: Report
    tables: tuple[Table, ...]

    @classmethod
    def of(cls, figures: Report) -> PeriodReport:
        return cls(figures, tuple(report_tables(figures)))

    @property
    def period(self) -> ReportPeriod:
        return self.figures.period


@dataclass(frozen=True)
class Format:
    """One rendering: the name a caller asks for, the file it makes, its media type."""

    name: str
    filename: str
    media_type: str


CSV_TYPE = "text/csv; charset=utf-8"
FORMATS: Mapping[str, Format] = {f.name: f for f in (
    Format("md", "report.md", "text/markdown; charset=utf-8"),
    Format("csv", "report.csv", CSV_TYPE),
    Format("xlsx", "report.xlsx",
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    Format("day-chart", DAY_CHART, "image/png"),
    Format("branch-chart", BRANCH_CHART, "image/png"),
    Format("details", "details.csv", CSV_TYPE),
    Format("case-details", "details-cases.csv", CSV_TYPE),
    Format("zip", "report.zip", "application/zip"),
)}
DOCUMENTS = ("md", "csv", "xlsx")
"""The formats `hotline report --format` chooses between; the charts always come along."""


def build(
    records: Iterable[CallRecord],
    cases: Iterable[Case] | None,
    period: ReportPeriod,
    config: HotlineConfig,
    callbacks: CallbackFigures | None = None,
    channels: ChannelTallies | None = None,
    presence: PresenceHistory | None = None,
) -> PeriodReport:
    """The report of `period` (local days, both included) from the call log's records.

    `cases` is None for a call log that keeps no cases (the report then says so).
    `callbacks` (`CallQueries.callback_figures`, or `period_records`) adds the call
    backs' results; None for a log that keeps none. Records outside the period are
    ignored."""
    return PeriodReport.of(compute_report(
        records, cases, report_setup(config, period), period, callbacks, channels, presence))


def build_from_data(data: PeriodData, period: ReportPeriod, config: HotlineConfig) -> PeriodReport:
    """The report of `period` from what `CallQueries.period_data` read for it: the figures
    from its tallies, the details (`Report.calls`, the cases' list) from its records when
    it read them."""
    return PeriodReport.of(report_from_tallies(
        data.tallies, report_setup(config, period), period, calls=data.calls, cases=data.cases,
        channels=data.channels, presence=data.presence))


DETAILED = frozenset({"details", "case-details", "zip"})
"""The formats that list every call or case: the report must be built with its details."""


def render(report: PeriodReport, fmt: str) -> bytes:
    """`report` as the file `FORMATS[fmt]` names (KeyError for an unknown format)."""
    return _RENDERERS[FORMATS[fmt].name](report)


def download_name(report: PeriodReport, fmt: str) -> str:
    """The file name a download offers, the period in it: `2026-09-01_2026-09-30-report.md`."""
    period = report.period
    if fmt == "zip":
        return f"{period.first}_{period.last}.zip"
    return f"{period.first}_{period.last}-{FORMATS[fmt].filename}"


def files(
    report: PeriodReport, documents: Sequence[str] = ("md",), *, details: bool = False
) -> dict[str, bytes]:
    """The files `hotline report` writes, by name, in order: the chosen documents, the two
    charts, and with `details` what each figure counts (the cases' file only with cases)."""
    unknown = set(documents) - set(DOCUMENTS)
    if unknown:
        raise ValueError(f"unknown report formats: {sorted(unknown)}")
    chosen = [fmt for fmt in DOCUMENTS if fmt in documents]
    chosen += ["day-chart", "branch-chart"]
    if details:
        chosen.append("details")
        if report.figures.cases is not None:
            chosen.append("case-details")
    return {FORMATS[fmt].filename: render(report, fmt) for fmt in chosen}


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


def _zip(report: PeriodReport) -> bytes:
    """Every file of `hotline report --format md --format csv --format xlsx --details` in
    one folder named after the period; entries dated 1980-01-01 so the bytes repeat."""
    folder = f"{report.period.first}_{report.period.last}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files(report, DOCUMENTS, details=True).items():
            entry = zipfile.ZipInfo(f"{folder}/{name}", date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return buffer.getvalue()


_RENDERERS: dict[str, Callable[[PeriodReport], bytes]] = {
    "md": lambda r: render_markdown(r.figures, r.tables).encode(),
    "csv": lambda r: render_csv(r.tables).encode("utf-8-sig"),
    "xlsx": lambda r: render_xlsx(r.figures, r.tables),
    "day-chart": lambda r: render_chart(r.figures, DAY_CHART),
    "branch-chart": lambda r: render_chart(r.figures, BRANCH_CHART),
    "details": lambda r: render_details(r.figures).encode("utf-8-sig"),
    "case-details": lambda r: render_case_details(r.figures).encode("utf-8-sig"),
    "zip": _zip,
}
