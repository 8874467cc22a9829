"""The period's report: its figures and their renderings, one implementation behind the
`hotline report` command and the console.

    period_report.py  the front: `build_from_data(data, period, config) -> PeriodReport` (what
                      `CallQueries.period_data` read), `build(records, cases, period, config)`,
                      `render(report, fmt) -> bytes`, `FORMATS`, `files` (what the CLI writes)
    figures.py        the figures, pure, from the period's tallies (counted by the database,
                      or from plain call and case records); their definitions
    labels.py         buckets, and the Vietnamese names of outcomes, buckets, survey
                      results and case statuses (translated once, for the console too)
    tables.py         the figures laid out as titled tables of typed cells; Vietnamese
                      number, percentage, duration and date formats
    markdown.py, csv_files.py, xlsx.py, charts.py   the renderings

Pure: no database, no clock, no file. The caller reads the records (the CLI through
`calllog`, the console through its query side) and writes or serves the bytes. The period
and the configuration are parameters; "now" is never read (call-backs and cases are
counted as the records stand).

Reproducible: the same records give the same bytes. Nothing says when it was made; rows
are in a fixed order; charts are drawn by Agg at a fixed size and DPI with the bundled
DejaVu Sans and no PNG metadata; the XLSX takes its dates from the period and fixes its
zip entries' times; CSV files are UTF-8 with a BOM (Excel then reads the Vietnamese).

Adding a figure (e.g. call-back results): compute it in `figures.py` as a field of
`Report` (a small `...Stats` dataclass made by a `_..._stats` function, the way
`CallbackStats` is), lay it out as a `Table` in `tables.report_tables`, and say it in a
sentence in `markdown.py`. The CSV, the XLSX and the console's page follow the tables by
themselves; `--details` rows are in `csv_files.py`.
"""

from reports.figures import BranchInfo, Report, ReportPeriod, ReportSetup, compute_report
from reports.labels import BUCKET_LABELS, CASE_STATUS_LABELS, OUTCOME_LABELS, Bucket
from reports.period_report import (
    DETAILED,
    DOCUMENTS,
    FORMATS,
    Format,
    PeriodReport,
    build,
    build_from_data,
    download_name,
    files,
    render,
    report_setup,
)
from reports.tables import Table

__all__ = [
    "BUCKET_LABELS",
    "CASE_STATUS_LABELS",
    "DETAILED",
    "DOCUMENTS",
    "FORMATS",
    "OUTCOME_LABELS",
    "BranchInfo",
    "Bucket",
    "Format",
    "PeriodReport",
    "Report",
    "ReportPeriod",
    "ReportSetup",
    "Table",
    "build",
    "build_from_data",
    "compute_report",
    "download_name",
    "files",
    "render",
    "report_setup",
]
