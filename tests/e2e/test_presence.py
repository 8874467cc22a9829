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


def desks_away(hotline: Hotline, caller: Phone) -> list[tuple[Any, Any]]:
    record = hotline.call_record(caller.user)
    assert record is not None
    return [(e.detail["desk"], e.detail["reason"]) for e in hotline.call_events(record.call_id)
            if e.kind == "desk_away"]


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
        assert desks_away(hotline, caller) == [("1501", "paused")]
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
        finished(sip, hotline, caller)
        desks["1401"].forget_calls()

        call = dial(sip, caller, hotline)
        call.send_digits("4")
        answered_by(sip, desks["1402"])
        assert desks["1401"].calls == []
        call.hangup_now()
        finished(sip, hotline, caller)
        assert desks_away(hotline, caller) == [("1401", "wrap_up")]
        desks["1402"].forget_calls()

        # Wrap-up is a span of time: the test has to let it pass.
        sip.wait_until(lambda: time.monotonic() - first_ended > WRAP_UP_SECONDS + 0.5,
                       WRAP_UP_SECONDS + 5, "the wrap-up to pass")
        call, _ = talking(sip, hotline, caller, desks["1401"], 4)
        call.hangup_now()
        finished(sip, hotline, caller)
        assert desks_away(hotline, caller) == []


def test_third_call_in_a_week_shows_lan_3_on_the_desk_display(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    desks = desk_bank.ensure(["1601", "1602"])
    shown = []
    for _ in range(3):
        call, desk_call = talking(sip, hotline, caller, desks["1601"], 6)
        shown.append(desk_call.getInfo().remoteUri)
        call.hangup_now()
        finished(sip, hotline, caller)
        desks["1601"].forget_calls()
    assert "(lần" not in shown[0], shown
    assert "6. Tài chính công (lần 2)" in shown[1], shown
    assert "6. Tài chính công (lần 3)" in shown[2], shown
    assert all(caller.user in uri for uri in shown), shown
