"""What the province reports on, proven on real calls (issue 6): the post-call
satisfaction survey and a desk flagging a complaint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calllog.model import CaseStatus, Outcome, SurveyResult
from tests.e2e.calls import audio_flows, finished, talking
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, PhoneCall, SipStack

pytestmark = pytest.mark.e2e


def desk_hangs_up_first(
    sip: SipStack, hotline: Hotline, caller: Phone, desk: Phone, key: int
) -> PhoneCall:
    call, desk_call = talking(sip, hotline, caller, desk, key)
    desk_call.hangup_now()
    sip.wait_until(lambda: desk_call.disconnected, 5, "the desk to hang up")
    return call


def test_caller_rates_the_call_after_the_desk_hangs_up(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(1)
    call = desk_hangs_up_first(sip, hotline, caller, desks["1101"], 1)
    sip.pump(1.0)  # into the question
    assert not call.disconnected
    call.send_digits("4")
    sip.wait_until(lambda: call.disconnected, 20, "the thanks and the hangup")

    record, events = finished(sip, hotline, caller, last_event="ended")
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, 4)
    assert record.outcome == Outcome.CONNECTED and record.hangup_by == "desk"
    # The talk ended when the desk hung up; the survey came after it.
    assert record.bridged_at < record.talk_ended_at < record.ended_at  # type: ignore[operator]
    survey = [e for e in events if e.kind == "survey"]
    assert [(e.detail["result"], e.detail["score"]) for e in survey] == [("answered", 4)]


def test_caller_hanging_up_during_the_survey_leaves_no_score(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(1)
    call = desk_hangs_up_first(sip, hotline, caller, desks["1101"], 1)
    sip.pump(1.0)
    call.hangup_now()

    record, _ = finished(sip, hotline, caller, last_event="ended")
    assert (record.survey, record.survey_score) == (SurveyResult.HUNG_UP, None)
    assert record.outcome == Outcome.CONNECTED and record.hangup_by == "desk"


def test_invalid_key_is_asked_again_once_then_the_score_counts(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(2)
    call = desk_hangs_up_first(sip, hotline, caller, desks["1201"], 2)
    sip.pump(1.0)
    call.send_digits("8")  # not on the 1-5 scale
    sip.pump(1.5)
    call.send_digits("5")
    sip.wait_until(lambda: call.disconnected, 20, "the thanks and the hangup")
    record, events = finished(sip, hotline, caller, last_event="ended")
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, 5)
    assert [e.detail["digit"] for e in events if e.kind == "survey_key"] == ["8", "5"]


def test_branch_without_survey_hangs_up_when_the_desk_does(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    def no_survey_on_3(data: dict[str, Any]) -> None:
        next(b for b in data["branches"] if b["key"] == 3)["survey"] = False

    with hotline.reconfigured(no_survey_on_3):
        desks = desk_bank.for_branch(3)
        call = desk_hangs_up_first(sip, hotline, caller, desks["1301"], 3)
        sip.wait_until(lambda: call.disconnected, 5, "the caller to be hung up at once")
        record, _ = finished(sip, hotline, caller, last_event="ended")
    assert record.survey is None and record.outcome == Outcome.CONNECTED


def test_desk_flags_the_call_as_a_complaint_and_the_call_goes_on(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path,
) -> None:
    desks = desk_bank.for_branch(6)
    call, desk_call = talking(sip, hotline, caller, desks["1601"], "6")
    desk_call.send_digits("*9")
    sip.pump(1.5)
    desk_call.send_digits("*9")  # pressed twice: still one case
    sip.pump(1.0)
    audio_flows(sip, call, desk_call, tones, tmp_path)  # the caller is still talking
    call.hangup_now()

    record, events = finished(sip, hotline, caller, last_event="ended")
    assert record.outcome == Outcome.CONNECTED
    assert [e.detail["desk"] for e in events if e.kind == "complaint_flagged"] == ["1601"] * 2
    cases = hotline.cases_for_call(record.call_id)
    assert len(cases) == 1
    case = cases[0]
    assert case.status == CaseStatus.RECEIVED
    assert case.category == hotline.config.branch(6).name  # type: ignore[union-attr]
    assert case.opened_by == "desk 1601"
    assert [c.by for c in case.history] == ["desk 1601"]
