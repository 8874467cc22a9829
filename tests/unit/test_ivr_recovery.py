"""After a restart: `recover` takes over what a killed process left in Asterisk, and
`CallTrail` closes the rows nobody else will (from Asterisk's CEL trail, or once the
channel is gone). A small typed fake of ARI holds what Asterisk still has; the call
log is `InMemoryCallLog`; CEL is a real SQLite file (`tests.unit.cel_trail`)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from calllog.memory import InMemoryCallLog
from calllog.model import Callback, CallEvent, CallRecord, Outcome
from ivr.app import HotlineApp
from ivr.ari.client import AriClient
from ivr.ari.errors import ChannelGone, NotFound
from ivr.ari.models import Bridge, Channel, parse_event
from ivr.cel import summarise
from ivr.prompts import PromptLibrary
from ivr.recovery import Adoption, CallTrail, QueuedAdoption, closed_from_cel, recover
from routing.config import load_config
from tests.clock import FakeClock
from tests.unit.cel_trail import (
    FALLBACK_CONNECTED,
    FALLBACK_LINKEDID,
    CelCall,
    cel_rows,
    write_cel,
)

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")
APP = "hotline"
FALLBACK = "hotline-fallback"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 in Hậu Giang
CALLER = "1795402700.21"
DESK = "desk-3c1d9e0f2a4b"
OTHER_DESK = "desk-7a8b9c0d1e2f"
BRIDGE = "bridge-3c1d9e0f2a4b"


# --- what Asterisk still has -----------------------------------------------------------


def channel_json(
    channel_id: str, *, name: str, number: str = "0939123456", app: str = "Stasis",
    app_data: str = APP, in_dialplan: bool = True,
) -> dict[str, Any]:
    return {
        "id": channel_id, "name": name, "state": "Up",
        "caller": {"name": "", "number": number}, "connected": {"name": "", "number": ""},
        "accountcode": "", "creationtime": "2026-11-23T09:57:00.000+0700", "language": "vi",
        "dialplan": {"context": "hotline-public", "exten": "19001080", "priority": 2,
                     "app_name": app, "app_data": app_data} if in_dialplan else None,
    }


def caller(channel_id: str = CALLER, **changes: Any) -> Channel:
    return Channel.model_validate(
        channel_json(channel_id, name="PJSIP/trunk-00000021", **changes))


def desk_leg(channel_id: str = DESK, extension: str = "1401") -> Channel:
    return Channel.model_validate(channel_json(
        channel_id, name=f"PJSIP/{extension}-00000022", number="0939123456",
        app_data=f"{APP},desk,{CALLER}"))


@dataclass
class RecoveryAri:
    """`AriClient` as Asterisk answers it for what a dead process left behind (same
    signatures, checked below). `requests` lists what was asked, as (method, argument)."""

    channels: dict[str, Channel] = field(default_factory=dict)
    bridges: dict[str, list[str]] = field(default_factory=dict)
    playing: set[str] = field(default_factory=set)
    hangs_up_when_continued: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    variables: dict[tuple[str, str], str] = field(default_factory=dict)

    def has(self, *channels: Channel) -> None:
        self.channels.update({c.id: c for c in channels})

    def changes(self) -> list[tuple[str, str]]:
        """The requests that change something (not the listings and lookups)."""
        return [r for r in self.requests if not r[0].startswith(("list_", "get_"))]

    async def list_channels(self) -> list[Channel]:
        self.requests.append(("list_channels", ""))
        return list(self.channels.values())

    async def list_bridges(self) -> list[Bridge]:
        self.requests.append(("list_bridges", ""))
        return [Bridge(id=b, technology="simple_bridge", bridge_type="mixing",
                       bridge_class="stasis", channels=list(members))
                for b, members in self.bridges.items()]

    async def get_channel(self, channel_id: str) -> Channel:
        self.requests.append(("get_channel", channel_id))
        return self._live(channel_id, "GET")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.requests.append(("hangup", channel_id))
        self._live(channel_id, "DELETE")
        self._gone(channel_id)

    async def destroy_bridge(self, bridge_id: str) -> bool:
        self.requests.append(("destroy_bridge", bridge_id))
        return self.bridges.pop(bridge_id, None) is not None

    async def stop_playback(self, playback_id: str) -> bool:
        self.requests.append(("stop_playback", playback_id))
        if playback_id not in self.playing:
            return False  # finished long ago: 404
        self.playing.discard(playback_id)
        return True

    async def get_variable(self, channel_id: str, variable: str) -> str:
        self.requests.append(("get_variable", f"{channel_id} {variable}"))
        value = self.variables.get((channel_id, variable))
        if value is None:
            raise NotFound("GET", f"/channels/{channel_id}/variable", 404, "")
        return value

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        self.requests.append(("continue_in_dialplan", f"{channel_id} {context},{extension},"
                                                      f"{priority}"))
        if channel_id in self.hangs_up_when_continued:
            self._gone(channel_id)
        channel = self._live(channel_id, "POST")
        # The channel leaves Stasis (and any bridge) for the fallback dialplan.
        self.channels[channel_id] = Channel.model_validate({
            **channel.model_dump(mode="json"),
            "dialplan": {"context": context, "exten": extension, "priority": priority,
                         "app_name": "Answer", "app_data": ""},
        })
        for members in self.bridges.values():
            if channel_id in members:
                members.remove(channel_id)

    def _live(self, channel_id: str, method: str) -> Channel:
        if channel_id not in self.channels:
            raise ChannelGone(method, f"/channels/{channel_id}", 404,
                              '{"message": "Channel not found"}', channel_id=channel_id)
        return self.channels[channel_id]

    def _gone(self, channel_id: str) -> None:
        self.channels.pop(channel_id, None)
        for members in self.bridges.values():
            if channel_id in members:
                members.remove(channel_id)


USED_BY_RECOVERY = [
    "list_channels", "list_bridges", "get_channel", "hangup", "destroy_bridge",
    "stop_playback", "continue_in_dialplan", "get_variable",
]


FALLBACK_KINDS = ["answered", "fallback", "branch", "bridged", "ended"]


@pytest.mark.parametrize("name", USED_BY_RECOVERY)
def test_fake_has_the_signature_of_the_real_client(name: str) -> None:
    real, fake = getattr(AriClient, name), getattr(RecoveryAri, name)
    assert inspect.iscoroutinefunction(fake)
    assert inspect.signature(fake) == inspect.signature(real)


def test_fake_covers_every_client_method_recovery_calls() -> None:
    source = (Path(__file__).resolve().parents[2] / "ivr" / "recovery.py").read_text("utf-8")
    client_methods = {
        name for name, _ in inspect.getmembers(AriClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    used = {name for name in client_methods if f"ari.{name}(" in source}
    assert used <= set(USED_BY_RECOVERY)


# --- the application side, and one restart ------------------------------------------------


@dataclass
class Hooks:
    """`RecoveryHooks`: the calls the application handles, and what it adopts."""

    active: set[str] = field(default_factory=set)
    adopted: list[Adoption] = field(default_factory=list)
    queued: list[QueuedAdoption] = field(default_factory=list)

    def is_active(self, channel_id: str) -> bool:
        return channel_id in self.active

    def adopt(self, adoption: Adoption) -> None:
        self.adopted.append(adoption)
        self.active |= {adoption.record.call_id, adoption.desk_channel.id}

    def adopt_queued(self, adoption: QueuedAdoption) -> bool:
        self.queued.append(adoption)
        self.active.add(adoption.record.call_id)
        return True


@dataclass
class Restart:
    ari: RecoveryAri
    calllog: InMemoryCallLog
    hooks: Hooks
    trail: CallTrail
    mark_file: Path

    async def recover(self) -> None:
        await recover(
            ari=self.ari,  # type: ignore[arg-type]  # a typed fake, checked above
            calllog=self.calllog, app_name=APP, hooks=self.hooks, trail=self.trail,
            fallback_context=FALLBACK, clock=FakeClock(NOW, running=False),
        )

    async def record(self, call_id: str = CALLER) -> CallRecord:
        record = await self.calllog.get(call_id)
        assert record is not None
        return record

    async def kinds(self, call_id: str = CALLER) -> list[str]:
        return [e.kind for e in await self.calllog.events(call_id)]

    def mark(self) -> str:
        return self.mark_file.read_text()


def restart(tmp_path: Path, *, cel_db: Path | None = None,
            calllog: InMemoryCallLog | None = None, ari: RecoveryAri | None = None) -> Restart:
    ari, hooks = ari or RecoveryAri(), Hooks()
    calllog = calllog or InMemoryCallLog()
    mark_file = tmp_path / "cel.mark"
    trail = CallTrail(
        ari=ari,  # type: ignore[arg-type]  # a typed fake, checked above
        calllog=calllog, config=lambda: CONFIG, cel_db=cel_db, mark_file=mark_file,
        is_active=hooks.is_active, clock=FakeClock(NOW, running=False),
    )
    return Restart(ari, calllog, hooks, trail, mark_file)


def open_row(
    call_id: str = CALLER, *, bridged: bool = False, started_at: datetime | None = None,
) -> CallRecord:
    """A row a killed process left open (in the menu, or talking to desk 1401)."""
    started_at = started_at or NOW - timedelta(minutes=3)
    record = CallRecord(call_id=call_id, caller_number="0939123456", started_at=started_at,
                        answered_at=started_at + timedelta(seconds=1))
    if bridged:
        record.branch_key, record.branch_name = 4, "Cải cách thủ tục hành chính"
        record.desk_dialled = record.desk_answered = "1401"
        record.bridged_at = started_at + timedelta(seconds=20)
        record.outcome = Outcome.CONNECTED
    return record


async def noted(calllog: InMemoryCallLog, call_id: str, kind: str, **detail: Any) -> None:
    await calllog.append_event(CallEvent(call_id=call_id, at=NOW - timedelta(minutes=1),
                                         kind=kind, detail=detail))


# --- recover: bridged calls -------------------------------------------------------------


async def test_caller_and_desk_still_bridged_are_adopted_with_their_row(tmp_path: Path) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row(bridged=True))
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    await r.recover()

    (adoption,) = r.hooks.adopted
    assert adoption.record == await r.record()
    assert (adoption.desk_channel.id, adoption.bridge_id) == (DESK, BRIDGE)
    assert r.ari.changes() == []  # they talk on, untouched
    assert r.trail.watched == set()  # the adopted call closes its own row


async def test_a_second_desk_leg_in_an_adopted_bridge_is_hung_up(tmp_path: Path) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row(bridged=True))
    r.ari.has(caller(), desk_leg(), desk_leg(OTHER_DESK, "1402"))
    r.ari.bridges[BRIDGE] = [CALLER, DESK, OTHER_DESK]

    await r.recover()

    assert [a.desk_channel.id for a in r.hooks.adopted] == [DESK]
    assert r.ari.changes() == [("hangup", OTHER_DESK)]


async def test_bridged_call_the_log_never_had_is_adopted_with_a_row_from_the_channel(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)  # the previous process's writes were lost
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    await r.recover()

    (adoption,) = r.hooks.adopted
    record = adoption.record
    assert (record.call_id, record.caller_number) == (CALLER, "0939123456")
    assert record.started_at == datetime(2026, 11, 23, 2, 57, tzinfo=UTC)  # creationtime
    assert (record.outcome, record.bridged_at, record.ended_at) == (
        Outcome.CONNECTED, NOW, None)


async def test_bridged_call_the_log_never_had_is_watched_to_its_end(tmp_path: Path) -> None:
    r = restart(tmp_path)
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]
    app = HotlineApp(
        ari=r.ari,  # type: ignore[arg-type]  # a typed fake, checked above
        config=lambda: CONFIG, prompts=PromptLibrary("/x"), calllog=r.calllog,
        fallback_context=FALLBACK, clock=FakeClock(NOW, running=False),
    )
    with capture_logs():
        await recover(ari=r.ari, calllog=r.calllog, app_name=APP,  # type: ignore[arg-type]
                      hooks=app, trail=r.trail, fallback_context=FALLBACK,
                      clock=FakeClock(NOW, running=False))
        app.on_event(parse_event({
            "type": "ChannelHangupRequest", "cause": 16, "application": APP,
            "channel": channel_json(DESK, name="PJSIP/1401-00000022",
                                    app_data=f"{APP},desk,{CALLER}"),
        }))
        await app.drain(1)  # the adopted call ends with its desk

    assert ("hangup", CALLER) in r.ari.requests  # the caller is not left in silence
    record = await r.record()
    assert record.ended_at is not None and record.hangup_by == "desk"


async def test_bridge_of_a_call_in_progress_is_left_alone(tmp_path: Path) -> None:
    r = restart(tmp_path)
    r.hooks.active |= {CALLER, DESK}  # the websocket dropped and came back mid-call
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    await r.recover()

    assert r.ari.changes() == []
    assert r.hooks.adopted == []


# --- recover: bridges left half empty, lone desk legs -------------------------------------


@pytest.mark.parametrize("left", ["caller", "desk"])
async def test_bridge_left_with_one_side_is_ended(tmp_path: Path, left: str) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row(bridged=True))
    remaining = caller() if left == "caller" else desk_leg()
    r.ari.has(remaining)
    r.ari.bridges[BRIDGE] = [remaining.id]  # the other side hung up while we were down

    await r.recover()

    assert r.ari.changes() == [("hangup", remaining.id), ("destroy_bridge", BRIDGE)]
    assert r.hooks.adopted == []
    assert CALLER in r.trail.watched  # its row is closed from CEL, or once it is gone
    assert (await r.record()).ended_at is None


async def test_desk_leg_left_ringing_is_hung_up(tmp_path: Path) -> None:
    r = restart(tmp_path)
    r.ari.has(desk_leg())  # answered after we died: in Stasis, in no bridge

    await r.recover()

    assert r.ari.changes() == [("hangup", DESK)]


async def test_call_back_legs_left_alone_are_hung_up_and_talking_ones_left(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    ringing = desk_leg("callback-citizen-1", "0939123456@pstn")  # answered after we died
    lone = desk_leg("callback-desk-2")  # its citizen hung up while we were down
    talking = [desk_leg("callback-desk-3"), desk_leg("callback-citizen-3", "0912@pstn")]
    r.ari.has(ringing, lone, *talking)
    r.ari.bridges["callback-bridge-2"] = [lone.id]
    r.ari.bridges["callback-bridge-3"] = [c.id for c in talking]

    await r.recover()

    assert sorted(r.ari.changes()) == [("hangup", "callback-citizen-1"),
                                       ("hangup", "callback-desk-2")]


class ListedThenGoneAri(RecoveryAri):
    """Channels hang up between the listing and the next request."""

    async def list_channels(self) -> list[Channel]:
        listed = await super().list_channels()
        self.channels.clear()
        return listed


async def test_channels_gone_since_they_were_listed_are_no_error(tmp_path: Path) -> None:
    r = restart(tmp_path, ari=ListedThenGoneAri())
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER]

    await r.recover()

    assert r.ari.changes() == [("hangup", CALLER), ("destroy_bridge", BRIDGE),
                               ("hangup", DESK)]


# --- recover: callers waiting in the menu or while desks ring -------------------------------


async def test_waiting_caller_goes_to_the_fallback_after_its_prompts_are_stopped(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row())
    await noted(r.calllog, CALLER, "answered")
    await noted(r.calllog, CALLER, "prompt", playback="menu-1", prompts="greeting,menu")
    await noted(r.calllog, CALLER, "prompt_end", playback="menu-1", reason="finished")
    await noted(r.calllog, CALLER, "digit", digit=None, attempt=1)
    await noted(r.calllog, CALLER, "prompt", playback="menu-2", prompts="no_input,menu")
    r.ari.has(caller())
    r.ari.playing.add("menu-2")

    await r.recover()

    assert r.ari.changes() == [
        ("stop_playback", "menu-2"),
        ("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1"),
    ]
    assert r.ari.playing == set()
    events = await r.calllog.events(CALLER)
    assert (events[-1].kind, events[-1].detail, events[-1].at) == (
        "to_fallback", {"reason": "service restarted"}, NOW)
    assert r.trail.watched == {CALLER}
    assert (await r.record()).ended_at is None  # the fallback's CEL trail closes it


async def test_caller_waiting_for_a_desk_has_every_unfinished_ringback_stopped(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row())
    await noted(r.calllog, CALLER, "prompt", playback="menu-1", prompts="greeting,menu")
    await noted(r.calllog, CALLER, "prompt_end", playback="menu-1", reason="digit")
    await noted(r.calllog, CALLER, "prompt", playback="ringback-1", prompts="connecting")
    await noted(r.calllog, CALLER, "prompt", playback="ringback-2", prompts="still_trying")
    r.ari.has(caller())
    r.ari.playing.add("ringback-2")

    await r.recover()

    assert r.ari.changes() == [
        ("stop_playback", "ringback-1"),  # already stopped: harmless
        ("stop_playback", "ringback-2"),
        ("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1"),
    ]


async def test_waiting_caller_the_log_never_had_is_handed_over_and_watched(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    r.ari.has(caller())

    await r.recover()

    assert r.ari.changes() == [("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1")]
    assert await r.calllog.get(CALLER) is None  # the CEL import writes its row
    assert r.trail.watched == {CALLER}


async def test_caller_hanging_up_as_it_is_handed_over_is_watched(tmp_path: Path) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row())
    r.ari.has(caller())
    r.ari.hangs_up_when_continued.add(CALLER)

    await r.recover()

    assert r.trail.watched == {CALLER}


class TimelineDown(InMemoryCallLog):
    async def events(self, call_id: str) -> list[CallEvent]:
        raise ConnectionRefusedError("database unreachable")


async def test_waiting_caller_is_handed_over_even_when_its_timeline_cannot_be_read(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path, calllog=TimelineDown())
    await r.calllog.save(open_row())
    r.ari.has(caller())

    with capture_logs() as logs:
        await r.recover()

    assert r.ari.changes() == [("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1")]
    assert "cannot read the timeline to stop its prompts" in [e["event"] for e in logs]


# --- recover: what is not ours to take -----------------------------------------------------


async def test_channels_of_other_apps_and_calls_in_progress_are_left_alone(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    active = "1795402800.30"
    await r.calllog.save(open_row(active))
    r.hooks.active.add(active)
    r.ari.has(
        caller(active),  # a call this process handles
        caller("1795402700.22", app_data="voicemail"),  # another Stasis app
        caller("1795402700.23", app_data="hotline2,x"),  # an app whose name starts alike
        caller("1795402700.24", app="Dial", app_data="PJSIP/1401,20"),  # in the dialplan
        caller("1795402700.25", in_dialplan=False),
    )
    r.ari.bridges["holding-1"] = ["1795402700.22"]  # not one of our bridges

    await r.recover()

    assert r.ari.changes() == []
    assert r.hooks.adopted == []
    assert r.trail.watched == set()


async def test_open_rows_of_calls_that_ended_while_we_were_down_are_watched(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    gone, closed, ancient, active = (f"1795402700.{n}" for n in (40, 41, 42, 43))
    await r.calllog.save(open_row(gone, bridged=True))
    ended = open_row(closed)
    ended.ended_at, ended.outcome = NOW - timedelta(minutes=1), Outcome.ABANDONED_IN_MENU
    await r.calllog.save(ended)
    await r.calllog.save(open_row(ancient, started_at=NOW - timedelta(days=3)))
    await r.calllog.save(open_row(active))
    r.hooks.active.add(active)

    await r.recover()

    assert r.trail.watched == {gone}
    assert r.ari.changes() == []


# --- CallTrail: importing Asterisk's CEL trail ----------------------------------------------


async def test_fallback_call_is_imported_from_cel_once(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, FALLBACK_CONNECTED)
    r = restart(tmp_path, cel_db=cel)

    assert await r.trail.import_cel() == 1

    record = await r.record(FALLBACK_LINKEDID)
    assert (record.outcome, record.branch_key, record.desk_answered, record.hangup_by) == (
        Outcome.CONNECTED, 2, "1201", "desk")
    assert record.ended_at is not None
    assert await r.kinds(FALLBACK_LINKEDID) == FALLBACK_KINDS
    assert r.mark() == "13\n"
    assert r.trail.imported == 1

    assert await r.trail.import_cel() == 0  # nothing new
    r.mark_file.unlink()  # even read again from the start, it is written once
    assert await r.trail.import_cel() == 0
    assert await r.kinds(FALLBACK_LINKEDID) == FALLBACK_KINDS
    assert await r.record(FALLBACK_LINKEDID) == record
    assert r.trail.imported == 1


async def test_a_call_going_on_for_more_than_a_read_does_not_hold_up_the_others(
    tmp_path: Path,
) -> None:
    """A long talk (or a busy hour) puts more CEL rows after a call's start than one
    read takes: the calls that ended meanwhile are still imported, pass after pass."""
    cel = tmp_path / "cel.db"
    talking = CelCall("1795473100.1", start=1795473100).reaches_the_fallback().branch(2)
    talking.bridged(talking.desk("1201", 1))
    first = CelCall("1795473101.2", start=1795473101, first_id=talking.last_id + 1)
    first.reaches_the_fallback().hangup(first.caller, source=first.caller.channame).ends()
    write_cel(cel, [*talking.rows, *first.rows])
    r = restart(tmp_path, cel_db=cel)
    r.trail.cel_page = 3  # fewer rows than the talking call has

    assert await r.trail.import_cel() == 1
    later = CelCall("1795473102.3", start=1795473102, first_id=first.last_id + 1)
    later.reaches_the_fallback().hangup(later.caller, source=later.caller.channame).ends()
    write_cel(cel, later.rows)
    assert await r.trail.import_cel() == 1
    assert await r.calllog.get("1795473102.3") is not None
    assert await r.calllog.get("1795473100.1") is None
    assert r.mark() == "0\n"  # a restart still rereads from the talking call's start


async def test_call_still_going_in_cel_is_read_again_once_it_ends(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    talking = CelCall("1795473100.1", start=1795473100).reaches_the_fallback().branch(2)
    desk = talking.desk("1201", 1)
    talking.bridged(desk)
    done = CelCall("1795473101.2", start=1795473101, first_id=talking.last_id + 1)
    done.reaches_the_fallback().hangup(done.caller, source=done.caller.channame).ends()
    write_cel(cel, [*talking.rows, *done.rows])
    r = restart(tmp_path, cel_db=cel)

    assert await r.trail.import_cel() == 1  # the one that ended
    assert await r.calllog.get("1795473100.1") is None
    assert r.mark() == "0\n"  # the talking call's first row is read again next time

    ending = CelCall("1795473100.1", start=1795473130, first_id=done.last_id + 1)
    ending.hangup(desk, source=desk.channame)
    ending.hangup(ending.caller, source=desk.channame, dialstatus="ANSWER").ends()
    write_cel(cel, ending.rows)

    assert await r.trail.import_cel() == 1
    record = await r.record("1795473100.1")
    assert (record.outcome, record.desk_answered, record.hangup_by) == (
        Outcome.CONNECTED, "1201", "desk")
    assert r.mark() == f"{ending.last_id}\n"
    assert len(await r.calllog.events("1795473101.2")) == 3  # not written twice


def handed_over_trail(linkedid: str = CALLER) -> CelCall:
    """The service answered, then sent the caller to the fallback, which put it through
    to desk 1201; the desk hung up."""
    call = CelCall(linkedid, start=NOW.timestamp() - 120)
    call.add("CHAN_START", call.caller, context="hotline-public", exten="19001080")
    call.add("ANSWER", call.caller, appname="Stasis", appdata=APP)
    call.user("hotline_fallback").branch(2)
    desk = call.desk("1201", 1)
    call.bridged(desk)
    call.hangup(desk, source=desk.channame)
    call.hangup(call.caller, source=desk.channame, dialstatus="ANSWER")
    return call.ends()


async def test_row_handed_to_the_fallback_is_closed_with_what_the_fallback_did(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    trail = handed_over_trail()
    write_cel(cel, trail.rows)
    r = restart(tmp_path, cel_db=cel)
    row = open_row(started_at=NOW - timedelta(seconds=120))
    row.outcome, row.hangup_by = Outcome.FAILED, "system"  # the safety net handed it over
    await r.calllog.save(row)
    await noted(r.calllog, CALLER, "to_fallback", outcome="failed")
    r.trail.watch(CALLER)

    assert await r.trail.import_cel() == 1

    record = await r.record()
    assert record.ended_at == trail.when("HANGUP")
    assert (record.started_at, record.answered_at) == (row.started_at, row.answered_at)
    assert (record.outcome, record.branch_key, record.agency) == (
        Outcome.CONNECTED, 2, "Hiệp hội doanh nghiệp tỉnh")
    assert (record.desk_answered, record.hangup_by, record.hangup_cause) == ("1201", "desk", 16)
    assert record.bridged_at is not None
    events = await r.calllog.events(CALLER)
    assert [e.kind for e in events] == [
        "to_fallback", "fallback", "branch", "bridged", "ended", "reconciled"]
    reconciled = events[-1]
    assert (reconciled.detail, reconciled.at, reconciled.key) == (
        {"source": "cel", "outcome": "connected"}, NOW, f"cel:{CALLER}:reconciled")
    assert r.trail.watched == set()


@pytest.mark.parametrize(("bridged", "outcome"), [
    (True, Outcome.CONNECTED), (False, Outcome.FAILED),
])
async def test_row_of_a_call_that_ended_while_we_were_down_is_closed_from_cel(
    tmp_path: Path, bridged: bool, outcome: Outcome,
) -> None:
    cel = tmp_path / "cel.db"
    trail = CelCall(CALLER, start=NOW.timestamp() - 120)
    trail.add("CHAN_START", trail.caller, context="hotline-public", exten="19001080")
    trail.add("ANSWER", trail.caller, appname="Stasis", appdata=APP)
    trail.hangup(trail.caller, source=trail.caller.channame, cause=16).ends()
    write_cel(cel, trail.rows)
    r = restart(tmp_path, cel_db=cel)
    await r.calllog.save(open_row(bridged=bridged))
    r.trail.watch(CALLER)

    assert await r.trail.import_cel() == 1

    record = await r.record()
    assert (record.outcome, record.hangup_by, record.hangup_cause) == (outcome, "caller", 16)
    assert record.ended_at == trail.when("HANGUP")
    assert (await r.kinds())[-2:] == ["ended", "reconciled"]


async def test_row_the_service_closed_is_never_touched_by_cel(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, handed_over_trail().rows)
    r = restart(tmp_path, cel_db=cel)
    row = open_row(bridged=True)
    row.ended_at, row.hangup_by = NOW - timedelta(seconds=5), "caller"
    await r.calllog.save(row)
    await noted(r.calllog, CALLER, "ended", outcome="connected")
    r.trail.watch(CALLER)

    assert await r.trail.import_cel() == 0

    assert await r.record() == row
    assert await r.kinds() == ["ended"]
    assert r.trail.watched == set()


async def test_calls_the_service_handled_itself_are_not_imported(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    own = CelCall(CALLER)
    own.add("CHAN_START", own.caller, context="hotline-public", exten="19001080")
    own.add("ANSWER", own.caller, appname="Stasis", appdata=APP)
    own.hangup(own.caller, source=own.caller.channame).ends()
    internal = CelCall("1795473200.5", first_id=own.last_id + 1)  # a desk calling a desk
    internal.add("CHAN_START", internal.caller, context="hotline-desks", exten="1402")
    internal.hangup(internal.caller, source=internal.caller.channame).ends()
    write_cel(cel, [*own.rows, *internal.rows])
    r = restart(tmp_path, cel_db=cel)

    assert await r.trail.import_cel() == 0

    assert await r.calllog.list_calls() == []
    assert r.mark() == f"{internal.last_id}\n"


async def test_fallback_call_of_a_call_in_progress_is_left_to_the_service(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, FALLBACK_CONNECTED)
    r = restart(tmp_path, cel_db=cel)
    r.hooks.active.add(FALLBACK_LINKEDID)

    assert await r.trail.import_cel() == 0
    assert await r.calllog.get(FALLBACK_LINKEDID) is None


async def test_mark_goes_back_to_the_start_when_asterisk_recreates_its_cel_file(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, FALLBACK_CONNECTED)
    r = restart(tmp_path, cel_db=cel)
    assert await r.trail.import_cel() == 1
    cel.unlink()
    new = CelCall("1795480000.0", start=1795480000).reaches_the_fallback()
    write_cel(cel, new.rows)  # ids start at 1 again

    with capture_logs() as logs:
        assert await r.trail.import_cel() == 0
    assert r.mark() == "0\n"
    assert [e["log_level"] for e in logs if "reset" in e["event"]] == ["warning"]

    more = CelCall("1795480000.0", start=1795480030, first_id=new.last_id + 1)
    more.hangup(more.caller, source=more.caller.channame).ends()
    write_cel(cel, more.rows)
    assert await r.trail.import_cel() == 1
    assert (await r.record("1795480000.0")).outcome is Outcome.ABANDONED_IN_MENU


async def test_call_that_ended_while_we_were_down_is_closed_from_cel_after_a_restart(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    trail = CelCall(CALLER, start=NOW.timestamp() - 120)
    trail.add("CHAN_START", trail.caller, context="hotline-public", exten="19001080")
    trail.add("ANSWER", trail.caller, appname="Stasis", appdata=APP)
    trail.hangup(trail.caller, source=trail.caller.channame).ends()
    write_cel(cel, trail.rows)
    r = restart(tmp_path, cel_db=cel)
    await r.calllog.save(open_row(bridged=True))

    await r.trail.sweep()  # `CallTrail.run` starts with the service
    await r.recover()  # after the ARI connection and the journal flush
    for _ in range(3):
        await r.trail.sweep()

    record = await r.record()
    assert record.ended_at == trail.when("HANGUP")
    assert (await r.calllog.events(CALLER))[-1].detail["source"] == "cel"


async def test_call_asterisk_never_finished_does_not_stop_the_import(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    lost = CelCall("1795200000.0", start=NOW.timestamp() - 2 * 86400).reaches_the_fallback()
    rows = list(lost.rows)
    start = NOW.timestamp() - 86400
    while len(rows) < 5010:
        call = CelCall(f"{int(start)}.{len(rows)}", start=start, first_id=len(rows) + 1)
        call.reaches_the_fallback().hangup(call.caller, source=call.caller.channame).ends()
        rows += call.rows
        start += 10
    newest = CelCall("1795402000.9", start=NOW.timestamp() - 60, first_id=len(rows) + 1)
    newest.reaches_the_fallback().hangup(newest.caller, source=newest.caller.channame).ends()
    write_cel(cel, [*rows, *newest.rows])
    r = restart(tmp_path, cel_db=cel)

    for _ in range(3):
        await r.trail.import_cel()

    assert await r.calllog.get("1795402000.9") is not None


def test_closed_from_cel_takes_the_fallback_outcome_and_message(tmp_path: Path) -> None:
    call = CelCall(CALLER).reaches_the_fallback().user("hotline_closed", "closed")
    call.user("hotline_message", "vm-1795402700-21")
    call.hangup(call.caller, source=call.caller.channame).ends()
    summary = summarise(cel_rows(tmp_path, call.rows), CONFIG)
    assert summary is not None
    existing = open_row()
    existing.outcome, existing.hangup_by = Outcome.FAILED, "system"

    record = closed_from_cel(existing, summary)

    assert (record.outcome, record.recording, record.callback) == (
        Outcome.CLOSED, "vm-1795402700-21", Callback.PENDING)
    assert (record.hangup_by, record.ended_at) == ("caller", summary.record.ended_at)
    assert record.started_at == existing.started_at
    assert existing.ended_at is None  # the open row itself is not changed


# --- CallTrail: closing watched rows without CEL ---------------------------------------------


@pytest.mark.parametrize(("bridged", "outcome"), [
    (True, Outcome.CONNECTED), (False, Outcome.FAILED),
])
async def test_watched_row_is_closed_once_its_channel_is_gone_without_cel(
    tmp_path: Path, bridged: bool, outcome: Outcome,
) -> None:
    r = restart(tmp_path)  # no CEL file configured
    await r.calllog.save(open_row(bridged=bridged))
    r.ari.has(caller())  # talking on in the fallback dialplan
    r.trail.watch(CALLER)

    await r.trail.sweep()
    assert (await r.record()).ended_at is None
    assert r.trail.watched == {CALLER}

    del r.ari.channels[CALLER]
    with capture_logs():
        await r.trail.sweep()
        await r.trail.sweep()

    record = await r.record()
    assert (record.ended_at, record.outcome, record.hangup_by) == (NOW, outcome, "system")
    events = await r.calllog.events(CALLER)
    assert [e.kind for e in events] == ["reconciled"]
    assert events[0].detail["source"] == "ari"
    assert events[0].key == f"ari:{CALLER}:reconciled"
    assert r.trail.watched == set()


async def test_watched_row_waits_one_sweep_for_cel_before_closing_without_it(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, [])  # Asterisk's trail exists, but has nothing on this call yet
    r = restart(tmp_path, cel_db=cel)
    await r.calllog.save(open_row())
    r.trail.watch(CALLER)

    await r.trail.sweep()
    assert (await r.record()).ended_at is None
    assert r.trail.watched == {CALLER}

    with capture_logs():
        await r.trail.sweep()
    assert (await r.record()).ended_at == NOW
    assert r.trail.watched == set()


async def test_watched_ids_without_an_open_row_are_dropped_untouched(tmp_path: Path) -> None:
    r = restart(tmp_path)
    closed = open_row("1795402700.50")
    closed.ended_at, closed.outcome = NOW - timedelta(minutes=1), Outcome.CONNECTED
    await r.calllog.save(closed)
    active = "1795402700.51"
    await r.calllog.save(open_row(active))
    r.hooks.active.add(active)
    for call_id in (DESK, closed.call_id, active):  # a desk leg has no row of its own
        r.trail.watch(call_id)

    await r.trail.sweep()

    assert r.trail.watched == set()
    assert await r.record(closed.call_id) == closed
    assert (await r.record(active)).ended_at is None
    assert await r.calllog.events(closed.call_id) == []
    assert ("get_channel", active) not in r.ari.requests
