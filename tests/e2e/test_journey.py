"""The caller's whole journey (issue 4): menu rules, failover, hours, messages, stations.

Each test is one rule, proven with the real Asterisk and real pjsua2 phones."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calllog.model import CallEvent, Outcome
from tests.e2e.calls import answered_by, bridged, dial, finished
from tests.e2e.conftest import ALL_DAYS, CALLER_TONE_HZ, DeskBank, Hotline, read_samples, tone_power
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def attempts(events: list[CallEvent]) -> list[tuple[Any, Any]]:
    return [(e.detail["desk"], e.detail["dialstatus"]) for e in events if e.kind == "desk_result"]


def digits(events: list[CallEvent]) -> list[Any]:
    return [e.detail["digit"] for e in events if e.kind == "digit"]


@pytest.mark.parametrize(
    ("first", "then", "key"),
    [("*", "5", 5), ("0", "3", 3)],
    ids=["star-repeats-the-menu", "invalid-key-is-said-then-valid-key-routes"],
)
def test_a_second_key_after_star_or_an_invalid_key_routes_the_call(
    first: str, then: str, key: int, hotline: Hotline, sip: SipStack, desk_bank: DeskBank,
    caller: Phone,
) -> None:
    desk = f"1{key}01"
    desks = desk_bank.for_branch(key)
    call = dial(sip, caller, hotline)
    call.send_digits(first)
    sip.pump(1.5)
    call.send_digits(then)
    answered_by(sip, desks[desk])
    bridged(sip, hotline, caller)
    call.hangup_now()
    record, events = finished(sip, hotline, caller)
    assert digits(events) == [first, then]
    assert record.outcome == Outcome.CONNECTED
    assert (record.branch_key, record.desk_answered) == (key, desk)


def test_retries_exhausted_puts_the_caller_through_to_the_default_branch(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(9)
    call = dial(sip, caller, hotline)
    for _ in range(hotline.config.menu.max_attempts):
        call.send_digits("0")
        sip.pump(1.5)
    answered_by(sip, desks["1901"])
    bridged(sip, hotline, caller)
    call.hangup_now()
    record, events = finished(sip, hotline, caller)
    assert record.outcome == Outcome.CONNECTED and record.branch_key == 9
    assert [e.detail.get("chosen") for e in events if e.kind == "branch"] == ["default"]


def test_busy_desk_fails_over_to_the_next_desk_within_two_seconds(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(2)
    desks["1201"].answer_code = 486
    call = dial(sip, caller, hotline)
    call.send_digits("2")
    sip.wait_until(lambda: bool(desks["1201"].calls), 10, "desk 1201 to be offered the call")
    rejected_at = time.monotonic()
    sip.wait_until(lambda: bool(desks["1202"].calls), 10, "desk 1202 to ring")
    assert time.monotonic() - rejected_at < 2.0
    answered_by(sip, desks["1202"])
    bridged(sip, hotline, caller)
    call.hangup_now()
    record, events = finished(sip, hotline, caller)
    assert attempts(events) == [("1201", "BUSY"), ("1202", "ANSWER")]
    assert record.desk_answered == "1202"


def test_unregistered_desk_is_skipped_without_ringing(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.ensure(["1402"])  # 1401 is not registered
    assert hotline.endpoint_state("1401") != "online"
    call = dial(sip, caller, hotline)
    call.send_digits("4")
    answered_by(sip, desks["1402"])
    bridged(sip, hotline, caller)
    call.hangup_now()
    _, events = finished(sip, hotline, caller)
    assert attempts(events) == [("1401", "CHANUNAVAIL"), ("1402", "ANSWER")]
    assert [e.detail["desk"] for e in events if e.kind == "desk_dial"] == ["1402"]


def test_desk_that_rings_out_fails_over_after_the_ring_timeout(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(1)
    desks["1101"].auto_answer = False  # rings, nobody picks up
    call = dial(sip, caller, hotline)
    call.send_digits("1")
    sip.wait_until(lambda: bool(desks["1101"].calls), 10, "desk 1101 to ring")
    first_rang = time.monotonic()
    answered_by(sip, desks["1102"], timeout=30)
    waited = time.monotonic() - first_rang
    ring_timeout = hotline.config.branch(1).ring_timeout_seconds  # type: ignore[union-attr]
    assert waited >= ring_timeout - 0.5
    sip.wait_until(lambda: all(c.disconnected for c in desks["1101"].calls), 5,
                   "the first desk to stop ringing")
    bridged(sip, hotline, caller)
    call.hangup_now()
    _, events = finished(sip, hotline, caller)
    assert attempts(events) == [("1101", "NOANSWER"), ("1102", "ANSWER")]


def test_ringall_rings_every_desk_and_the_first_to_answer_wins(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    def ringall(data: dict[str, Any]) -> None:
        data["branches"][5]["strategy"] = "ringall"  # key 6

    with hotline.reconfigured(ringall):
        desks = desk_bank.for_branch(6)
        desks["1601"].answer_after = 1.0
        desks["1602"].auto_answer = False
        call = dial(sip, caller, hotline)
        call.send_digits("6")
        answered_by(sip, desks["1601"])
        assert desks["1602"].calls, "desk 1602 was not rung with 1601"
        sip.wait_until(lambda: all(c.disconnected for c in desks["1602"].calls), 5,
                       "the losing desk to stop ringing")
        bridged(sip, hotline, caller)
        call.hangup_now()
        record, _ = finished(sip, hotline, caller)
    assert record.desk_answered == "1601"


def test_all_desks_busy_caller_leaves_a_message_and_is_on_the_callback_list(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone, tones: dict[str, Path]
) -> None:
    desks = desk_bank.for_branch(7)
    desks["1701"].answer_code = desks["1702"].answer_code = 486
    call = dial(sip, caller, hotline)
    call.send_digits("7")
    sip.wait_until(lambda: (hotline.recordings_dir / f"vm-{_id(hotline, caller)}.wav").exists()
                   if _id(hotline, caller) else False, 40, "the recording to start")
    sip.pump(1.0)  # after the beep
    call.play(tones["caller"])
    sip.pump(2.5)
    call.stop_media()
    call.send_digits("#")
    sip.wait_until(lambda: call.disconnected, 30, "the hotline to thank and hang up")
    record, events = finished(sip, hotline, caller)
    assert record.outcome == Outcome.DESK_UNREACHABLE
    assert attempts(events) == [("1701", "BUSY"), ("1702", "BUSY")]
    assert record.callback == "pending" and record.recording
    wav = hotline.recordings_dir / f"{record.recording}.wav"
    samples, rate = read_samples(wav)
    assert tone_power(samples, rate, CALLER_TONE_HZ) > 1000, "the message is not the caller's"
    assert record.recording_seconds is not None and record.recording_seconds >= 1

    listing = hotline.callbacks_cli()
    assert listing.returncode == 0, listing.stderr
    assert record.call_id in listing.stdout and caller.user in listing.stdout
    done = hotline.callbacks_cli("done", record.call_id)
    assert done.returncode == 0, done.stderr
    assert record.call_id not in hotline.callbacks_cli().stdout
    assert hotline.callbacks_cli("done", record.call_id).returncode != 0


def _id(hotline: Hotline, caller: Phone) -> str | None:
    record = hotline.call_record(caller.user)
    return record.call_id.replace(".", "-") if record else None


def _today() -> datetime:
    return datetime.now(LOCAL)


@pytest.mark.parametrize(
    ("scenario", "change", "outcome"),
    [
        ("closed hours", lambda d: d["hours"].update(periods=["00:00-00:01"]), Outcome.CLOSED),
        (
            "holiday",
            lambda d: d["hours"].update(
                holidays=[{"date": _today().date().isoformat(), "name": "Ngày lễ thử"}]
            ),
            Outcome.CLOSED,
        ),
        (
            "make-up working day",
            lambda d: d["hours"].update(
                days=[x for x in ALL_DAYS if x != ALL_DAYS[_today().weekday()]],
                extra_working_days=[{"date": _today().date().isoformat(), "name": "Làm bù"}],
            ),
            Outcome.CONNECTED,
        ),
    ],
)
def test_business_hours_decide_between_a_desk_and_a_message(
    scenario: str, change: Any, outcome: Outcome, hotline: Hotline, sip: SipStack,
    desk_bank: DeskBank, caller: Phone,
) -> None:
    with hotline.reconfigured(change):
        desks = desk_bank.for_branch(8)
        call = dial(sip, caller, hotline)
        if outcome == Outcome.CONNECTED:
            call.send_digits("8")
            answered_by(sip, desks["1801"])
            bridged(sip, hotline, caller)
            call.hangup_now()
        else:
            # The closed message plays, then the beep: leave nothing, hang up.
            sip.wait_until(lambda: _id(hotline, caller) is not None
                           and (hotline.recordings_dir / f"vm-{_id(hotline, caller)}.wav").exists(),
                           60, "the message recording to start")
            call.hangup_now()
        record, events = finished(sip, hotline, caller)
    assert record.outcome == outcome, scenario
    if outcome == Outcome.CLOSED:
        closed = [e.detail for e in events if e.kind == "closed"]
        assert closed and closed[0]["reason"] == ("holiday" if scenario == "holiday"
                                                  else "closed_hours")
        assert record.callback == "pending"
        assert not any(p.calls for p in desks.values()), "a desk rang while closed"


def test_station_calls_the_hotline_and_is_logged_with_its_agency(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank
) -> None:
    desks = desk_bank.ensure(["1401", "1402"])
    station = hotline.config.stations[0]
    phone = sip.phone(station.extension, hotline.registrar,
                      hotline.station_password(station.extension))
    try:
        sip.wait_until(lambda: phone.registered, 10, "the station to register")
        call = dial(sip, phone, hotline)
        call.send_digits("4")
        answered_by(sip, desks["1401"])
        bridged(sip, hotline, phone)
        call.hangup_now()
        record, _ = finished(sip, hotline, phone)
        assert record.caller_agency == station.agency
        assert record.outcome == Outcome.CONNECTED
    finally:
        sip.retire(phone)


def test_stations_call_each_other_directly(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank
) -> None:
    desk_bank.ensure([])
    a, b = hotline.config.stations[1], hotline.config.stations[-1]
    caller = sip.phone(a.extension, hotline.registrar, hotline.station_password(a.extension))
    callee = sip.phone(b.extension, hotline.registrar, hotline.station_password(b.extension),
                       auto_answer=True)
    try:
        sip.wait_until(lambda: caller.registered and callee.registered, 10, "stations")
        call = caller.call(b.extension)
        answered_by(sip, callee)
        sip.wait_until(lambda: call.confirmed, 5, "the call to connect")
        call.hangup_now()
        sip.wait_until(lambda: all(c.disconnected for c in callee.calls), 5, "hang up")
        assert hotline.call_record(a.extension) is None, "a station-to-station call is not ours"
    finally:
        sip.retire(caller)
        sip.retire(callee)


@pytest.mark.parametrize("number", ["1101", "2001", "0909123456", "00442071234567"])
def test_public_caller_reaches_nothing_but_the_hotline(
    number: str, hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.ensure(["1101", "1102"])
    call = caller.call(number)
    sip.wait_until(lambda: call.disconnected, 10, f"the call to {number} to be refused")
    assert not call.confirmed
    sip.pump(0.5)
    assert not any(p.calls for p in desks.values())


def test_desk_cannot_dial_out_of_the_switchboard(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank
) -> None:
    desks = desk_bank.ensure(["1101", "1102"])
    call = desks["1101"].call("0909123456")
    sip.wait_until(lambda: call.disconnected, 10, "the outside call to be refused")
    assert not call.confirmed
    inside = desks["1101"].call("1102")
    answered_by(sip, desks["1102"])
    sip.wait_until(lambda: inside.confirmed, 5, "desk-to-desk call")
    inside.hangup_now()
