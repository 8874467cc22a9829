"""Our own process down, killed or restarted: Asterisk keeps serving callers, and the
call log catches up once the service is back (issue 5)."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calllog.model import Outcome
from tests.e2e.calls import (
    answer_hotline,
    answered_by,
    audio_flows,
    dial,
    finished,
    talking,
)
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e


def noted(sip: SipStack, hotline: Hotline, caller: Phone, kind: str) -> None:
    """Wait until the caller's timeline has `kind` (what recovery did after a restart)."""

    def seen() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and kind in [
            e.kind for e in hotline.call_events(record.call_id)]

    sip.wait_until(seen, 20, f"{kind!r} in the timeline of {caller.user}")


def test_fallback_ivr_routes_a_caller_while_the_service_is_down_and_the_call_is_logged(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path,
) -> None:
    desks = desk_bank.for_branch(2)
    hotline.stop_service()
    try:
        call = answer_hotline(sip, caller, hotline)
        sip.pump(1.0)  # into the greeting: the key barges in
        call.send_digits("2")
        desk_call = answered_by(sip, desks["1201"], timeout=20)
        others = [p.user for p in desks.values() if p.user != "1201" and p.calls]
        assert others == [], f"other desks rang: {others}"
        audio_flows(sip, call, desk_call, tones, tmp_path)
        desk_call.hangup_now()
        sip.wait_until(lambda: call.disconnected, 10, "the caller to be released")
        assert hotline.call_record(caller.user) is None  # nobody could log it yet
    finally:
        hotline.start_service(hotline.settings.config)

    record, events = finished(sip, hotline, caller, last_event="ended")
    assert record.outcome == Outcome.CONNECTED
    assert (record.branch_key, record.agency) == (2, hotline.config.branch(2).agency)  # type: ignore[union-attr]
    assert record.desk_answered == "1201"
    assert record.hangup_by == "desk"
    assert record.hangup_cause == 16
    assert record.started_at <= record.answered_at <= record.bridged_at <= record.ended_at  # type: ignore[operator]
    kinds = [e.kind for e in events]
    assert kinds == ["answered", "fallback", "branch", "bridged", "ended"]
    assert all(e.detail["source"] == "cel" for e in events)


def test_killed_service_leaves_bridged_calls_talking_and_adopts_them_on_restart(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path,
) -> None:
    desks = desk_bank.for_branch(3)
    call, desk_call = talking(sip, hotline, caller, desks["1301"], "3")

    hotline.kill_service()
    audio_flows(sip, call, desk_call, tones, tmp_path)  # Asterisk alone keeps them talking
    hotline.start_service(hotline.settings.config)
    noted(sip, hotline, caller, "adopted")
    assert not call.disconnected and not desk_call.disconnected

    call.hangup_now()
    sip.wait_until(lambda: desk_call.disconnected, 10, "the adopted desk leg to be hung up")
    record, events = finished(sip, hotline, caller, last_event="ended")
    assert record.outcome == Outcome.CONNECTED
    assert record.hangup_by == "caller"
    assert record.desk_answered == "1301" and record.branch_key == 3
    kinds = [e.kind for e in events]
    assert "adopted" in kinds and kinds[-1] == "ended"
    assert kinds.count("bridged") == 1


def test_call_that_ends_while_the_service_is_dead_is_closed_from_asterisks_trail(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    desks = desk_bank.for_branch(4)
    call, desk_call = talking(sip, hotline, caller, desks["1401"], "4")

    hotline.kill_service()
    sip.pump(1.0)
    hung_up_at = datetime.now(UTC)
    call.hangup_now()
    sip.pump(1.5)
    assert not desk_call.disconnected  # nobody left to end the desk's side
    hotline.start_service(hotline.settings.config)

    sip.wait_until(lambda: desk_call.disconnected, 15, "the orphaned desk leg to be hung up")
    record, events = finished(sip, hotline, caller, last_event="reconciled")
    assert record.outcome == Outcome.CONNECTED
    assert record.hangup_by == "caller"
    assert record.ended_at is not None
    assert abs((record.ended_at - hung_up_at).total_seconds()) < 1.0  # CEL's time, not ours
    reconciled = [e for e in events if e.kind == "reconciled"]
    assert len(reconciled) == 1 and reconciled[0].detail["source"] == "cel"
    # Asterisk wrote that trail to a file in WAL mode (readers never block its commits).
    with contextlib.closing(sqlite3.connect(hotline.pbx.cel_db)) as cel:
        assert cel.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_caller_waiting_in_the_menu_when_the_service_dies_is_served_by_the_fallback(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    desks = desk_bank.for_branch(5)
    call = answer_hotline(sip, caller, hotline)
    sip.pump(0.5)
    hotline.kill_service()
    sip.pump(1.0)
    hotline.start_service(hotline.settings.config)

    noted(sip, hotline, caller, "to_fallback")
    sip.pump(1.0)  # the fallback menu starts over
    call.send_digits("5")
    desk_call = answered_by(sip, desks["1501"], timeout=20)
    sip.pump(1.0)
    desk_call.hangup_now()
    sip.wait_until(lambda: call.disconnected, 10, "the caller to be released")

    record, events = finished(sip, hotline, caller, last_event="reconciled")
    assert record.outcome == Outcome.CONNECTED
    assert record.branch_key == 5 and record.desk_answered == "1501"
    assert record.hangup_by == "desk"
    kinds = [e.kind for e in events]
    assert kinds[0] == "answered"
    assert {"to_fallback", "fallback", "bridged", "reconciled"} <= set(kinds)


def test_a_call_shed_while_overloaded_is_logged_first_and_completed_from_asterisks_trail(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    """One call in progress is all the service takes: the next is shed to the fallback
    IVR, its row written before the hand-over, and CEL completes that same row."""
    desks = desk_bank.for_branch(2)
    max_calls = hotline.settings.max_active_calls
    hotline.restart_service(max_active_calls=1)
    busy = sip.phone(f"08{caller.user[-8:]}", hotline.registrar)
    try:
        first = dial(sip, busy, hotline)  # in the service's menu: the one call it takes
        call = answer_hotline(sip, caller, hotline)  # answered by the fallback IVR
        sip.wait_until(lambda: hotline.call_record(caller.user) is not None, 5,
                       "the shed call's row")  # journaled at once, in the database in ~1 s
        shed = hotline.call_record(caller.user)
        assert shed is not None and shed.ended_at is None
        call.send_digits("2")
        desk_call = answered_by(sip, desks["1201"], timeout=20)
        sip.pump(1.0)  # they talk
        desk_call.hangup_now()
        sip.wait_until(lambda: call.disconnected, 10, "the caller to be released")
        first.hangup_now()
        record, events = finished(sip, hotline, caller, last_event="reconciled")
    finally:
        sip.retire(busy)
        hotline.restart_service(max_active_calls=max_calls)
    assert record.call_id == shed.call_id and record.started_at == shed.started_at
    assert (record.outcome, record.branch_key, record.desk_answered, record.hangup_by) == (
        Outcome.CONNECTED, 2, "1201", "desk")
    kinds = [e.kind for e in events]
    assert kinds[0] == "shed" and "1 calls in progress" in str(events[0].detail["reason"])
    assert kinds[1:] == ["answered", "fallback", "branch", "bridged", "ended", "reconciled"]
