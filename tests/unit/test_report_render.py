"""Rendering the report (the `reports` package, written by `hotline.report`): the Markdown says
the sample's figures in Vietnamese, the CSVs parse and add up, the XLSX opens with one
sheet per table, the PNGs are drawn, and two runs write byte-identical files."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from hotline.report import write_report
from reports import PeriodReport, report_setup
from reports.charts import BRANCH_CHART, DAY_CHART
from reports.csv_files import render_csv, render_details
from reports.figures import Report, ReportPeriod, compute_report
from reports.markdown import render_markdown
from reports.tables import report_tables
from routing.config import HotlineConfig, load_config
from routing.hours import Holiday
from tests.unit.test_report import PERIOD, SETUP, sample_calls, sample_cases

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> Report:
    return compute_report(sample_calls(), sample_cases(), SETUP, PERIOD)


@pytest.fixture(scope="module")
def markdown(report: Report) -> str:
    return render_markdown(report, report_tables(report))


@pytest.fixture(scope="module")
def written(report: Report, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every file of the sample's report (drawn once: the charts take a while)."""
    return write_report(PeriodReport.of(report), tmp_path_factory.mktemp("report"),
                        ["md", "csv", "xlsx"], details=True)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_markdown_title_and_period_as_the_province_writes_them(markdown: str) -> None:
    assert markdown.startswith(
        "# BÁO CÁO KẾT QUẢ HOẠT ĐỘNG TỔNG ĐÀI HỖ TRỢ CÔNG TÁC CẢI CÁCH HÀNH CHÍNH TỈNH HẬU GIANG"
        "\n\n**(từ ngày 01/09/2026 đến ngày 03/09/2026)**\n")


@pytest.mark.parametrize("line", [
    "Tổng đài đã tiếp nhận **14** cuộc gọi đến; trong đó **8** cuộc gọi đã chọn nhánh, **5** "
    "cuộc gọi được kết nối với cán bộ phụ trách (đạt **62,5%** số cuộc gọi đã chọn nhánh, "
    "**35,7%** tổng số cuộc gọi) và **3** cuộc gọi ngoài giờ làm việc hoặc ngày nghỉ.",
    "| Cuộc gọi vào ngày nghỉ (lễ, cuối tuần) | 1 | 7,1% |",
    "| Nhánh | Tiếp nhận | Kết nối | Gác máy ở menu | Nhỡ, không có cán bộ | Ngoài giờ | Khác "
    "| Tỷ lệ kết nối |",
    "| 1. Công tác chỉ đạo điều hành | 3 | 2 | 0 | 0 | 0 | 1 | 66,7% |",
    "| 9. Tư vấn các vấn đề khác | 1 | 1 | 0 | 0 | 0 | 0 | 100,0% |",
    "| Chưa chọn nhánh | 6 | 0 | 2 | 0 | 3 | 1 | — |",
    "| Tổng cộng | 14 | 5 | 2 | 2 | 3 | 2 | 62,5% |",
    "| Sở Nội vụ | 4 | 2 | 0 | 1 | 0 | 1 | 50,0% |",
    "| Gọi ngoài giờ làm việc hoặc ngày nghỉ | Ngoài giờ | 3 | 21,4% |",
    "| Cuộc gọi chưa kết thúc | Khác | 1 | 7,1% |",
    "| Thời gian chờ gặp cán bộ | 4 | 20 | 50 | 110 (1:50) |",
    "| Thời gian đàm thoại | 4 | 100 (1:40) | 300 (5:00) | 660 (11:00) |",
    "Thời gian chờ trung vị **20 giây** (90% số cuộc gọi chờ không quá 50 giây); thời gian "
    "đàm thoại trung vị **1 phút 40 giây**, tổng cộng 11 phút 0 giây.",
    "đã gọi lại **1**, còn **2** cuộc chưa gọi lại",
    "| Cơ quan xử lý | Đã tiếp nhận | Đã chuyển cơ quan xử lý | Đang xác minh | Đã giải quyết "
    "| Không thụ lý | Tổng |",
    "| Chưa chuyển cơ quan xử lý | 1 | 0 | 0 | 0 | 0 | 1 |",
    "| Tổng cộng | 1 | 1 | 0 | 1 | 0 | 3 |",
    "| 2 điểm | 1 | 33,3% |",
    "| Hài lòng (4–5 điểm) | 2 | 66,7% |",
    "| Điểm trung bình |  | 3,67 |",
    "| Tổng số cuộc gọi được mời khảo sát | 6 |",
    "| 01/09/2026 | Thứ Ba |  | 8 | 3 | 1 | 2 | 2 | 0 | 60,0% |",
    "| 02/09/2026 | Thứ Tư | Quốc khánh | 1 | 0 | 0 | 0 | 1 | 0 | — |",
    f"![Số cuộc gọi theo ngày]({DAY_CHART})",
    f"![Số cuộc gọi theo nhánh]({BRANCH_CHART})",
    "## Cách tính",
])
def test_markdown_says_the_exact_figures(markdown: str, line: str) -> None:
    assert line in markdown


def test_markdown_without_cases_says_there_are_none() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    text = render_markdown(report, report_tables(report))
    assert "## 7. Phản ánh, kiến nghị\n\n_Nhật ký cuộc gọi chưa lưu phản ánh" in text
    assert "Cơ quan xử lý" not in text


def test_markdown_of_an_empty_period_has_dashes_not_errors() -> None:
    report = compute_report([], [], SETUP, PERIOD)
    text = render_markdown(report, report_tables(report))
    assert "tiếp nhận **0** cuộc gọi" in text
    assert "| Thời gian chờ gặp cán bộ | 0 | — | — | 0 |" in text


def test_csv_holds_every_figure_once(report: Report) -> None:
    rows = rows_of(render_csv(report_tables(report)))
    assert list(rows[0]) == ["bảng", "dòng", "cột", "giá trị"]
    figures = {(r["bảng"], r["dòng"], r["cột"]): r["giá trị"] for r in rows}
    assert len(figures) == len(rows)
    assert figures[("tong_quan", "Tổng số cuộc gọi đến", "Số cuộc gọi")] == "14"
    assert figures[("theo_nhanh", "Tổng cộng", "Tỷ lệ kết nối")] == "62.5"
    assert figures[("theo_nhanh", "Chưa chọn nhánh", "Tỷ lệ kết nối")] == ""
    assert figures[("thoi_gian", "Thời gian đàm thoại", "Phân vị 90 (giây)")] == "300"
    assert figures[("hai_long", "Điểm trung bình", "Tỷ lệ")] == "3.67"
    assert figures[("theo_ngay", "02/09/2026", "Ghi chú")] == "Quốc khánh"


def test_details_list_the_calls_behind_every_figure(report: Report) -> None:
    rows = rows_of(render_details(report))
    assert [r["call_id"] for r in rows] == [f.call_id for f in report.calls]
    by_id = {r["call_id"]: r for r in rows}
    assert by_id["c7"]["day"] == "2026-09-01"
    assert by_id["c7"]["ended_at"] == "2026-09-02T00:01:00+07:00"
    assert (by_id["c2"]["wait_seconds"], by_id["c2"]["talk_seconds"]) == ("10", "60")
    assert (by_id["c8"]["non_working_day"], by_id["c8"]["day_note"]) == ("1", "Quốc khánh")
    assert by_id["c10"]["survey_score"] == ""  # off the scale: not counted
    # the figures can be recounted from the details
    assert Counter(r["bucket"] for r in rows) == Counter(
        {b.value: n for b, n in report.total.buckets.items() if n})
    assert sum(r["chose_branch"] == "1" for r in rows) == report.total.chose_branch
    assert sum(r["satisfied"] == "1" for r in rows) == report.survey.satisfied
    by_branch = Counter(r["branch"] for r in rows)
    assert all(by_branch[label] == c.received for label, c in report.by_branch)


def test_write_report_writes_every_format(written: list[Path]) -> None:
    assert [p.name for p in written] == [
        "report.md", "report.csv", "report.xlsx", DAY_CHART, BRANCH_CHART, "details.csv",
        "details-cases.csv"]
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG)
            assert b"Software" not in path.read_bytes()  # no metadata naming the writer
        elif path.suffix == ".csv":
            assert path.read_bytes().startswith("\ufeff".encode())  # Excel reads UTF-8
    cases = rows_of(written[-1].read_text("utf-8-sig"))
    assert [(c["case_id"], c["status_label"]) for c in cases] == [
        ("1", "Đã chuyển cơ quan xử lý"), ("3", "Đã tiếp nhận"), ("2", "Đã giải quyết")]


def test_xlsx_has_one_sheet_per_table_with_numbers(written: list[Path]) -> None:
    (path,) = [p for p in written if p.suffix == ".xlsx"]
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [
        "Tổng quan", "Theo nhánh", "Theo cơ quan", "Kết quả cuộc gọi", "Thời gian", "Gọi lại",
        "Phản ánh, kiến nghị", "Hài lòng", "Khảo sát", "Theo ngày",
        "Hàng chờ", "Theo máy lẻ"]
    sheet = workbook["Theo nhánh"]
    assert sheet["A1"].value == "2. Kết quả theo nhánh (từ ngày 01/09/2026 đến ngày 03/09/2026)"
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert rows[0][:3] == ["Nhánh", "Tiếp nhận", "Kết nối"]
    assert rows[-1] == ["Tổng cộng", 14, 5, 2, 2, 3, 2, 0.625]
    assert sheet.cell(row=len(rows) + 2, column=8).number_format == "0.0%"
    # the workbook's dates come from the period (its end, 03/09 24:00 ICT, in UTC)
    assert workbook.properties.created == datetime(2026, 9, 3, 17, 0)
    assert workbook.properties.modified == datetime(2026, 9, 3, 17, 0)


def test_two_runs_write_the_same_bytes(
    report: Report, written: list[Path], tmp_path: Path
) -> None:
    again = write_report(PeriodReport.of(report), tmp_path, ["md", "csv", "xlsx"], details=True)
    for a, b in zip(written, again, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_setup_from_the_yaml_marks_weekends_holidays_and_make_up_days() -> None:
    config = load_config(ROOT / "config" / "hotline.yaml")
    hours = config.hours.model_copy(update={
        "extra_working_days": [Holiday(date=date(2026, 9, 5), name="bù ngày 31/8")]})
    config = HotlineConfig.model_validate(config.model_copy(update={"hours": hours}).model_dump())
    setup = report_setup(config, ReportPeriod(date(2026, 8, 29), date(2026, 9, 6)))
    assert setup.day_notes == {
        date(2026, 8, 29): "Ngày nghỉ", date(2026, 8, 30): "Ngày nghỉ",
        date(2026, 9, 1): "Quốc khánh", date(2026, 9, 2): "Quốc khánh",
        date(2026, 9, 5): "Làm bù (bù ngày 31/8)", date(2026, 9, 6): "Ngày nghỉ"}
    assert setup.non_working_days == {date(2026, 8, 29), date(2026, 8, 30), date(2026, 9, 1),
                                      date(2026, 9, 2), date(2026, 9, 6)}
    assert [(b.key, b.agency) for b in setup.branches][:2] == [
        (1, "Sở Nội vụ"), (2, "Hiệp hội doanh nghiệp tỉnh")]
    assert (setup.survey_scale, setup.timezone, setup.hotline_number) == (
        5, "Asia/Ho_Chi_Minh", "19001080")
