"""Desk presence and repeat callers through the real Asterisk and real SIP phones: a
desk that paused with its code is passed over (after a restart of the service too), a
desk in wrap-up is not offered the next call until its wrap-up has passed, and a number
calling for the third time in a week shows "(lần 3)" on the desk's display."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.calls import answered_by, dial, finished, talking
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e

WRAP_UP_SECONDS = 8


def feature_code(sip: SipStack, desk: Phone, code: str) -> None:
    """The desk dials its code, hears the confirmation, and the service hangs up."""
    call = desk.call(code)
    sip.wait_until(lambda: call.confirmed, 10, f"the service to answer {code}")
    sip.wait_until(lambda: call.disconnected, 15, f"the confirmation of {code} to end")
    desk.forget_calls()


def desks_away(hotline: Hotline, call_id: str) -> list[tuple[Any, Any]]:
    return [(e.detail["desk"], e.detail["reason"]) for e in hotline.call_events(call_id)
            if e.kind == "desk_away"]


def ended_after(sip: SipStack, hotline: Hotline, caller: Phone, previous: str) -> str:
    """The id of the caller's newest call once it is not `previous` and its row is closed
    (the newest row in the log may still be the previous call for a moment)."""
    def newer_ended() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and record.call_id != previous and record.ended_at is not None

    sip.wait_until(newer_ended, 40, f"the next call of {caller.user} to be closed")
    record = hotline.call_record(caller.user)
    assert record is not None
    return record.call_id


def test_paused_desk_is_not_rung_and_the_call_goes_to_the_next_desk(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    desks = desk_bank.ensure(["1501", "1502"])
    feature_code(sip, desks["1501"], "*462")
    try:
        hotline.restart_service()  # the pause is kept in the database: it survives
        call, _ = talking(sip, hotline, caller, desks["1502"], 5)
        assert desks["1501"].calls == []
        call.hangup_now()
        record, _ = finished(sip, hotline, caller)
        assert record.desk_answered == "1502"
        assert desks_away(hotline, record.call_id) == [("1501", "paused")]
    finally:
        feature_code(sip, desks["1501"], "*46")  # resumes: the next tests find it free


def test_desk_in_wrap_up_is_offered_the_next_call_only_once_it_has_passed(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    def wrap_up(data: dict[str, Any]) -> None:
        branch = next(b for b in data["branches"] if b["key"] == 4)
        branch["wrap_up_seconds"] = WRAP_UP_SECONDS

    with hotline.reconfigured(wrap_up):
        desks = desk_bank.ensure(["1401", "1402"])
        call, _ = talking(sip, hotline, caller, desks["1401"], 4)
        call.hangup_now()
        first_ended = time.monotonic()
        first, _ = finished(sip, hotline, caller)
        desks["1401"].forget_calls()

        call = dial(sip, caller, hotline)
        call.send_digits("4")
        answered_by(sip, desks["1402"])
        assert desks["1401"].calls == []
        call.hangup_now()
        second = ended_after(sip, hotline, caller, first.call_id)
        assert desks_away(hotline, second) == [("1401", "wrap_up")]
        desks["1402"].forget_calls()

        # Wrap-up is a span of time: the test has to let it pass.
        sip.wait_until(lambda: time.monotonic() - first_ended > WRAP_UP_SECONDS + 0.5,
                       WRAP_UP_SECONDS + 5, "the wrap-up to pass")
        call = dial(sip, caller, hotline)
        call.send_digits("4")
        answered_by(sip, desks["1401"])
        call.hangup_now()
        third = ended_after(sip, hotline, caller, second)
        assert desks_away(hotline, third) == []


def test_third_call_in_a_week_shows_lan_3_on_the_desk_display(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    desks = desk_bank.ensure(["1601", "1602"])
    shown, previous = [], ""
    for _ in range(3):
        call = dial(sip, caller, hotline)
        call.send_digits("6")
        shown.append(answered_by(sip, desks["1601"]).getInfo().remoteUri)
        call.hangup_now()
        # In the log before the next call: the count reads the database.
        previous = ended_after(sip, hotline, caller, previous)
        desks["1601"].forget_calls()
    assert "(lần" not in shown[0], shown
    assert "6. Tài chính công (lần 2)" in shown[1], shown
    assert "6. Tài chính công (lần 3)" in shown[2], shown
    assert all(caller.user in uri for uri in shown), shown
