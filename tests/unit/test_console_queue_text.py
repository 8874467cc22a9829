"""The queue's steps in a call's timeline, in Vietnamese (`console.timeline`)."""

from __future__ import annotations

from datetime import UTC, datetime

from calllog.model import CallEvent
from console.timeline import describe
from tests.console_client import hotline_config

AT = datetime(2026, 12, 7, 2, 0, 5, tzinfo=UTC)  # 09:00:05 in Vietnam


def said(kind: str, **detail: str | int | None) -> tuple[str, bool]:
    line = describe(CallEvent(call_id="c", at=AT, kind=kind, detail=dict(detail)),
                    hotline_config())
    return f"{line.title}: {line.detail}", line.failed


def test_joining_the_queue_names_the_branch_and_the_place() -> None:
    assert said("queue_joined", branch=4, position=2, joined_at="x") == (
        "Vào hàng đợi (mọi cán bộ đều bận): lĩnh vực 4, vị trí thứ 2", False)


def test_an_announcement_says_the_place_and_the_expected_wait_when_there_was_one() -> None:
    assert said("queue_position", position=1, minutes=None, playback="p")[0] == (
        "Báo vị trí trong hàng đợi: vị trí thứ 1")
    assert said("queue_position", position=3, minutes=4, playback="p")[0] == (
        "Báo vị trí trong hàng đợi: vị trí thứ 3, dự kiến chờ khoảng 4 phút")


def test_leaving_the_queue_says_why_and_only_a_turn_reached_is_not_a_failure() -> None:
    assert said("queue_left", branch=4, reason="answered", waited=42) == (
        "Rời hàng đợi: đến lượt, chuyển cho cán bộ (đã chờ 42 giây)", False)
    assert said("queue_left", branch=4, reason="max_wait", waited=300) == (
        "Rời hàng đợi: chờ quá lâu, chuyển sang để lại lời nhắn (đã chờ 300 giây)", True)
    assert said("queue_left", branch=4, reason="abandoned", waited=9)[1] is True


def test_a_queued_caller_put_back_after_a_restart_is_said_so() -> None:
    assert said("adopted", queued=4)[0].endswith("người gọi vẫn chờ trong hàng đợi lĩnh vực 4")
