"""How calls are grouped in the report, and the Vietnamese name of every outcome, bucket,
survey result and case status: translated here once, for the report and the console.

`OUTCOME_LABELS` also fixes the order of the report's outcome table (every outcome, then
"still in progress").
"""

from __future__ import annotations

from enum import StrEnum

from calllog.model import CaseStatus, Outcome, SurveyResult
from routing.live import DeskState, PresenceState, Step


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




# --- The calls pages (console /calls): event kinds, Q.850 causes, who hung up, ---------
# --- call-back state. Only the names; console/timeline.py puts in the details. ---------

EVENT_LABELS: dict[str, str] = {
    "caller_number": "Số người gọi do nhà mạng báo",
    "answered": "Tổng đài nhấc máy",
    "prompt": "Phát lời thông báo",
    "prompt_end": "Hết lời thông báo",
    "digit": "Người gọi bấm phím",
    "closed": "Gọi ngoài giờ làm việc",
    "branch": "Chọn lĩnh vực",
    "desk_wait_limit": "Hết thời gian chờ cán bộ",
    "desk_dial": "Gọi máy cán bộ",
    "desk_away": "Bỏ qua máy cán bộ",
    "still_trying": "Báo người gọi vẫn đang kết nối",
    "desk_result": "Kết quả gọi máy cán bộ",
    "queue_joined": "Vào hàng đợi (mọi cán bộ đều bận)",
    "queue_position": "Báo vị trí trong hàng đợi",
    "queue_left": "Rời hàng đợi",
    "bridged": "Người gọi đã nói chuyện với cán bộ",
    "adopted": "Dịch vụ khởi động lại, tiếp tục theo dõi cuộc gọi đang nói",
    "complaint_flagged": "Cán bộ đánh dấu là phản ánh",
    "complaint_flag_failed": "Không đánh dấu được phản ánh",
    "recording": "Bắt đầu ghi tin nhắn thoại",
    "recording_failed": "Không ghi được tin nhắn thoại",
    "recorded": "Đã ghi tin nhắn thoại",
    "override": "Phát thông báo",
    "recording_notice": "Báo cuộc gọi được ghi âm",
    "review_recording": "Bắt đầu ghi âm cuộc gọi",
    "review_recording_failed": "Không ghi âm được cuộc gọi",
    "review_recording_purged": "Đã xóa ghi âm (hết hạn lưu)",
    "survey_key": "Khảo sát: người gọi bấm phím",
    "survey": "Khảo sát mức độ hài lòng",
    "service_stopped": "Dịch vụ dừng giữa cuộc gọi",
    "to_fallback": "Chuyển sang kịch bản dự phòng của tổng đài",
    "fallback": "Kịch bản dự phòng của tổng đài phục vụ cuộc gọi",
    "shed": "Tổng đài quá tải, chuyển sang kịch bản dự phòng",
    "shed_failed": "Tổng đài quá tải, không chuyển được sang kịch bản dự phòng",
    "turned_away": "Tổng đài quá tải, cuộc gọi bị từ chối",
    "ended": "Kết thúc cuộc gọi",
    "cel_incomplete": "Nhật ký của tổng đài (CEL) thiếu phần cuối cuộc gọi",
    "reconciled": "Đối soát lại sau khi dịch vụ khởi động",
    "callback_chosen": "Người gọi chọn được gọi lại, giữ nguyên thứ tự",
    "callback_queued": "Gọi lại: chờ đến lượt trong hàng đợi",
    "callback_requested": "Gọi lại: cán bộ yêu cầu từ trang quản trị",
    "callback_desk_dial": "Gọi lại: đổ chuông máy cán bộ",
    "callback_desk_result": "Gọi lại: kết quả gọi máy cán bộ",
    "callback_desk_unanswered": "Gọi lại: máy cán bộ không nhấc máy",
    "callback_dial": "Gọi lại: gọi người dân qua đường trung kế",
    "callback_result": "Gọi lại: người dân không nghe máy",
    "callback_desk_left": "Gọi lại: cán bộ gác máy trước khi người dân nghe",
    "callback_bridged": "Gọi lại: cán bộ đã nói chuyện với người dân",
    "callback_ended": "Gọi lại: kết thúc cuộc nói chuyện",
    "callback_retry": "Gọi lại: sẽ thử lại",
    "callback_done": "Gọi lại: kết quả",
    "callback_refused": "Gọi lại: không gọi số này",
    "callback_taken_over": "Gọi lại: cán bộ đã nhận gọi lại từ trang quản trị",
}
"""Every kind of event the call flow (ivr/) and the CEL import (ivr/cel.py) write."""

Q850_CAUSE_LABELS: dict[int, str] = {
    1: "số máy không tồn tại",
    3: "không có đường tới máy",
    16: "kết thúc bình thường",
    17: "máy bận",
    18: "máy không phản hồi",
    19: "không nghe máy",
    20: "máy chưa đăng ký",
    21: "từ chối cuộc gọi",
    22: "số máy đã thay đổi",
    27: "máy hỏng hoặc mất kết nối",
    28: "sai định dạng số",
    31: "kết thúc, không rõ lý do",
    34: "hết kênh liên lạc",
    38: "mạng không hoạt động",
    41: "lỗi tạm thời",
    42: "tổng đài nghẽn",
    102: "hết thời gian chờ",
    127: "lỗi liên mạng",
}
"""Q.850 hangup causes in words (SIP 486 Busy Here arrives as Q.850 17: "máy bận")."""

DIALSTATUS_LABELS: dict[str, str] = {
    "ANSWER": "nhấc máy",
    "BUSY": "máy bận",
    "NOANSWER": "không nghe máy",
    "CHANUNAVAIL": "không liên lạc được",
    "CONGESTION": "nghẽn mạng",
    "CANCEL": "đã hủy",
}

HANGUP_BY_LABELS: dict[str, str] = {
    "caller": "Người gọi",
    "desk": "Cán bộ",
    "system": "Tổng đài",
}

CALLBACK_STATE_LABELS: dict[str, str] = {
    "pending": "Chờ gọi lại",
    "done": "Đã gọi lại",
    "no_number": "Không có số để gọi lại",
}


# --- call-back results (console: Gọi lại) ----------------------------------------------
CALLBACK_RESULT_LABELS: dict[str, str] = {
    "reached": "Đã liên lạc được",
    "not_reached": "Không liên lạc được",
    "wrong_number": "Sai số",
}
"""Keyed by `calllog.followup.CallbackResult` values, in the order the form offers them."""


# --- the wallboard (issue 15): where a call in progress is, what a desk is doing -------

STEP_LABELS: dict[Step, str] = {
    "answering": "Đang chào",
    "menu": "Đang nghe menu",
    "queued": "Đang chờ trong hàng đợi",
    "ringing": "Đang đổ chuông",
    "talking": "Đang đàm thoại",
    "survey": "Khảo sát",
    "message": "Để lại lời nhắn",
}

DESK_STATE_LABELS: dict[DeskState, str] = {
    "registered": "Sẵn sàng",
    "unregistered": "Chưa đăng ký",
    "busy": "Đang bận",
    "ringing": "Đang đổ chuông",
    "unknown": "Chưa rõ",
}


PRESENCE_STATE_LABELS: dict[PresenceState, str] = {
    "talking": "Đang nghe máy",
    "ringing": "Đang đổ chuông",
    "logged_out": "Đã đăng xuất",
    "paused": "Tạm nghỉ",
    "wrap_up": "Hoàn tất sau cuộc gọi",
    "free": "Sẵn sàng",
    "unregistered": "Chưa đăng ký",
    "unknown": "Chưa rõ",
}
"""The wallboard's desk rows (`routing.live.presence_state`)."""

QUEUE_RESULT_LABELS: dict[str, str] = {
    "answered": "được cán bộ trả lời",
    "abandoned": "người gọi gác máy khi đang chờ",
    "max_wait": "chờ quá thời gian tối đa (chuyển để lại lời nhắn)",
    "callback": "chọn được gọi lại, giữ chỗ trong hàng chờ",
}
"""Why a caller left a queue (`calllog.model.QueueResult`); others show as stored."""

CHANNEL_LABELS: dict[str, str] = {
    "phone": "Điện thoại",
    "zalo": "Zalo",
}

SEND_STATUS_LABELS: dict[str, str] = {
    "pending": "Đang chờ gửi",
    "sent": "Đã gửi",
    "delivered": "Đã nhận",
    "failed": "Gửi lỗi",
    "skipped": "Không gửi (không phải số di động)",
}
