"""The Stasis application's routing of events to calls, and reconciliation after a
reconnect, with a small typed fake of the ARI client (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from calllog.memory import InMemoryCallLog
from calllog.model import Callback, CallRecord, Outcome
from ivr.app import Admission, HotlineApp
from ivr.ari.errors import AriHttpError, ChannelGone
from ivr.ari.models import Channel, parse_event
from ivr.prompts import PromptLibrary
from ivr.recovery import Adoption
from routing.config import load_config
from tests.clock import FakeClock

CONFIG = load_config("config/hotline.yaml").model_copy()
CALLER = "1795456379.4"
DESK = "desk-5e1f0c2a9b7d"
BRIDGE = "bridge-5e1f0c2a9b7d"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam


def channel(channel_id: str, number: str = "0901234567") -> dict[str, Any]:
    return {"id": channel_id, "name": f"PJSIP/x-{channel_id}", "state": "Up",
            "caller": {"name": "", "number": number}, "connected": {"name": "", "number": ""},
            "accountcode": "", "creationtime": "2026-11-23T09:00:00.000+0700", "language": "vi",
            "dialplan": {"context": "hotline-public", "exten": "19001080", "priority": 2,
                         "app_name": "Stasis", "app_data": "hotline"}}


class ReconcileAri:
    """Just enough ARI for a call that answers and waits in the menu; `errors`: what a
    method raises (every time), `hangup_reasons`: the reason of each hangup."""

    def __init__(self) -> None:
        self.live: list[str] = []
        self.requests: list[str] = []
        self.errors: dict[str, Exception] = {}
        self.hangup_reasons: list[str] = []

    async def answer(self, channel_id: str) -> None:
        self.requests.append("answer")

    async def play(self, channel_id: str, media: list[str], playback_id: str) -> None:
        self.requests.append("play")

    async def stop_playback(self, playback_id: str) -> bool:
        return False

    async def list_channels(self) -> list[Channel]:
        self.requests.append("list_channels")
        return [Channel.model_validate(channel(c)) for c in self.live]

    async def continue_in_dialplan(self, channel_id: str, **_: Any) -> None:
        self.requests.append("continue_in_dialplan")
        if "continue_in_dialplan" in self.errors:
            raise self.errors["continue_in_dialplan"]

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.requests.append(f"hangup {channel_id}")
        self.hangup_reasons.append(reason)
        if "hangup" in self.errors:
            raise self.errors["hangup"]

    async def destroy_bridge(self, bridge_id: str) -> bool:
        self.requests.append(f"destroy_bridge {bridge_id}")
        return True


def app_with(
    ari: ReconcileAri,
    calllog: InMemoryCallLog,
    on_left_open: Callable[[str], None] = lambda call_id: None,
    admit: Callable[[], tuple[Admission, str]] = lambda: ("take", ""),
) -> HotlineApp:
    config = CONFIG.model_copy(update={"hours": CONFIG.hours.model_copy(
        update={"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]})})
    return HotlineApp(
        ari=ari,  # type: ignore[arg-type]  # a typed stand-in with the methods used
        config=lambda: config,
        prompts=PromptLibrary("/x"),
        calllog=calllog,
        fallback_context="hotline-fallback",
        clock=FakeClock(NOW, running=False),
        on_left_open=on_left_open,
        admit=admit,
    )


async def until(condition: Callable[[], bool]) -> None:
    """Let the call tasks run until `condition` holds (at most half a second)."""
    for _ in range(50):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def caller_in_menu(ari: ReconcileAri, calllog: InMemoryCallLog) -> HotlineApp:
    """An app with one call, its menu playing."""
    app = app_with(ari, calllog)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: "play" in ari.requests)
    return app


async def still_going(app: HotlineApp, calllog: InMemoryCallLog, call_id: str,
                      calls: int) -> None:
    """After a reconciliation: `call_id` still runs, its row open; then stop the app."""
    await asyncio.sleep(0.05)
    assert app.active_calls == calls
    record = await calllog.get(call_id)
    assert record is not None and record.ended_at is None
    await app.drain(0)


async def test_a_call_whose_caller_vanished_during_a_disconnect_is_closed() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = await caller_in_menu(ari, calllog)
    assert app.active_calls == 1

    ari.live = []  # the caller hung up while our websocket was down
    await app.reconcile()
    await app.drain(2)

    record = await calllog.get(CALLER)
    assert record is not None
    assert record.outcome is Outcome.ABANDONED_IN_MENU and record.ended_at is not None
    assert app.active_calls == 0


async def test_live_calls_are_left_alone_by_reconciliation() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = app_with(ari, calllog)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await asyncio.sleep(0.05)
    ari.live = [CALLER]
    await app.reconcile()
    await still_going(app, calllog, CALLER, calls=1)


async def test_reconcile_without_calls_asks_nothing() -> None:
    ari = ReconcileAri()
    await app_with(ari, InMemoryCallLog()).reconcile()
    assert ari.requests == []


async def test_call_handed_to_the_fallback_is_reported_left_open() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    left_open: list[str] = []
    app = app_with(ari, calllog, on_left_open=left_open.append)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: "play" in ari.requests)
    assert app.is_active(CALLER)

    await app.drain(0)  # the service stops while the caller listens to the menu

    assert "continue_in_dialplan" in ari.requests
    assert left_open == [CALLER]
    assert not app.is_active(CALLER)
    assert app.calls_by_outcome == {}  # not counted: the fallback's CEL trail ends it
    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is None


async def test_call_that_ends_here_is_counted_not_reported_left_open() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    left_open: list[str] = []
    app = app_with(ari, calllog, on_left_open=left_open.append)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: "play" in ari.requests)
    app.on_event(parse_event({"type": "StasisEnd", "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: app.active_calls == 0)

    assert left_open == []
    assert app.calls_by_outcome == {"abandoned_in_menu": 1}


def adoption() -> Adoption:
    record = CallRecord(
        call_id=CALLER, caller_number="0901234567", started_at=NOW, answered_at=NOW,
        branch_key=4, desk_dialled="1401", desk_answered="1401", bridged_at=NOW,
        outcome=Outcome.CONNECTED,
    )
    desk = Channel.model_validate({**channel(DESK), "name": "PJSIP/1401-0000000a"})
    return Adoption(record, desk, BRIDGE)


async def test_adopted_call_is_active_and_ends_when_its_desk_hangs_up() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    left_open: list[str] = []
    app = app_with(ari, calllog, on_left_open=left_open.append)
    adopted = adoption()
    await calllog.save(adopted.record)  # the row a previous run left open

    app.adopt(adopted)
    assert app.is_active(CALLER) and app.is_active(DESK)
    assert app.active_calls == 1

    # The desk's events reach the adopted call (its leg is routed to it).
    app.on_event(parse_event({"type": "ChannelHangupRequest", "cause": 16,
                              "channel": channel(DESK), "application": "hotline"}))
    await until(lambda: app.active_calls == 0)

    # The desk's leg and the bridge go first (talk's clean-up), then the caller: an
    # adopted call has no survey.
    assert ari.requests == [f"hangup {DESK}", f"destroy_bridge {BRIDGE}", f"hangup {CALLER}"]
    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is not None
    assert (record.outcome, record.hangup_by, record.hangup_cause) == (
        Outcome.CONNECTED, "desk", 16)
    assert [e.kind for e in await calllog.events(CALLER)] == ["adopted", "ended"]
    assert not app.is_active(CALLER) and not app.is_active(DESK)
    assert app.calls_by_outcome == {"connected": 1}
    assert left_open == []


async def test_an_overloaded_service_sends_new_calls_to_the_fallback_unanswered() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    overload: list[tuple[Admission, str]] = [("fallback", "0.3 s event loop lag")]
    app = app_with(ari, calllog, admit=lambda: overload[0])
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: "continue_in_dialplan" in ari.requests)
    assert ari.requests == ["continue_in_dialplan"]  # not answered by us: the IVR answers
    await until(lambda: app.active_calls == 0)
    shed = await calllog.get(CALLER)  # logged by us, completed from CEL
    assert shed is not None and (shed.outcome, shed.ended_at) == (None, None)

    overload[0] = ("take", "")  # load gone: the next call is ours again
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel("c2"),
                              "application": "hotline"}))
    await until(lambda: "play" in ari.requests)
    assert app.active_calls == 1
    await app.drain(0)


def test_asterisk_is_asked_for_every_event_type_a_call_flow_waits_for() -> None:
    """The flows' isinstance checks on ARI events, against the app's event filter (an
    event type missing there never arrives: a call would wait for it forever)."""
    import re
    from pathlib import Path

    from ivr.app import EVENTS_USED
    from ivr.ari.models import EVENT_TYPES

    waited: set[str] = set()
    for source in Path("ivr").glob("*.py"):
        if source.name == "app.py":  # routing only: it matches what Asterisk sends
            continue
        for names in re.findall(r"isinstance\(\s*event\s*,\s*([\w\s|]+)\)", source.read_text()):
            waited |= {n.strip() for n in names.split("|")} & set(EVENT_TYPES)
    assert waited and waited <= set(EVENTS_USED), sorted(waited - set(EVENTS_USED))


async def test_a_call_past_what_even_the_fallback_takes_is_turned_away_and_logged() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = app_with(ari, calllog, admit=lambda: ("refuse", "400 calls in progress"))
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: bool(app.calls_by_outcome))
    assert ari.requests == [f"hangup {CALLER}"]  # before answering: SIP 503 to the caller
    record = await calllog.get(CALLER)
    assert record is not None and record.outcome is Outcome.REFUSED
    assert record.callback is Callback.PENDING and record.caller_number == "0901234567"
    assert record.ended_at is not None and app.active_calls == 0
    assert ari.hangup_reasons == ["congestion"]
    events = await calllog.events(CALLER)
    assert [(e.kind, e.detail.get("reason")) for e in events] == [
        ("turned_away", "400 calls in progress"), ("ended", None)]


async def test_a_call_starting_while_the_list_is_asked_for_is_not_reconciled_away() -> None:
    """The watchdog's GET /channels is answered before a new call's StasisStart is
    handled: the new call is not in the list but must not be taken for gone."""
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = await caller_in_menu(ari, calllog)
    ari.live = [CALLER]
    newcomer = "1795456380.7"
    listing = ari.list_channels

    async def list_then_a_new_call() -> list[Channel]:
        channels = await listing()
        app.on_event(parse_event({"type": "StasisStart", "args": [],
                                  "channel": channel(newcomer, "0907654321"),
                                  "application": "hotline"}))
        return channels

    ari.list_channels = list_then_a_new_call  # type: ignore[method-assign]
    await app.reconcile()
    await still_going(app, calllog, newcomer, calls=2)


async def test_a_desk_leg_not_yet_heard_of_is_not_reconciled_away() -> None:
    """A desk leg is owned by its call before Asterisk creates it; until an event
    names it, its absence from the channel list means nothing."""
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = await caller_in_menu(ari, calllog)
    app._calls[CALLER].own(DESK)
    ari.live = [CALLER]
    await app.reconcile()
    assert app._calls[CALLER].events.empty()
    await app.drain(0)


async def test_a_desk_leg_destroyed_while_connected_is_not_reported_again() -> None:
    """A desk leg whose ChannelDestroyed arrived is gone and known to be: the watchdog's
    rounds do not report it vanished (a queued caller rings many such legs)."""
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = await caller_in_menu(ari, calllog)
    app._calls[CALLER].own(DESK)
    app.on_event(parse_event({"type": "ChannelCreated", "channel": channel(DESK, "1101"),
                              "application": "hotline"}))
    assert DESK in app._calls[CALLER].seen
    app.on_event(parse_event({"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal",
                              "channel": channel(DESK, "1101"), "application": "hotline"}))
    assert DESK not in app._calls[CALLER].seen
    ari.live = [CALLER]
    await app.reconcile()
    kinds = []
    while not app._calls[CALLER].events.empty():
        kinds.append(app._calls[CALLER].events.get_nowait().type)
    assert "ChannelVanished" not in kinds
    await app.drain(0)


async def test_a_desk_legs_events_reach_its_call_from_the_moment_it_is_owned() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = await caller_in_menu(ari, calllog)
    session = app._calls[CALLER]
    session.own(DESK)
    assert app.is_active(DESK)
    app.on_event(parse_event({"type": "StasisStart", "args": ["desk", CALLER],
                              "channel": channel(DESK), "application": "hotline"}))
    queued = session.events.get_nowait()
    assert queued.channel_ids() == {DESK} and DESK in session.seen
    await app.drain(0)


# --- calls shed to the fallback: logged first, never left silent --------------------------


async def test_a_shed_call_is_logged_before_it_is_handed_to_the_fallback() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    left_open: list[str] = []
    app = app_with(ari, calllog, admit=lambda: ("fallback", "0.3 s event loop lag"),
                   on_left_open=left_open.append)
    rows_at_handover: list[CallRecord | None] = []
    handover = ari.continue_in_dialplan

    async def look_then_continue(channel_id: str, **args: Any) -> None:
        rows_at_handover.append(await calllog.get(channel_id))
        await handover(channel_id, **args)

    ari.continue_in_dialplan = look_then_continue  # type: ignore[method-assign]
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: bool(left_open))

    [row] = rows_at_handover
    assert row is not None and (row.caller_number, row.started_at) == ("0901234567", NOW)
    assert (row.outcome, row.ended_at, row.callback) == (None, None, None)
    events = await calllog.events(CALLER)
    assert [(e.kind, e.detail) for e in events] == [
        ("shed", {"reason": "0.3 s event loop lag"})]
    assert left_open == [CALLER]  # the call trail closes it (CEL) or finds it gone
    assert app.calls_by_outcome == {} and app.active_calls == 0


@pytest.mark.parametrize("when", ["overloaded", "stopping"])
async def test_a_shed_call_the_fallback_cannot_take_is_hung_up_as_congestion_and_logged(
    when: str,
) -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    ari.errors["continue_in_dialplan"] = AriHttpError(
        "POST", f"/channels/{CALLER}/continue", 500, '{"message": "Internal Server Error"}')
    left_open: list[str] = []
    app = app_with(ari, calllog, on_left_open=left_open.append,
                   admit=lambda: ("fallback", "400 calls in progress"))
    if when == "stopping":
        app = app_with(ari, calllog, on_left_open=left_open.append)
        await app.drain(0)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: bool(app.calls_by_outcome))

    assert ari.requests == ["continue_in_dialplan", f"hangup {CALLER}"]
    assert ari.hangup_reasons == ["congestion"]  # Q.850 34: the caller hears congestion
    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is not None
    assert (record.outcome, record.hangup_cause, record.hangup_by, record.callback) == (
        Outcome.REFUSED, 34, "system", Callback.PENDING)
    kinds = [e.kind for e in await calllog.events(CALLER)]
    assert kinds == ["shed", "shed_failed", "ended"]
    assert left_open == [] and app.calls_by_outcome == {"refused": 1}


async def test_a_caller_gone_before_the_fallback_took_the_call_abandoned_it() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    ari.errors["continue_in_dialplan"] = ChannelGone(
        "POST", f"/channels/{CALLER}/continue", 404, '{"message": "Channel not found"}',
        channel_id=CALLER)
    app = app_with(ari, calllog, admit=lambda: ("fallback", "lag"))
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await until(lambda: bool(app.calls_by_outcome))
    assert ari.requests == ["continue_in_dialplan"]
    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is not None
    assert (record.outcome, record.hangup_by) == (Outcome.ABANDONED_IN_MENU, "caller")


async def test_a_stopping_service_does_not_cancel_the_hand_over_of_a_shed_call() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    release = asyncio.Event()
    handover = ari.continue_in_dialplan

    async def slow_continue(channel_id: str, **args: Any) -> None:
        await release.wait()
        await handover(channel_id, **args)

    ari.continue_in_dialplan = slow_continue  # type: ignore[method-assign]
    app = app_with(ari, calllog, admit=lambda: ("fallback", "lag"))
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    await asyncio.sleep(0.02)
    draining = asyncio.create_task(app.drain(0))
    await asyncio.sleep(0.02)
    release.set()
    await draining
    assert ari.requests == ["continue_in_dialplan"]


# --- caller numbers that are no phone number ---------------------------------------------


@pytest.mark.parametrize("given", ["=1+2", "'%3B--", "9" * 500])
async def test_a_caller_id_that_is_no_number_is_logged_as_unknown_with_what_was_given(
    given: str,
) -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = app_with(ari, calllog)
    app.on_event(parse_event({"type": "StasisStart", "args": [],
                              "channel": channel(CALLER, given), "application": "hotline"}))
    await until(lambda: "play" in ari.requests)
    record = await calllog.get(CALLER)
    assert record is not None and record.caller_number == "unknown"
    noted = [e.detail for e in await calllog.events(CALLER) if e.kind == "caller_number"]
    assert noted == [{"given": given[:64]}]
    await app.drain(0)


async def test_a_turned_away_caller_without_a_number_is_not_offered_a_call_back() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = app_with(ari, calllog, admit=lambda: ("refuse", "400 calls in progress"))
    app.on_event(parse_event({"type": "StasisStart", "args": [],
                              "channel": channel(CALLER, "=1+2"), "application": "hotline"}))
    await until(lambda: bool(app.calls_by_outcome))
    record = await calllog.get(CALLER)
    assert record is not None and record.caller_number == "unknown"
    assert (record.outcome, record.callback) == (Outcome.REFUSED, Callback.NO_NUMBER)
    assert await calllog.list_callbacks() == []
