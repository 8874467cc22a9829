"""The calls pages' words: a call's timeline in plain Vietnamese (console.timeline), the
search form read from dd/mm/yyyy (console.call_search), where voice messages are read."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from calllog.model import CallEvent, EventDetail, Outcome
from console.call_search import parse_search
from console.timeline import describe
from hotline.console_wiring import recordings_dir
from hotline.settings import load_settings
from reports.labels import EVENT_LABELS
from tests.console_client import hotline_config

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 7, 2, 0, 5, tzinfo=UTC)  # 09:00:05 in Vietnam


def said(kind: str, **detail: str | int | None) -> str:
    line = describe(CallEvent(call_id="c", at=AT, kind=kind, detail=dict(detail)),
                    hotline_config())
    return f"{line.clock} {line.title}: {line.detail}" if line.detail else \
        f"{line.clock} {line.title}"


def test_every_event_kind_the_call_flow_writes_has_a_vietnamese_name() -> None:
    written: set[str] = set()
    patterns = (r'\bnote\(\s*"([a-z_]+)"', r'\bnote\([\w\[\]-]+, "([a-z_]+)"',
                r'kind="([a-z_]+)"', r'\("([a-z_]+)", \{')
    for source in (ROOT / "ivr").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for pattern in patterns:
            written |= set(re.findall(pattern, text))
    assert {"answered", "digit", "desk_result", "ended", "shed", "cel_incomplete",
            "reconciled", "recorded"} <= written  # the scan finds them
    assert sorted(written - EVENT_LABELS.keys()) == []


def test_a_busy_desk_is_said_in_words_with_its_q850_cause() -> None:
    assert said("desk_result", desk="1402", dialstatus="BUSY", cause=17, detail="Busy") == (
        "09:00:05 Kết quả gọi máy cán bộ: máy 1402 — máy bận")
    assert said("desk_result", desk="1402", dialstatus="CHANUNAVAIL", cause=21,
                detail="Call Rejected") == (
        "09:00:05 Kết quả gọi máy cán bộ: máy 1402 — không liên lạc được "
        "(từ chối cuộc gọi, mã 21)")
    assert said("desk_result", desk="1403", dialstatus="CHANUNAVAIL", cause=None,
                detail="not registered") == (
        "09:00:05 Kết quả gọi máy cán bộ: máy 1403 — không liên lạc được (máy chưa đăng ký)")


def test_a_failed_desk_attempt_is_marked_and_an_answer_is_not() -> None:
    config = hotline_config()
    busy = CallEvent(call_id="c", at=AT, kind="desk_result",
                     detail={"desk": "1", "dialstatus": "BUSY", "cause": 17})
    answered = CallEvent(call_id="c", at=AT, kind="desk_result",
                         detail={"desk": "1", "dialstatus": "ANSWER", "cause": None})
    assert describe(busy, config).failed and not describe(answered, config).failed


def test_the_menu_branch_and_end_read_as_sentences() -> None:
    assert said("digit", digit="4", attempt=1) == "09:00:05 Người gọi bấm phím: phím 4"
    assert said("branch", key=4, agency="Văn phòng UBND tỉnh", chosen="default") == (
        "09:00:05 Chọn lĩnh vực: Phím 4: Cải cách thủ tục hành chính — Văn phòng UBND tỉnh "
        "(tự động, người gọi không chọn)")
    assert said("ended", outcome="desk_unreachable", hangup_by="system", cause=16) == (
        "09:00:05 Kết thúc cuộc gọi: Cán bộ bận hoặc không nghe máy; Tổng đài gác máy; "
        "kết thúc bình thường, mã 16")
    assert said("survey", result="answered", score=4, scale=5) == (
        "09:00:05 Khảo sát mức độ hài lòng: Đã chấm điểm: 4/5 điểm")
    assert said("closed", reason="holiday", holiday="Tết Nguyên đán") == (
        "09:00:05 Gọi ngoài giờ làm việc: ngày nghỉ: Tết Nguyên đán")


def test_events_from_asterisks_trail_say_so_and_unknown_kinds_keep_their_name() -> None:
    detail: EventDetail = {"source": "cel", "desk": "1401"}
    assert said("bridged", **detail) == (
        "09:00:05 Người gọi đã nói chuyện với cán bộ: máy 1401 (theo nhật ký tổng đài)")
    assert said("something_new") == "09:00:05 something_new"


def test_the_search_reads_vietnamese_days_in_the_provinces_time() -> None:
    form = parse_search({"from": "01/12/2026", "to": "7/12/2026", "number": " 0901 23 ",
                         "branch": "4", "outcome": "connected", "page": "3"})
    assert form.errors == []
    assert form.filters.since == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert form.filters.until == datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    assert (form.filters.number, form.filters.number_prefix) == ("090123", True)
    assert (form.filters.branch_key, form.filters.outcome) == (4, Outcome.CONNECTED)
    assert (form.page, form.offset) == (3, 100)
    assert form.query(4) == ("from=01%2F12%2F2026&to=7%2F12%2F2026&number=0901+23&branch=4"
                             "&outcome=connected&page=4")


def test_the_search_says_what_is_wrong_and_leaves_it_out() -> None:
    form = parse_search({"from": "2026-12-01", "to": "01/13/2026", "branch": "0",
                         "outcome": "lost", "page": "-1"})
    assert form.errors == [
        "Từ ngày “2026-12-01” không đúng dạng ngày/tháng/năm.",
        "Đến ngày “01/13/2026” không đúng dạng ngày/tháng/năm.",
        "Lĩnh vực “0” không có.",
        "Kết quả “lost” không có.",
    ]
    assert form.filters == parse_search({}).filters and form.page == 1
    backwards = parse_search({"from": "07/12/2026", "to": "01/12/2026"})
    assert backwards.errors == ["Đến ngày phải sau hoặc bằng từ ngày."]


def test_an_agency_users_search_is_scoped_to_its_agency() -> None:
    assert parse_search({}, "Sở Tư pháp").filters.agency == "Sở Tư pháp"
    assert parse_search({}).filters.agency is None


def test_voice_messages_are_read_from_the_embedded_pbxs_spool_unless_set() -> None:
    default = load_settings({"HOTLINE_SECRETS_FILE": "/nonexistent",
                             "HOTLINE_ASTERISK_ROOT": "/srv/pbx"})
    assert recordings_dir(default) == Path("/srv/pbx/var/lib/hotline/run/spool/recording")
    chosen = load_settings({"HOTLINE_SECRETS_FILE": "/nonexistent",
                            "HOTLINE_CONSOLE_RECORDINGS_DIR": "/var/spool/asterisk/recording"})
    assert recordings_dir(chosen) == Path("/var/spool/asterisk/recording")


def test_a_call_backs_steps_are_said_in_words() -> None:
    assert said("callback_chosen", number="0912345678") == (
        "09:00:05 Người gọi chọn được gọi lại, giữ nguyên thứ tự: số 0912345678")
    assert said("callback_desk_result", desk="1401", result="answered") == (
        "09:00:05 Gọi lại: kết quả gọi máy cán bộ: máy 1401 — nhấc máy")
    assert said("callback_done", result="busy", attempts=3,
                reason="Máy bận sau 3 lần gọi lại tự động") == (
        "09:00:05 Gọi lại: kết quả: máy bận (Máy bận sau 3 lần gọi lại tự động)")
    assert said("callback_refused", number="19001080",
                reason="Số dịch vụ 1900/1800: không gọi lại") == (
        "09:00:05 Gọi lại: không gọi số này: số 19001080: Số dịch vụ 1900/1800: không gọi lại")
    assert said("callback_ended", hangup_by="citizen") == (
        "09:00:05 Gọi lại: kết thúc cuộc nói chuyện: Người dân gác máy")
