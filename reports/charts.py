"""The report's charts as PNGs: calls per day (non-working days shaded) and calls per
branch, stacked by bucket.

Reproducible: drawn by Agg at a fixed size and DPI with the bundled DejaVu Sans, and
saved without PNG metadata.
"""

from __future__ import annotations

import io

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.figures import Report
from reports.labels import BUCKET_LABELS, Bucket
from reports.tables import report_period_line

DAY_CHART, BRANCH_CHART = "calls-per-day.png", "calls-per-branch.png"
COLOURS = {
    Bucket.CONNECTED: "#2e7d32", Bucket.MENU: "#9e9e9e", Bucket.MISSED: "#ef6c00",
    Bucket.OUTSIDE_HOURS: "#1565c0", Bucket.OTHER: "#6d4c41",
}
CHART_DPI = 100


def render_chart(report: Report, name: str) -> bytes:
    """The chart `name` (`DAY_CHART` or `BRANCH_CHART`) as PNG bytes."""
    draw = {DAY_CHART: _day_chart, BRANCH_CHART: _branch_chart}[name]
    with rc_context({"font.family": "DejaVu Sans", "font.size": 9,
                     "svg.hashsalt": "hotline-report", "axes.spines.top": False,
                     "axes.spines.right": False}):
        return draw(report)


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
