"""A call's timeline in plain Vietnamese: one line per event of the call log.

The names of the event kinds, Q.850 causes and the like are in `reports.labels` (the one
place they are translated); this module only puts an event's details into the sentence.
Pure: no I/O, so every sentence is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from calllog.model import CallEvent, EventDetail, Outcome, SurveyResult
from console.fmt import local
from reports.labels import (
    DIALSTATUS_LABELS,
    EVENT_LABELS,
    HANGUP_BY_LABELS,
    OUTCOME_LABELS,
    Q850_CAUSE_LABELS,
    SURVEY_LABELS,
)
from routing.config import HotlineConfig


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    clock: str
    """"09:00:05" in the province's time."""
    title: str
    detail: str
    """The event's particulars in words ("" when it has none worth saying)."""
    failed: bool = False
    """Something went wrong here (a desk that did not answer, a failed recording)."""


def cause_vn(cause: int | None) -> str:
    """"máy bận, mã 17"; "" for no cause."""
    if cause is None:
        return ""
    words = Q850_CAUSE_LABELS.get(cause)
    return f"{words}, mã {cause}" if words else f"mã lỗi {cause}"


def outcome_vn(value: object) -> str:
    try:
        return OUTCOME_LABELS[Outcome(str(value))]
    except ValueError:
        return str(value)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


DESK_AWAY_LABELS = {"logged_out": "đã đăng xuất", "paused": "đang tạm nghỉ",
                    "wrap_up": "vừa xong cuộc gọi trước"}


def _desk_result(d: EventDetail) -> tuple[str, bool]:
    status = str(d.get("dialstatus") or "")
    words = DIALSTATUS_LABELS.get(status, status.lower())
    cause = _int(d.get("cause")) if d.get("cause") is not None else None
    said = f"máy {d.get('desk')} — {words}"
    if cause is not None and Q850_CAUSE_LABELS.get(cause) != words:
        said += f" ({cause_vn(cause)})"
    elif cause is None and d.get("detail") == "not registered":
        said += " (máy chưa đăng ký)"
    return said, status != "ANSWER"


def _branch(d: EventDetail, config: HotlineConfig) -> str:
    key = _int(d.get("key"))
    branch = config.branch(key) if key is not None else None
    name = f"Phím {key}: {branch.name}" if branch else f"Phím {key}"
    agency = d.get("agency") or (branch.agency if branch else None)
    said = f"{name} — {agency}" if agency else name
    return said + (" (tự động, người gọi không chọn)" if d.get("chosen") == "default" else "")


def _survey(d: EventDetail) -> str:
    result = str(d.get("result") or "")
    try:
        said = SURVEY_LABELS[SurveyResult(result)]
    except ValueError:
        said = result
    if d.get("score") is not None:
        said += f": {d.get('score')}/{d.get('scale')} điểm"
    return said


def _ended(d: EventDetail) -> str:
    parts = []
    if d.get("outcome"):
        parts.append(outcome_vn(d["outcome"]))
    by = d.get("hangup_by") or d.get("by")
    if by:
        parts.append(f"{HANGUP_BY_LABELS.get(str(by), str(by))} gác máy")
    if d.get("cause") is not None and (cause := _int(d.get("cause"))) is not None:
        parts.append(cause_vn(cause))
    return "; ".join(parts)


QUEUE_LEFT_LABELS = {
    "answered": "đến lượt, chuyển cho cán bộ",
    "max_wait": "chờ quá lâu, chuyển sang để lại lời nhắn",
    "abandoned": "người gọi gác máy khi đang chờ",
}


def _queue(kind: str, d: EventDetail) -> tuple[str, bool]:
    if kind == "queue_joined":
        return f"lĩnh vực {d.get('branch')}, vị trí thứ {d.get('position')}", False
    if kind == "queue_position":
        said = f"vị trí thứ {d.get('position')}"
        if d.get("minutes") is not None:
            said += f", dự kiến chờ khoảng {d.get('minutes')} phút"
        return said, False
    reason = str(d.get("reason") or "")
    said = QUEUE_LEFT_LABELS.get(reason, reason)
    if d.get("waited") is not None:
        said += f" (đã chờ {d.get('waited')} giây)"
    return said, reason != "answered"


CALLBACK_RESULT_WORDS = {"answered": "người dân đã nghe máy", "busy": "máy bận",
                         "no_answer": "không nghe máy", "unreachable": "không liên lạc được",
                         "wrong_number": "số máy không tồn tại"}


def _callback(kind: str, d: EventDetail) -> tuple[str, bool]:
    """A call back's step (`ivr.callback`) in words; whether it is a failure."""
    result = str(d.get("result") or "")
    match kind:
        case "callback_chosen" | "callback_dial":
            return f"số {d.get('number')}", False
        case "callback_queued":
            return f"lĩnh vực {d.get('branch')}, vị trí thứ {d.get('position')}", False
        case "callback_requested":
            return f"{d.get('by')}, máy {d.get('desk')}", False
        case "callback_desk_dial" | "callback_desk_unanswered" | "callback_desk_left":
            return f"máy {d.get('desk')}", kind != "callback_desk_dial"
        case "callback_desk_result":
            words = "nhấc máy" if result == "answered" else result
            return f"máy {d.get('desk')} — {words}", result != "answered"
        case "callback_bridged":
            return f"máy {d.get('desk')}", False
        case "callback_ended":
            by = str(d.get("hangup_by") or "")
            return f"{'Người dân' if by == 'citizen' else HANGUP_BY_LABELS.get(by, by)} gác máy", \
                False
        case "callback_result":
            return CALLBACK_RESULT_WORDS.get(result, result), True
        case "callback_retry":
            return f"sau lần thứ {d.get('attempts')}", False
        case "callback_done":
            words = CALLBACK_RESULT_WORDS.get(result, result)
            return (f"{words} ({d.get('reason')})" if d.get("reason") else words,
                    result != "answered")
        case "callback_refused":
            return f"số {d.get('number')}: {d.get('reason')}", True
    return "", False


def describe(event: CallEvent, config: HotlineConfig) -> TimelineLine:
    d = event.detail
    failed = False
    match event.kind:
        case "caller_number":
            detail = f"nhà mạng báo: {d.get('given')}"
        case "prompt_end":
            detail = ("người gọi bấm phím, ngắt lời thông báo" if d.get("reason") == "digit"
                      else "phát hết")
        case "digit" | "survey_key":
            detail = f"phím {d.get('digit')}"
        case "closed":
            detail = (f"ngày nghỉ: {d.get('holiday')}" if d.get("holiday")
                      else "ngoài giờ làm việc")
        case "branch":
            detail = _branch(d, config)
        case "desk_wait_limit":
            detail = f"đã chờ quá {d.get('seconds')} giây"
            failed = True
        case "desk_dial":
            detail = f"máy {d.get('desk')}, đổ chuông tối đa {d.get('timeout')} giây"
        case "desk_result":
            detail, failed = _desk_result(d)
        case "queue_joined" | "queue_position" | "queue_left":
            detail, failed = _queue(event.kind, d)
        case "adopted" if d.get("queued") is not None:
            detail = f"người gọi vẫn chờ trong hàng đợi lĩnh vực {d.get('queued')}"
        case "desk_away":
            detail = f"máy {d.get('desk')} — {DESK_AWAY_LABELS.get(str(d.get('reason')), '')}"
        case "bridged" | "adopted" | "complaint_flagged":
            detail = f"máy {d.get('desk')}" if d.get("desk") else ""
        case "complaint_flag_failed":
            detail, failed = f"máy {d.get('desk')}", True
        case "recorded":
            detail = f"dài {d.get('seconds')} giây" if d.get("seconds") is not None else ""
        case "override":
            detail = ("thay menu: tạm ngưng, mời để lại lời nhắn"
                      if d.get("mode") == "replace_menu" else "sau lời chào")
        case "review_recording_failed":
            detail, failed = str(d.get("error") or ""), True
        case "recording_failed" | "shed_failed":
            detail, failed = str(d.get("error") or ""), True
        case "survey":
            detail = _survey(d)
        case "to_fallback":
            detail = ("dịch vụ khởi động lại" if d.get("reason") == "service restarted"
                      else outcome_vn(d["outcome"]) if d.get("outcome") else "")
        case "shed" | "turned_away":
            detail, failed = "", True
        case "ended":
            detail = _ended(d)
        case kind if kind.startswith("callback_"):
            detail, failed = _callback(kind, d)
        case "cel_incomplete":
            detail, failed = "tổng đài dừng khi cuộc gọi chưa kết thúc", True
        case "reconciled":
            detail = (outcome_vn(d["outcome"]) if d.get("outcome")
                      else "kết thúc khi dịch vụ đang dừng; giờ kết thúc là lúc phát hiện")
        case _:
            detail = ""
    if d.get("source") == "cel" and event.kind not in ("cel_incomplete", "reconciled"):
        detail = f"{detail} (theo nhật ký tổng đài)" if detail else "theo nhật ký tổng đài"
    return TimelineLine(
        at=event.at, clock=local(event.at).strftime("%H:%M:%S"),
        title=EVENT_LABELS.get(event.kind, event.kind), detail=detail, failed=failed)


def timeline(events: list[CallEvent], config: HotlineConfig) -> list[TimelineLine]:
    return [describe(e, config) for e in events]
