"""Steps every end-to-end call test takes: reach the hotline, wait for a desk,
the bridge, and the closed call-log row."""

from __future__ import annotations

from calllog.model import CallEvent, CallRecord
from tests.e2e.conftest import Hotline
from tests.e2e.phones import Phone, PhoneCall, SipStack


def answer_hotline(sip: SipStack, caller: Phone, hotline: Hotline) -> PhoneCall:
    """Call the hotline number and wait until it answers with media."""
    call = caller.call(hotline.config.hotline.number)
    sip.wait_until(lambda: call.confirmed and call.audio is not None, 10, "the hotline to answer")
    return call


def dial(sip: SipStack, caller: Phone, hotline: Hotline) -> PhoneCall:
    """Answered, and a moment into the greeting (a key then barges in)."""
    call = answer_hotline(sip, caller, hotline)
    sip.pump(0.8)
    return call


def answered_by(sip: SipStack, desk: Phone, timeout: float = 15) -> PhoneCall:
    sip.wait_until(lambda: any(c.confirmed for c in desk.calls), timeout,
                   f"desk {desk.user} to answer")
    return next(c for c in desk.calls if c.confirmed)


def bridged(sip: SipStack, hotline: Hotline, caller: Phone) -> None:
    def check() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and record.bridged_at is not None

    sip.wait_until(check, 10, "the caller and the desk to be bridged")


def finished(sip: SipStack, hotline: Hotline, caller: Phone) -> tuple[CallRecord, list[CallEvent]]:
    def ended() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and record.ended_at is not None

    sip.wait_until(ended, 40, f"the call log row of {caller.user} to be closed")
    record = hotline.call_record(caller.user)
    assert record is not None
    return record, hotline.call_events(record.call_id)
