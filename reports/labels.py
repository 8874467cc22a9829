"""How calls are grouped in the report, and the Vietnamese name of every outcome, bucket,
survey result and case status: translated here once, for the report and the console.

`OUTCOME_LABELS` also fixes the order of the report's outcome table (every outcome, then
"still in progress").
"""

from __future__ import annotations

from enum import StrEnum

from calllog.model import CaseStatus, Outcome, SurveyResult


class Bucket(StrEnum):
    """Where a call counts in the per-branch, per-agency and per-day tables."""

    CONNECTED = "connected"
    MENU = "menu"
    MISSED = "missed"
    OUTSIDE_HOURS = "outside_hours"
    OTHER = "other"


BUCKET_OF: dict[Outcome | None, Bucket] = {
    Outcome.CONNECTED: Bucket.CONNECTED,
    Outcome.ABANDONED_IN_MENU: Bucket.MENU,
    Outcome.NO_SELECTION: Bucket.MENU,
    Outcome.DESK_UNREACHABLE: Bucket.MISSED,
    Outcome.ABANDONED_WHILE_RINGING: Bucket.MISSED,
    Outcome.REFUSED: Bucket.MISSED,
    Outcome.CLOSED: Bucket.OUTSIDE_HOURS,
    Outcome.FAILED: Bucket.OTHER,
    None: Bucket.OTHER,
}

BUCKET_LABELS: dict[Bucket, str] = {
    Bucket.CONNECTED: "Kết nối",
    Bucket.MENU: "Gác máy ở menu",
    Bucket.MISSED: "Nhỡ, không có cán bộ",
    Bucket.OUTSIDE_HOURS: "Ngoài giờ",
    Bucket.OTHER: "Khác",
}
"""Short: they head the table columns; the report's notes say what each holds."""

OUTCOME_LABELS: dict[Outcome | None, str] = {
    Outcome.CONNECTED: "Đã kết nối với cán bộ phụ trách",
    Outcome.ABANDONED_IN_MENU: "Người gọi gác máy khi đang chọn nhánh",
    Outcome.NO_SELECTION: "Người gọi không chọn phím nào",
    Outcome.DESK_UNREACHABLE: "Cán bộ bận hoặc không nghe máy",
    Outcome.ABANDONED_WHILE_RINGING: "Người gọi gác máy khi đang chờ cán bộ",
    Outcome.CLOSED: "Gọi ngoài giờ làm việc hoặc ngày nghỉ",
    Outcome.REFUSED: "Tổng đài quá tải, cuộc gọi bị từ chối",
    Outcome.FAILED: "Lỗi hệ thống",
    None: "Cuộc gọi chưa kết thúc",
}

SURVEY_LABELS: dict[SurveyResult, str] = {
    SurveyResult.ANSWERED: "Đã chấm điểm",
    SurveyResult.SKIPPED: "Bỏ qua khảo sát",
    SurveyResult.NO_ANSWER: "Không bấm phím",
    SurveyResult.HUNG_UP: "Gác máy giữa chừng",
}

CASE_STATUS_LABELS: dict[CaseStatus, str] = {
    CaseStatus.RECEIVED: "Đã tiếp nhận",
    CaseStatus.FORWARDED: "Đã chuyển cơ quan xử lý",
    CaseStatus.VERIFYING: "Đang xác minh",
    CaseStatus.RESOLVED: "Đã giải quyết",
    CaseStatus.REJECTED: "Không thụ lý",
}



# --- call-back results (console: Gọi lại) ----------------------------------------------
CALLBACK_RESULT_LABELS: dict[str, str] = {
    "reached": "Đã liên lạc được",
    "not_reached": "Không liên lạc được",
    "wrong_number": "Sai số",
}
"""Keyed by `calllog.followup.CallbackResult` values, in the order the form offers them."""
