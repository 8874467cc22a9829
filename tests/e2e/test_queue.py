"""The branch queue (issue 17, item 1) with the real Asterisk and real pjsua2 phones:
a caller who finds every desk of the branch talking waits in the queue, hears their
place and the music, and is put through when the desk becomes free."""

from __future__ import annotations

from pathlib import Path

import pytest

from calllog.model import Outcome
from tests.e2e.calls import SILENCE_RMS, bridged, dial, finished, talking
from tests.e2e.conftest import DeskBank, Hotline, read_samples, rms
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e




def test_second_caller_hears_position_one_and_reaches_the_desk_when_the_first_call_ends(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    second_caller: Phone, tmp_path: Path,
) -> None:
    desks = desk_bank.ensure(["1401"])  # branch 4's other desk, 1402, is away
    desk = desks["1401"]
    first, _ = talking(sip, hotline, caller, desk, 4)

    waiting = dial(sip, second_caller, hotline)
    waiting.send_digits("4")

    def announced() -> bool:
        record = hotline.call_record(second_caller.user)
        return record is not None and any(
            e.kind == "queue_position" for e in hotline.call_events(record.call_id))

    sip.wait_until(announced, 15, "the second caller to hear their place")
    heard = tmp_path / "queued-heard.wav"
    waiting.record(heard)
    sip.pump(2.0)
    waiting.stop_media()
    samples, _ = read_samples(heard)
    assert rms(samples) > SILENCE_RMS, "the queued caller hears silence"
    assert len(desk.calls) == 1, "the busy desk was rung for the queued caller"

    first.hangup_now()
    sip.wait_until(lambda: len(desk.calls) >= 2 and desk.calls[-1].confirmed, 15,
                   "the desk to answer the queued caller")
    bridged(sip, hotline, second_caller)
    waiting.hangup_now()
    record, events = finished(sip, hotline, second_caller, last_event="ended")

    assert (record.outcome, record.desk_answered) == (Outcome.CONNECTED, "1401")
    joined = next(e for e in events if e.kind == "queue_joined")
    assert (joined.detail["branch"], joined.detail["position"]) == (4, 1)
    positions = [e.detail["position"] for e in events if e.kind == "queue_position"]
    assert positions and positions[0] == 1
    left = next(e for e in events if e.kind == "queue_left")
    assert left.detail["reason"] == "answered"
    assert record.queue_result == "answered" and record.queue_left_at is not None
    kinds = [e.kind for e in events]
    assert kinds.index("queue_joined") < kinds.index("queue_left") < kinds.index("bridged")


def test_a_queued_caller_keeps_their_place_when_the_service_is_killed_and_restarted(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    second_caller: Phone,
) -> None:
    desks = desk_bank.ensure(["1401"])
    desk = desks["1401"]
    first, _ = talking(sip, hotline, caller, desk, 4)
    waiting = dial(sip, second_caller, hotline)
    waiting.send_digits("4")

    def queued() -> bool:
        record = hotline.call_record(second_caller.user)
        return record is not None and any(
            e.kind == "queue_position" for e in hotline.call_events(record.call_id))

    sip.wait_until(queued, 15, "the second caller to be queued")
    hotline.kill_service()  # SIGKILL: Asterisk keeps both callers in our Stasis app
    hotline.start_service(Path(hotline.settings.config))

    record = hotline.call_record(second_caller.user)
    assert record is not None
    sip.wait_until(lambda: "adopted" in [e.kind for e in hotline.call_events(record.call_id)],
                   15, "the restarted service to put the queued caller back")
    assert not waiting.disconnected and len(desk.calls) == 1

    first.hangup_now()
    sip.wait_until(lambda: len(desk.calls) >= 2 and desk.calls[-1].confirmed, 15,
                   "the desk to answer the queued caller after the restart")
    bridged(sip, hotline, second_caller)
    waiting.hangup_now()
    record, events = finished(sip, hotline, second_caller, last_event="ended")
    assert (record.outcome, record.desk_answered) == (Outcome.CONNECTED, "1401")
    kinds = [e.kind for e in events]
    assert "to_fallback" not in kinds
    assert kinds.count("queue_joined") == 2  # before the kill, and put back after it
    joins = [e.detail["joined_at"] for e in events if e.kind == "queue_joined"]
    assert joins[0] == joins[1], "the place was not kept: a new join time"
    assert next(e for e in events if e.kind == "queue_left").detail["reason"] == "answered"
