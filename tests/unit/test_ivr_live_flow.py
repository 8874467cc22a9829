"""The call flow keeps the wallboard's registry of calls in progress (`ivr.live`) up to
date, step by step; driven through `handle_call` with the `FakeAri` of
test_ivr_call_flow, and through `HotlineApp` for the registry forgetting a call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from calllog.memory import InMemoryCallLog
from calllog.model import CallRecord
from ivr.ari.models import parse_event
from ivr.live import LiveCalls
from ivr.prompts import Prompt
from routing.live import LiveBranch, Step
from tests.clock import TickingClock
from tests.unit.test_ivr_app import (
    CALLER,
    DESK,
    ReconcileAri,
    app_with,
    caller_in_menu,
    channel,
    until,
)
from tests.unit.test_ivr_app import adoption as adopted_call
from tests.unit.test_ivr_call_flow import (
    CALLER_ID,
    CALLER_NUMBER,
    CONFIG,
    MONDAY_9AM,
    Call,
    adopt,
    connect_to_desk,
    finished,
    media,
    new_call,
)
from tests.unit.test_ivr_survey import with_survey

SATURDAY_9AM = MONDAY_9AM.replace(day=28)


class StepsSeen(LiveCalls):
    """The registry, remembering each change of the call's step (and its desks)."""

    def __init__(self) -> None:
        super().__init__(TickingClock(MONDAY_9AM), lambda: CONFIG)
        self.seen: list[tuple[Step, tuple[str, ...]]] = []

    def step(self, record: CallRecord, step: Step, desks: Iterable[str] = ()) -> None:
        version = self.version
        super().step(record, step, desks)
        if self.version != version:
            call = self._calls[record.call_id]
            self.seen.append((call.step, call.desks))

    def steps(self) -> list[Step]:
        return [step for step, _ in self.seen]


def watched(call: Call) -> StepsSeen:
    live = StepsSeen()
    call.ctx.live = live
    return live


async def test_a_connected_call_goes_from_menu_to_ringing_to_talking_to_survey() -> None:
    call = new_call(with_survey())
    live = watched(call)
    call.ari.survey = ["5"]
    task = await connect_to_desk(call, "4")

    (now,) = live.calls()
    assert (now.call_id, now.caller_number, now.step, now.desks) == (
        CALLER_ID, CALLER_NUMBER, "talking", ("1401",))
    assert now.branch == LiveBranch(key=4, name="Cải cách thủ tục hành chính",
                                    agency="Văn phòng Ủy ban nhân dân tỉnh")
    assert now.started_at == call.ctx.record.started_at
    call.ari.desk_hangs_up(call.desk_channel_id("1401"))
    await finished(task)

    assert live.seen == [("answering", ()), ("menu", ()), ("ringing", ("1401",)),
                         ("talking", ("1401",)), ("survey", ())]


async def test_a_busy_desk_moves_the_ringing_to_the_next_desk_in_the_same_step() -> None:
    call = new_call()
    live = watched(call)
    call.ari.desks["1401"] = "busy"
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert live.seen == [("answering", ()), ("menu", ()), ("ringing", ("1401",)),
                         ("ringing", ("1402",)), ("talking", ("1402",))]


async def test_every_desk_unreachable_leaves_the_caller_leaving_a_message() -> None:
    call = new_call()
    live = watched(call)
    call.ari.desks.update({"1401": "busy", "1402": "busy"})
    call.ari.menu = ["4"]
    task = await call.run()
    await call.calllog.until_noted("recording")
    assert live.calls()[0].step == "message"
    assert live.calls()[0].branch is not None
    call.ari.caller_hangs_up()
    await finished(task)

    assert live.steps()[-2:] == ["ringing", "message"]


async def test_a_call_outside_working_hours_goes_straight_to_the_message() -> None:
    call = new_call(now=SATURDAY_9AM)
    live = watched(call)
    task = await call.run()
    await call.calllog.until_noted("recording")
    call.ari.caller_hangs_up()
    await finished(task)

    assert live.steps() == ["answering", "message"]
    assert call.ari.called("play")[0].args["media"][:1] == media(Prompt.CLOSED)


async def test_the_step_keeps_its_start_while_the_desks_rung_change() -> None:
    live = LiveCalls(TickingClock(MONDAY_9AM), lambda: CONFIG)
    record = CallRecord(call_id=CALLER_ID, caller_number=CALLER_NUMBER, started_at=MONDAY_9AM)
    live.step(record, "ringing", ["1401"])
    since = live.calls()[0].step_since
    live.step(record, "ringing", ["1402"])
    assert live.calls()[0].step_since == since and live.calls()[0].desks == ("1402",)
    live.step(record, "talking", ["1402"])
    assert live.calls()[0].step_since > since


async def test_an_adopted_call_is_talking_to_its_desk() -> None:
    call = new_call()
    live = watched(call)
    task = await adopt(call)
    assert live.seen == [("talking", ("1401",))]
    call.ari.caller_hangs_up()
    await finished(task)


# --- the registry forgets a call when its task ends -------------------------------------


def registry_of(app: Any) -> LiveCalls:
    live = app.live
    assert isinstance(live, LiveCalls)
    return live


async def test_a_call_is_in_the_registry_while_it_runs_and_gone_when_it_ends() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = await caller_in_menu(ari, calllog)
    live = registry_of(app)
    assert [(c.call_id, c.step) for c in live.calls()] == [(CALLER, "menu")]
    version = live.version

    await app.drain(0)  # the service stops: the caller goes to the fallback dialplan

    assert live.calls() == [] and live.version > version


class PlayFails(ReconcileAri):
    async def play(self, channel_id: str, media: list[str], playback_id: str) -> None:
        raise RuntimeError("a bug in the flow")


async def test_a_call_sent_to_the_fallback_by_the_safety_net_is_gone_from_the_registry(
) -> None:
    ari, calllog = PlayFails(), InMemoryCallLog()
    app = app_with(ari, calllog)
    live = registry_of(app)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: "continue_in_dialplan" in ari.requests)
    await until(lambda: app.active_calls == 0)

    assert len(live) == 0 and live.version >= 2  # it was there, then it was not


async def test_an_adopted_call_is_gone_from_the_registry_when_its_desk_hangs_up() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = app_with(ari, calllog)
    live = registry_of(app)
    adopted = adopted_call()
    await calllog.save(adopted.record)
    app.adopt(adopted)
    await until(lambda: len(live) == 1)
    assert live.calls()[0].desks == ("1401",)

    app.on_event(parse_event({"type": "ChannelHangupRequest", "cause": 16,
                              "channel": channel(DESK), "application": "hotline"}))
    await until(lambda: app.active_calls == 0)
    assert len(live) == 0
