"""The report's tables: one layout that the Markdown, CSV and XLSX renderings share.

`report_tables` lays the figures of a `reports.figures.Report` out as titled tables whose
cells keep their kind (a count, a percentage, a decimal, seconds), so each rendering can
show them its own way. `cell_text` and the `fmt_*` functions give the Vietnamese text of
a cell or figure (1.234; 85,7%; 1 phút 5 giây; 01/09/2026).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from calllog.model import CaseStatus
from reports.figures import CaseStats, Counts, RatingStats, Report, ratio, satisfied_scores
from reports.labels import (
    BUCKET_LABELS,
    BUCKET_OF,
    CALLBACK_RESULT_LABELS,
    CASE_STATUS_LABELS,
    CHANNEL_LABELS,
    OUTCOME_LABELS,
    QUEUE_RESULT_LABELS,
    SURVEY_LABELS,
    Bucket,
)

WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


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
    return f"(từ ngày {fmt_date(report.period.first)} đến ngày {fmt_date(report.period.last)})"


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
        _callback_table(report),
    ]
    if report.cases is not None:
        tables.append(_case_table(report.cases))
    return [*tables, *_survey_tables(report), _day_table(report), *_channel_tables(report),
            *_queue_tables(report)]


def service_level_label(seconds: int) -> str:
    """The service level's name with its definition (`reports.queue_figures`)."""
    return (f"Mức phục vụ {seconds} giây: trả lời trong {seconds} giây kể từ khi vào hàng "
            "chờ (không phải chờ: tính là đạt) / cuộc gọi đến cán bộ hoặc hàng chờ")


def _queue_tables(report: Report) -> list[Table]:
    """The queue's figures (service level, wait, abandoned) and the desks' (calls, talk
    and pause time)."""
    queue = report.queue
    if queue is None:
        return []
    rows: list[tuple[Cell, ...]] = [
        ("Cuộc gọi đến cán bộ hoặc hàng chờ", queue.offered, ""),
        ("Cuộc gọi được trả lời", queue.answered, Pct(ratio(queue.answered, queue.offered))),
        *((service_level_label(level.seconds), level.within, Pct(level.rate))
          for level in queue.service_levels),
        ("Cuộc gọi vào hàng chờ", queue.queued, Pct(ratio(queue.queued, queue.offered))),
        *((f"Rời hàng chờ: {QUEUE_RESULT_LABELS.get(result, result)}", n,
           Pct(ratio(n, queue.queued))) for result, n in queue.by_result.items()),
        ("Thời gian chờ trong hàng chờ, trung vị (giây)", Secs(queue.wait.median), ""),
        ("Thời gian chờ trong hàng chờ, phân vị 90 (giây)", Secs(queue.wait.p90), ""),
    ]
    desks = tuple(
        (desk.extension, desk.calls, Secs(desk.talk_seconds),
         "—" if desk.pause_seconds is None else Secs(desk.pause_seconds))
        for desk in report.desks)
    return [
        Table("hang_cho", "Hàng chờ", "13. Hàng chờ và mức phục vụ",
              ("Chỉ tiêu", "Số cuộc gọi", "Tỷ lệ"), tuple(rows)),
        Table("theo_may_le", "Theo máy lẻ", "14. Theo máy lẻ của cán bộ",
              ("Máy lẻ", "Cuộc gọi đã trả lời", "Thời gian đàm thoại (giây)",
               "Thời gian tạm nghỉ (giây)"), desks),
    ]


def _channel_tables(report: Report) -> list[Table]:
    """By channel (phone, Zalo), and the survey campaigns' ratings per agency and per
    procedure when the period has some (only when the call log counts channels)."""
    stats = report.channels
    if stats is None:
        return []
    rating_columns = ("Lượt đánh giá", "Hài lòng", "Tỷ lệ hài lòng", "Điểm trung bình")

    def rating_cells(r: RatingStats) -> tuple[Cell, ...]:
        return (r.scored, r.satisfied, Pct(r.satisfied_rate), Dec(r.mean))

    def campaign(key: str, sheet: str, title: str, first: str,
                 groups: Sequence[tuple[str, RatingStats]]) -> Table:
        return Table(key, sheet, title, (first, *rating_columns), tuple(
            (label, *rating_cells(r)) for label, r in groups))

    campaigns = [t for t in (
        campaign("khao_sat_co_quan", "Khảo sát Zalo theo cơ quan",
                 "11. Khảo sát qua Zalo theo cơ quan", "Cơ quan", stats.campaign_by_agency),
        campaign("khao_sat_thu_tuc", "Khảo sát Zalo theo thủ tục",
                 "12. Khảo sát qua Zalo theo thủ tục", "Thủ tục", stats.campaign_by_procedure),
    ) if t.rows]
    return [
        Table("theo_kenh", "Theo kênh", "10. Theo kênh tiếp nhận (điện thoại, Zalo)",
              ("Kênh", "Tiếp nhận", "Phản ánh mở", "Giải quyết đúng hạn", "Tỷ lệ đúng hạn",
               *rating_columns), tuple(
                  (CHANNEL_LABELS.get(c.channel, c.channel), c.received, c.cases_opened,
                   c.resolved_in_time, Pct(c.resolved_in_time_rate), *rating_cells(c.ratings))
                  for c in stats.channels)),
        *campaigns,
    ]


def _callback_table(report: Report) -> Table:
    callbacks = report.callbacks
    rows: list[tuple[Cell, ...]] = [
        ("Cần gọi lại", callbacks.needed), ("Đã gọi lại", callbacks.done),
        ("Chưa gọi lại", callbacks.pending)]
    if (results := callbacks.results) is not None:
        rows += [("Đã gọi lại: liên lạc được với người dân", results.reached),
                 ("Đã gọi lại: sai số điện thoại", results.wrong_number),
                 ("Số lần gọi lại (kể cả không liên lạc được)", results.attempts),
                 ("Thời gian đến khi gọi lại, trung vị (giây)", Secs(results.median_seconds)),
                 *((f"Kết quả lần gọi lại gần nhất: {CALLBACK_RESULT_LABELS.get(r, r)}", n)
                   for r, n in results.by_result.items())]
    return Table("goi_lai", "Gọi lại", "6. Gọi lại cho người dân", ("Chỉ tiêu", "Số liệu"),
                 tuple(rows))


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
        *((fmt_date(day), WEEKDAYS_VI[day.weekday()], notes.get(day, ""), *_counts_cells(counts))
          for day, counts in report.by_day),
        ("Tổng cộng", "", "", *_counts_cells(report.total)),
    ))


# --- how cells and figures read (Vietnamese: 1.234; 85,7%) ---------------------------


def cell_text(cell: Cell) -> str:
    match cell:
        case Pct(value):
            return fmt_pct(value)
        case Dec(value, places):
            return fmt_dec(value, places)
        case Secs(value):
            return "—" if value is None else f"{fmt_int(value)}" + (
                f" ({fmt_clock(value)})" if value >= 60 else "")
        case int():
            return fmt_int(cell)
        case str():
            return cell


def fmt_int(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def round_half_up(value: Fraction, places: int) -> int:
    scaled = value * 10**places
    return int((scaled * 2 + 1) // 2) if scaled >= 0 else -int((-scaled * 2 + 1) // 2)


def fmt_fixed(value: Fraction, places: int, point: str) -> str:
    whole, part = divmod(abs(round_half_up(value, places)), 10**places)
    sign = "-" if value < 0 and (whole or part) else ""
    return f"{sign}{whole}" + (f"{point}{part:0{places}d}" if places else "")


def fmt_pct(value: Fraction | None) -> str:
    return "—" if value is None else fmt_fixed(value * 100, 1, ",") + "%"


def fmt_dec(value: Fraction | None, places: int) -> str:
    return "—" if value is None else fmt_fixed(value, places, ",")


def fmt_duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{secs} giây"
    if minutes or hours:
        text = f"{minutes} phút {text}"
    return f"{fmt_int(hours)} giờ {text}" if hours else text


def fmt_clock(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_date(day: date) -> str:
    return f"{day:%d/%m/%Y}"
