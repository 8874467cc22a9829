"""A citizen's call really reaches the right desk, with audio both ways, and is logged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calllog.model import Outcome
from tests.e2e.calls import answer_hotline, audio_flows, finished
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e

BRANCH_KEYS = list(range(1, 10))


@pytest.mark.parametrize("key", BRANCH_KEYS)
def test_caller_reaches_the_desk_of_the_chosen_branch(
    key: int, hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path,
) -> None:
    branch = hotline.config.branch(key)
    assert branch is not None
    desks = desk_bank.for_branch(key)
    desk = desks[branch.desks[0]]
    started = datetime.now(UTC)

    call = answer_hotline(sip, caller, hotline)
    sip.pump(1.0)  # into the greeting: the key must barge in
    call.send_digits(str(key))
    sip.wait_until(lambda: any(c.confirmed for c in desk.calls), 15, f"desk {desk.user} to answer")
    others = [p.user for p in desks.values() if p is not desk and p.calls]
    assert others == [], f"other desks rang: {others}"

    desk_call = desk.calls[0]
    # The desk phone shows who calls and for which branch.
    remote = desk_call.getInfo().remoteUri
    assert caller.user in remote and f"{key}. " in remote, remote
    sip.wait_until(lambda: desk_call.audio is not None, 5, "desk media")
    sip.pump(0.5)  # let the bridge form
    audio_flows(sip, call, desk_call, tones, tmp_path)

    call.hangup_now()
    sip.wait_until(lambda: desk_call.disconnected, 10, "the desk leg to be hung up")

    assert finished(sip, hotline, caller)[0].outcome == Outcome.CONNECTED
    record = hotline.call_record(caller.user)
    assert record is not None
    assert record.branch_key == key
    assert record.branch_name == branch.name
    assert record.agency == branch.agency
    assert record.desk_dialled == desk.user
    assert record.desk_answered == desk.user
    assert record.hangup_by == "caller"
    assert record.answered_at and record.bridged_at and record.ended_at
    assert started - timedelta(seconds=2) <= record.started_at <= record.answered_at
    assert record.answered_at <= record.bridged_at <= record.ended_at
    assert record.ended_at - record.started_at < timedelta(seconds=30)
    events = hotline.call_events(record.call_id)
    kinds = [e.kind for e in events]
    assert kinds[:1] == ["answered"]
    assert {"digit", "branch", "desk_dial", "bridged", "ended"} <= set(kinds)
    # Asterisk was asked to ring this desk and no other (not only the phones we watch).
    assert [e.detail["desk"] for e in events if e.kind == "desk_dial"] == [desk.user]


def test_caller_hanging_up_in_the_menu_is_logged_as_abandoned(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    desks = desk_bank.ensure([d.extension for d in hotline.config.desks])
    call = answer_hotline(sip, caller, hotline)
    sip.pump(1.5)
    call.hangup_now()
    assert finished(sip, hotline, caller)[0].outcome == Outcome.ABANDONED_IN_MENU
    record = hotline.call_record(caller.user)
    assert record is not None and record.branch_key is None and record.hangup_by == "caller"
    assert not any(p.calls for p in desks.values())


def test_caller_pressing_nothing_is_logged_no_selection_when_there_is_no_default_branch(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    def no_default(data: dict[str, Any]) -> None:
        data["menu"].update(default_branch=None, max_attempts=1)
        # The caller sits through the whole menu, 30 s with nine branches: one branch
        # says it in 5 (how many options it lists is not what this test is about).
        data["branches"] = [b for b in data["branches"] if b["key"] == 9]

    with hotline.reconfigured(no_default):
        desks = desk_bank.ensure(["1901", "1902"])
        call = answer_hotline(sip, caller, hotline)
        sip.wait_until(lambda: call.disconnected, 90, "the hotline to say goodbye and hang up")
        assert finished(sip, hotline, caller)[0].outcome == Outcome.NO_SELECTION
    record = hotline.call_record(caller.user)
    assert record is not None and record.hangup_by == "system" and record.branch_key is None
    digits = [e.detail.get("digit") for e in hotline.call_events(record.call_id)
              if e.kind == "digit"]
    assert digits == [None]
    assert not any(p.calls for p in desks.values())
