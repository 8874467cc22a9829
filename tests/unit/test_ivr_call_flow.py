"""The call flow `ivr.call.handle_call`, driven like Asterisk 22 drives it.

`FakeAri` stands in for `ivr.ari.client.AriClient`: the same async methods with the
same signatures (checked below); it records every request, keeps the few facts ARI
would (live channels, playbacks, bridges) and answers requests with the events
Asterisk sends, shaped like the recorded traces in `tests/data/ari-traces/*.jsonl`
and parsed with `ivr.ari.models.parse_event`. A test starts `handle_call` as a task
and pushes what the people on the line do (press a key, pick up, hang up) into the
call's `CallSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
import structlog
from structlog.testing import capture_logs

from calllog.memory import InMemoryCallLog
from calllog.model import CallEvent, CallRecord, Outcome, SurveyResult
from ivr.ari.client import AriClient
from ivr.ari.errors import AriHttpError, ChannelGone, NotFound
from ivr.ari.models import (
    Bridge,
    Channel,
    Endpoint,
    Event,
    LiveRecording,
    Playback,
    StasisStart,
    parse_event,
)
from ivr.call import handle_call, resume_call
from ivr.context import CallContext
from ivr.desk import DeskLeg
from ivr.prompts import Prompt, PromptLibrary
from ivr.session import CallSession
from routing.config import HotlineConfig, load_config
from tests.clock import TickingClock

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")
PROMPTS = PromptLibrary("/x")
FALLBACK = "hotline-fallback"

CALLER_ID = "1795456418.16"
CALLER_NUMBER = "0939123456"
MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Hậu Giang: open
ARI_TIME = "2026-11-23T09:00:00.000+0700"


def media(*prompts: Prompt) -> list[str]:
    return [PROMPTS.media(p) for p in prompts]


def with_menu(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    return config.model_copy(update={"menu": config.menu.model_copy(update=changes)})


NO_DEFAULT_BRANCH = with_menu(CONFIG, default_branch=None)


# --- ARI events, shaped like the recorded ones ----------------------------------------


def caller_channel(state: str = "Up") -> dict[str, Any]:
    return {
        "id": CALLER_ID,
        "name": "PJSIP/trunk-00000008",
        "state": state,
        "protocol_id": "1-21062@127.0.0.1",
        "caller": {"name": "", "number": CALLER_NUMBER},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "from-trunk",
            "exten": CONFIG.hotline.number,
            "priority": 2,
            "app_name": "Stasis",
            "app_data": "hotline",
        },
        "creationtime": ARI_TIME,
        "language": "en",
    }


def desk_channel(channel_id: str, extension: str, state: str, in_stasis: bool) -> dict[str, Any]:
    app = ("Stasis", f"hotline,desk,{CALLER_ID}") if in_stasis else ("AppDial2", "(Outgoing Line)")
    return {
        "id": channel_id,
        "name": f"PJSIP/{extension}-0000000a",
        "state": state,
        "protocol_id": "57ac4c18-af9f-43c5-b7da-67e1458035f0",
        "caller": {"name": f"Desk {extension}", "number": CALLER_NUMBER},
        "connected": {"name": "", "number": CALLER_NUMBER},
        "accountcode": "",
        "dialplan": {
            "context": "from-desk",
            "exten": "s",
            "priority": 1,
            "app_name": app[0],
            "app_data": app[1],
        },
        "creationtime": ARI_TIME,
        "language": "en",
    }


def ari_event(event_type: str, **fields: Any) -> Event:
    return parse_event(
        {
            "type": event_type,
            "timestamp": ARI_TIME,
            **fields,
            "asterisk_id": "02:fc:00:00:00:01",
            "application": "hotline",
        }
    )


def stasis_start_of_caller() -> StasisStart:
    event = ari_event("StasisStart", args=[], channel=caller_channel(state="Ring"))
    assert isinstance(event, StasisStart)
    return event


# --- the fake ARI client -------------------------------------------------------------

SILENCE = None
"""A menu step where the caller lets the prompt play to the end and presses nothing."""

CallerAtMenu = str | None
DeskBehaviour = Literal["answer", "busy", "noanswer", "ring", "refused"]
"""How a desk phone reacts to `dial`: pick up; 486 Busy (busy.jsonl); ring out until
Asterisk's dial timeout (noanswer-failover.jsonl); ring until the test acts; or
Asterisk refuses to create the channel at all."""


@dataclass
class AriCall:
    method: str
    args: dict[str, Any]


@dataclass(repr=False)
class FakeAri:
    """`AriClient` as Asterisk 22 answers it, for one caller.

    - `menu`: what the caller does at each menu prompt, in turn: a key (pressed while
      the prompt plays: barge-in) or `SILENCE`. When the list is used up the prompt
      keeps playing and the test decides what happens next.
    - `survey`: the same for each playing of the survey question (after the desk
      hung up).
    - `desks`: how each desk reacts to `dial` (default "answer"); `unregistered`: desks
      whose phone is offline.
    - `errors`: an exception a method raises (every time it is called).
    - `when`: something that happens on the line as the flow makes a request, before
      ARI answers it (once), e.g. `when["create_bridge"] = ari.caller_hangs_up`.
    """

    session: CallSession
    menu: list[CallerAtMenu] = field(default_factory=list)
    survey: list[CallerAtMenu] = field(default_factory=list)
    desks: dict[str, DeskBehaviour] = field(default_factory=dict)
    unregistered: set[str] = field(default_factory=set)
    message_seconds: int = 7
    recording_fails: bool = False
    """Asterisk starts the recording, then fails it at once (RecordingFailed)."""
    errors: dict[str, Exception] = field(default_factory=dict)
    when: dict[str, Callable[[], None]] = field(default_factory=dict)
    calls: list[AriCall] = field(default_factory=list)
    variables: dict[tuple[str, str], str] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    playing: dict[str, str] = field(default_factory=dict)
    bridges: dict[str, list[str]] = field(default_factory=dict)
    owned_when_created: dict[str, bool] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channels[CALLER_ID] = caller_channel()
        self._requested = asyncio.Event()

    def __repr__(self) -> str:
        return f"FakeAri(requests={self.methods}, live channels={sorted(self.channels)})"

    # -- AriClient's methods used by ivr/ (signatures checked against AriClient) --

    async def answer(self, channel_id: str) -> None:
        await self._request("answer", channel_id=channel_id)
        self._live(channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._request("hangup", channel_id=channel_id, reason=reason)
        self._live(channel_id)
        del self.channels[channel_id]

    async def play(
        self,
        channel_id: str,
        media: str | list[str],
        playback_id: str,
        lang: str | None = None,
    ) -> Playback:
        await self._request(
            "play", channel_id=channel_id, media=media, playback_id=playback_id, lang=lang
        )
        self._live(channel_id)
        items = [media] if isinstance(media, str) else list(media)
        self.playing[playback_id] = channel_id
        self._deliver("PlaybackStarted", playback=self._playback(playback_id, "playing"))
        answers = (
            self.menu if PROMPTS.media(Prompt.MENU) in items
            else self.survey if PROMPTS.media(Prompt.SURVEY_QUESTION) in items
            else None
        )
        if answers is not None:
            if answers:
                key = answers.pop(0)
                if key is SILENCE:
                    self._finish(playback_id, "done")
                else:
                    self.press(key)
            # else the prompt keeps playing: the test decides what the caller does
        elif not any(item.startswith("tone:") for item in items):
            self._finish(playback_id, "done")  # a message plays to its end; tones go on
        return Playback.model_validate(self._playback(playback_id, "queued"))

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._request("set_variable", channel_id=channel_id, variable=variable,
                            value=value)
        self._live(channel_id)
        self.variables[(channel_id, variable)] = value

    async def get_variable(self, channel_id: str, variable: str) -> str:
        await self._request("get_variable", channel_id=channel_id, variable=variable)
        self._live(channel_id)
        return self.variables[(channel_id, variable)]

    async def stop_playback(self, playback_id: str) -> bool:
        await self._request("stop_playback", playback_id=playback_id)
        if playback_id not in self.playing:
            return False
        self._finish(playback_id, "done")
        return True

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = True,
        terminate_on: str = "#",
        if_exists: str = "overwrite",
    ) -> LiveRecording:
        await self._request(
            "record", channel_id=channel_id, name=name, format=format,
            max_duration_seconds=max_duration_seconds, max_silence_seconds=max_silence_seconds,
            beep=beep, terminate_on=terminate_on, if_exists=if_exists,
        )
        self._live(channel_id)
        recording = {"name": name, "format": format, "target_uri": f"channel:{channel_id}"}
        if self.recording_fails:
            self._deliver("RecordingFailed", recording={**recording, "state": "failed",
                                                        "cause": "Could not create file"})
            return LiveRecording.model_validate({**recording, "state": "queued"})
        self._deliver("RecordingStarted", recording={**recording, "state": "recording"})
        # The caller speaks, then presses '#'.
        self._deliver(
            "RecordingFinished",
            recording={**recording, "state": "done", "duration": self.message_seconds},
        )
        return LiveRecording.model_validate({**recording, "state": "queued"})

    async def stop_recording(self, name: str) -> bool:
        await self._request("stop_recording", name=name)
        return False

    async def record_bridge(self, bridge_id: str, name: str, *, format: str = "wav",
                            if_exists: str = "overwrite") -> LiveRecording:
        await self._request("record_bridge", bridge_id=bridge_id, name=name)
        return LiveRecording.model_validate({"name": name, "format": "wav",
                                             "state": "recording"})

    async def list_channels(self) -> list[Channel]:
        await self._request("list_channels")
        return [Channel.model_validate(channel) for channel in self.channels.values()]

    async def get_channel(self, channel_id: str) -> Channel:
        await self._request("get_channel", channel_id=channel_id)
        self._live(channel_id)  # GET /channels/{id} of a hung-up channel: 404
        return Channel.model_validate(self.channels[channel_id])

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        await self._request("get_endpoint", technology=technology, resource=resource)
        state = "offline" if resource in self.unregistered else "online"
        return Endpoint(technology=technology, resource=resource, state=state)

    async def list_endpoints(self) -> list[Endpoint]:
        """Every desk of the configuration, and one trunk (no desk)."""
        await self._request("list_endpoints")
        return [Endpoint(technology="PJSIP", resource=d.extension,
                         state="offline" if d.extension in self.unregistered else "online")
                for d in CONFIG.desks] + [
            Endpoint(technology="PJSIP", resource="trunk", state="online")]

    async def originate(
        self,
        endpoint: str,
        *,
        app_args: str = "",
        channel_id: str | None = None,
        originator: str | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
    ) -> Channel:
        """Like ``POST /channels``: the channel exists and rings when this returns;
        its events come as recorded (Stasis starts only once it has answered)."""
        await self._request(
            "originate", endpoint=endpoint, app_args=app_args, channel_id=channel_id,
            originator=originator, caller_id=caller_id, timeout=timeout,
        )
        assert channel_id is not None, "the flow chooses desk channel ids itself"
        self.owned_when_created[channel_id] = channel_id in self.session.channel_ids
        extension = endpoint.removeprefix("PJSIP/")
        if self.desks.get(extension) == "refused":
            raise AriHttpError("POST", "/channels", 500, '{"message": "Allocation failed"}')
        self.extensions[channel_id] = extension
        self.channels[channel_id] = desk_channel(channel_id, extension, "Down", False)
        self._ring(channel_id)
        return Channel.model_validate(desk_channel(channel_id, extension, "Down", False))

    def _ring(self, channel_id: str) -> None:
        extension = self.extensions[channel_id]
        down = desk_channel(channel_id, extension, "Down", False)
        ringing = desk_channel(channel_id, extension, "Ringing", False)
        self._deliver("Dial", dialstatus="", forward="", dialstring=extension, peer=down)
        match self.desks.get(extension, "answer"):
            case "answer":  # happy-path.jsonl
                up = desk_channel(channel_id, extension, "Up", False)
                self._deliver("Dial", dialstatus="RINGING", dialstring=extension, peer=ringing)
                self._deliver("Dial", dialstatus="ANSWER", dialstring=extension, peer=up)
                self.channels[channel_id] = desk_channel(channel_id, extension, "Up", True)
                self._deliver(
                    "StasisStart", args=["desk", CALLER_ID], channel=self.channels[channel_id]
                )
            case "answer_then_gone":  # answers, hangs up before it can be bridged
                up = desk_channel(channel_id, extension, "Up", True)
                self._deliver("Dial", dialstatus="ANSWER", dialstring=extension, peer=up)
                self._deliver("StasisStart", args=["desk", CALLER_ID], channel=up)
                del self.channels[channel_id]
            case "busy":  # busy.jsonl: 486 from the phone
                self._deliver("ChannelHangupRequest", cause=17, tech_cause=486, channel=down)
                self._deliver("Dial", dialstatus="BUSY", dialstring=extension, peer=down)
                self._gone(channel_id, 17, "User busy")
            case "noanswer":  # noanswer-failover.jsonl: no Dial NOANSWER, only the cause
                self._deliver("Dial", dialstatus="RINGING", dialstring=extension, peer=ringing)
                self.channels[channel_id] = ringing
                self._gone(channel_id, 19, "User alerting, no answer")
            case "ring":
                self.channels[channel_id] = ringing
                self._deliver("Dial", dialstatus="RINGING", dialstring=extension, peer=ringing)

    async def create_bridge(
        self, bridge_id: str, *, bridge_type: str = "mixing", name: str = ""
    ) -> Bridge:
        await self._request("create_bridge", bridge_id=bridge_id, bridge_type=bridge_type,
                            name=name)
        self.bridges[bridge_id] = []
        return Bridge(id=bridge_id, technology="simple_bridge", bridge_type=bridge_type,
                      bridge_class="stasis", name=name)

    async def add_channel(self, bridge_id: str, *channel_ids: str) -> None:
        """Like Asterisk: all of them join, or (one is missing) none does."""
        await self._request("add_channel", bridge_id=bridge_id, channel_ids=list(channel_ids))
        path = f"/bridges/{bridge_id}/addChannel"
        if bridge_id not in self.bridges:
            raise NotFound("POST", path, 404, '{"message": "Bridge not found"}')
        if any(channel_id not in self.channels for channel_id in channel_ids):
            raise ChannelGone("POST", path, 400, '{"message": "Channel not found"}',
                              channel_id=",".join(channel_ids))
        self.bridges[bridge_id].extend(channel_ids)

    async def destroy_bridge(self, bridge_id: str) -> bool:
        await self._request("destroy_bridge", bridge_id=bridge_id)
        return self.bridges.pop(bridge_id, None) is not None

    async def list_bridges(self) -> list[Bridge]:
        await self._request("list_bridges")
        return [
            Bridge(id=bridge_id, technology="simple_bridge", bridge_type="mixing",
                   bridge_class="stasis", channels=list(members))
            for bridge_id, members in self.bridges.items()
        ]

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self._request("continue_in_dialplan", channel_id=channel_id, context=context,
                            extension=extension, priority=priority, label=label)
        self._live(channel_id)

    # -- what the people on the line do ------------------------------------------

    def press(self, digit: str) -> None:
        self._deliver("ChannelDtmfReceived", digit=digit, duration_ms=280,
                      channel=self.channels[CALLER_ID])

    def desk_presses(self, channel_id: str, digits: str) -> None:
        """The desk presses `digits` on its phone (reported as the bridge decodes them)."""
        for digit in digits:
            self._deliver("ChannelDtmfReceived", digit=digit, duration_ms=120,
                          channel=self.channels[channel_id])

    def caller_hangs_up(self, cause: int = 16) -> None:
        """As caller-hangup.jsonl: hangup request, playbacks fail, StasisEnd (the
        inbound channel gets no ChannelDestroyed once it has left Stasis)."""
        channel = self.channels.pop(CALLER_ID)
        self._deliver("ChannelHangupRequest", cause=cause, channel=channel)
        for playback_id, target in list(self.playing.items()):
            if target == CALLER_ID:
                self._finish(playback_id, "failed")
        self._deliver("StasisEnd", channel=channel)

    def desk_hangs_up(self, channel_id: str, cause: int = 16) -> None:
        channel = self.channels[channel_id]
        self._deliver("ChannelHangupRequest", cause=cause, channel=channel)
        self._deliver("StasisEnd", channel=channel)
        self._gone(channel_id, cause, "Normal Clearing")

    # -- what the test reads ------------------------------------------------------

    def called(self, method: str) -> list[AriCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def index(self, method: str, **args: Any) -> int:
        """Position of the first request to `method` with these arguments."""
        for n, call in enumerate(self.calls):
            if call.method == method and all(call.args[k] == v for k, v in args.items()):
                return n
        raise AssertionError(f"no {method}({args}) in {self.methods}")

    def played(self) -> list[list[str]]:
        return [call.args["media"] for call in self.called("play")]

    def hung_up(self) -> list[str]:
        return [call.args["channel_id"] for call in self.called("hangup")]

    def dialled(self) -> list[str]:
        return [call.args["endpoint"] for call in self.called("originate")]

    async def until(self, method: str, count: int = 1) -> None:
        """Wait (at most a second) until the flow made `count` requests to `method`."""
        async with asyncio.timeout(1.0):
            while len(self.called(method)) < count:
                self._requested.clear()
                await self._requested.wait()

    # -- plumbing -------------------------------------------------------------------

    async def _request(self, method: str, **args: Any) -> None:
        await asyncio.sleep(0)  # an HTTP round trip lets other tasks run
        # From here to the end of the fake's method nothing awaits: a test that sees
        # the request in `calls` also sees the events Asterisk sent in answer to it.
        self.calls.append(AriCall(method, args))
        self._requested.set()
        if method in self.when:
            self.when.pop(method)()
        if method in self.errors:
            raise self.errors[method]

    def _live(self, channel_id: str) -> None:
        if channel_id not in self.channels:
            raise ChannelGone("POST", f"/channels/{channel_id}", 404,
                              '{"message": "Channel not found"}', channel_id=channel_id)

    def _deliver(self, event_type: str, **fields: Any) -> None:
        self.session.deliver(ari_event(event_type, **fields))

    def _playback(self, playback_id: str, state: str) -> dict[str, Any]:
        return {"id": playback_id, "media_uri": "sound:x", "language": "en",
                "target_uri": f"channel:{self.playing.get(playback_id, CALLER_ID)}",
                "state": state}

    def _finish(self, playback_id: str, state: str) -> None:
        self._deliver("PlaybackFinished", playback=self._playback(playback_id, state))
        del self.playing[playback_id]

    def _gone(self, channel_id: str, cause: int, cause_txt: str) -> None:
        channel = self.channels.pop(channel_id)
        self._deliver("ChannelDestroyed", cause=cause, cause_txt=cause_txt, channel=channel)


USED_BY_IVR = [
    "answer", "play", "stop_playback", "record", "stop_recording", "get_endpoint",
    "originate", "hangup", "create_bridge", "add_channel", "destroy_bridge",
    "continue_in_dialplan", "list_channels", "get_channel", "list_bridges", "list_endpoints",
    "record_bridge",
    "set_variable", "get_variable",
]


@pytest.mark.parametrize("name", USED_BY_IVR)
def test_fake_has_the_signature_of_the_real_client(name: str) -> None:
    real, fake = getattr(AriClient, name), getattr(FakeAri, name)
    assert inspect.iscoroutinefunction(fake)
    assert inspect.signature(fake) == inspect.signature(real)


def test_fake_covers_every_client_method_the_flow_calls() -> None:
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in (Path(__file__).resolve().parents[2] / "ivr").glob("*.py")
    )
    client_methods = {
        name for name, _ in inspect.getmembers(AriClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    used = {name for name in client_methods if f"ari.{name}(" in source}
    assert used <= set(USED_BY_IVR)


# --- one call -------------------------------------------------------------------------


class WatchedCallLog(InMemoryCallLog):
    """The in-memory call log, telling the test when the flow notes a step."""

    def __init__(self) -> None:
        super().__init__()
        self._appended = asyncio.Event()

    async def append_event(self, event: CallEvent) -> None:
        await super().append_event(event)
        self._appended.set()

    async def until_noted(self, kind: str, count: int = 1) -> None:
        """Wait (at most a second) until the call's timeline has `count` `kind` steps."""
        async with asyncio.timeout(1.0):
            while [e.kind for e in await self.events(CALLER_ID)].count(kind) < count:
                self._appended.clear()
                await self._appended.wait()


@dataclass
class Call:
    ari: FakeAri
    calllog: WatchedCallLog
    ctx: CallContext = field(repr=False)

    async def run(self) -> asyncio.Task[None]:
        return asyncio.create_task(handle_call(self.ctx), name=f"call-{CALLER_ID}")

    async def record(self) -> CallRecord:
        record = await self.calllog.get(CALLER_ID)
        assert record is not None
        return record

    async def timeline(self) -> list[CallEvent]:
        return await self.calllog.events(CALLER_ID)

    async def kinds(self) -> list[str]:
        return [event.kind for event in await self.timeline()]

    async def details(self, kind: str) -> list[Mapping[str, str | int | None]]:
        return [event.detail for event in await self.timeline() if event.kind == kind]

    def desk_channel_id(self, extension: str = "1401") -> str:
        for create in self.ari.called("originate"):
            if create.args["endpoint"] == f"PJSIP/{extension}":
                channel_id = create.args["channel_id"]
                assert isinstance(channel_id, str)
                return channel_id
        raise AssertionError(f"desk {extension} was never dialled")


def new_call(
    config: HotlineConfig = CONFIG,
    *,
    calllog: WatchedCallLog | None = None,
    now: datetime = MONDAY_9AM,
) -> Call:
    """A call as `HotlineApp._start_call` sets it up for a new StasisStart."""
    channel = stasis_start_of_caller().channel
    clock = TickingClock(now)
    session = CallSession(channel.id, clock)
    calllog = calllog or WatchedCallLog()
    ctx = CallContext(
        ari=FakeAri(session),  # type: ignore[arg-type]  # a typed fake, checked above
        session=session,
        record=CallRecord(
            call_id=channel.id,
            caller_number=channel.caller.number,
            caller_name=channel.caller.name,
            started_at=clock.now(),
        ),
        calllog=calllog,
        config=config,
        prompts=PROMPTS,
        clock=clock,
        log=structlog.get_logger("ivr.app").bind(call_id=channel.id,
                                                 caller=channel.caller.number),
        fallback_context=FALLBACK,
    )
    assert isinstance(ctx.ari, FakeAri)
    return Call(ari=ctx.ari, calllog=calllog, ctx=ctx)


async def finished(task: asyncio.Task[None]) -> None:
    await asyncio.wait_for(task, timeout=2.0)


async def connect_to_desk(call: Call, *keys: CallerAtMenu) -> asyncio.Task[None]:
    """Start the call; the caller presses `keys`; wait until caller and desk are bridged."""
    call.ari.menu = list(keys)
    task = await call.run()
    await call.calllog.until_noted("bridged")
    return task


# --- connected calls ------------------------------------------------------------------


async def test_caller_choosing_branch_4_talks_to_desk_1401_until_hanging_up() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    ari = call.ari
    desk = call.desk_channel_id("1401")
    assert ari.index("answer", channel_id=CALLER_ID) < ari.index("play")

    menu_play, ringback_play = ari.called("play")
    assert menu_play.args["media"] == media(Prompt.GREETING, Prompt.MENU)
    assert ari.called("stop_playback")[0].args["playback_id"] == menu_play.args["playback_id"]
    assert ringback_play.args["media"] == [*media(Prompt.CONNECTING), "tone:ring"]

    (originate,) = ari.called("originate")
    assert originate.args == {
        "endpoint": "PJSIP/1401", "app_args": f"desk,{CALLER_ID}", "channel_id": desk,
        "originator": CALLER_ID, "timeout": 20,
        # Caller id and connected line of the desk's leg (its INVITE's From).
        "caller_id": f'"4. Cải cách thủ tục hành chính" <{CALLER_NUMBER}>',
    }
    assert ari.owned_when_created[desk] is True  # its events reach this call from the start
    assert desk in call.ctx.session.channel_ids

    (bridge,) = ari.called("create_bridge")
    bridge_id = bridge.args["bridge_id"]
    # dtmf_events: Asterisk decodes the keys in the bridge (the desk's complaint code).
    assert bridge.args["bridge_type"] == "mixing,dtmf_events"
    added = [c.args for c in ari.called("add_channel")]
    assert added == [{"bridge_id": bridge_id, "channel_ids": [CALLER_ID, desk]}]  # one request
    assert ari.hung_up() == [desk]
    assert [c.args["bridge_id"] for c in ari.called("destroy_bridge")] == [bridge_id]
    assert ari.bridges == {}
    assert ari.called("continue_in_dialplan") == []

    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.branch_key, record.branch_name) == (4, "Cải cách thủ tục hành chính")
    assert record.agency == "Văn phòng Ủy ban nhân dân tỉnh"
    assert (record.desk_dialled, record.desk_answered) == ("1401", "1401")
    assert record.hangup_by == "caller"
    assert record.hangup_cause == 16
    assert record.caller_number == CALLER_NUMBER
    assert record.callback is None
    assert record.answered_at is not None and record.bridged_at is not None
    assert record.ended_at is not None
    assert record.started_at < record.answered_at < record.bridged_at < record.ended_at

    timeline = await call.timeline()
    assert [e.kind for e in timeline] == [
        "answered", "prompt", "prompt_end", "digit", "branch", "desk_dial", "prompt",
        "desk_result", "bridged", "ended",
    ]
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    # Each playback is in the timeline (a restarted service stops what still plays).
    menu_id, ringback_id = menu_play.args["playback_id"], ringback_play.args["playback_id"]
    assert await call.details("prompt") == [
        {"playback": menu_id, "prompts": "greeting,menu"},
        {"playback": ringback_id, "prompts": "connecting"},
    ]
    assert await call.details("prompt_end") == [{"playback": menu_id, "reason": "digit"}]
    assert await call.details("digit") == [{"digit": "4", "attempt": 1}]
    assert await call.details("branch") == [
        {"key": 4, "agency": "Văn phòng Ủy ban nhân dân tỉnh", "chosen": "caller"}
    ]
    (result,) = await call.details("desk_result")
    assert (result["desk"], result["dialstatus"]) == ("1401", "ANSWER")
    assert (await call.details("ended"))[0]["outcome"] == "connected"


async def test_desk_hanging_up_first_ends_the_call_for_the_caller_after_the_survey() -> None:
    call = new_call()
    call.ari.survey = ["5"]
    task = await connect_to_desk(call, "4")
    desk = call.desk_channel_id("1401")
    call.ari.desk_hangs_up(desk, cause=16)
    await finished(task)

    assert call.ari.hung_up() == [desk, CALLER_ID]
    assert call.ari.index("destroy_bridge") < call.ari.index("play", media=media(
        Prompt.SURVEY_QUESTION)) < call.ari.index("hangup", channel_id=CALLER_ID)
    assert call.ari.bridges == {}
    assert len(call.ari.called("destroy_bridge")) == 1
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert record.hangup_by == "desk"
    assert record.desk_answered == "1401"
    assert (record.survey, record.survey_score) == (SurveyResult.ANSWERED, 5)
    kinds = await call.kinds()
    assert kinds[kinds.index("bridged"):] == [
        "bridged", "prompt", "prompt_end", "survey_key", "survey", "prompt", "prompt_end",
        "ended",
    ]


async def test_call_started_and_call_ended_are_logged_at_info() -> None:
    call = new_call()
    with capture_logs() as logs:
        task = await connect_to_desk(call, "4")
        call.ari.caller_hangs_up()
        await finished(task)

    infos = [entry for entry in logs if entry["log_level"] == "info"]
    assert [entry["event"] for entry in infos] == ["call started", "call ended"]
    started, ended = infos
    assert started["caller"] == CALLER_NUMBER
    assert started["call_id"] == CALLER_ID
    assert ended["call_id"] == CALLER_ID
    assert ended["outcome"] == "connected"
    assert ended["branch"] == 4
    assert ended["desk"] == "1401"
    assert ended["hangup_by"] == "caller"
    assert {entry["log_level"] for entry in logs} <= {"debug", "info"}


# --- the menu -------------------------------------------------------------------------


async def test_caller_hanging_up_during_the_menu_abandons_in_menu() -> None:
    call = new_call()
    task = await call.run()
    await call.ari.until("play")
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    assert call.ari.dialled() == []
    assert call.ari.hung_up() == []
    record = await call.record()
    assert record.outcome is Outcome.ABANDONED_IN_MENU
    assert record.hangup_by == "caller"
    assert record.branch_key is None and record.desk_dialled is None
    assert record.ended_at is not None
    assert await call.kinds() == ["answered", "prompt", "ended"]


async def test_silence_on_every_attempt_says_goodbye_when_there_is_no_default_branch() -> None:
    call = new_call(with_menu(NO_DEFAULT_BRANCH, digit_timeout_seconds=0.05))
    call.ari.menu = [SILENCE, SILENCE, SILENCE]
    await finished(await call.run())

    assert call.ari.played() == [
        media(Prompt.GREETING, Prompt.MENU),
        media(Prompt.NO_INPUT, Prompt.MENU),
        media(Prompt.NO_INPUT, Prompt.MENU),
        media(Prompt.GOODBYE),
    ]
    assert call.ari.hung_up() == [CALLER_ID]
    assert call.ari.dialled() == []
    record = await call.record()
    assert record.outcome is Outcome.NO_SELECTION
    assert record.hangup_by == "system"
    assert record.branch_key is None
    assert await call.details("digit") == [
        {"digit": None, "attempt": 1},
        {"digit": None, "attempt": 2},
        {"digit": None, "attempt": 3},
    ]
    assert await call.kinds() == [
        "answered",
        "prompt", "prompt_end", "digit",
        "prompt", "prompt_end", "digit",
        "prompt", "prompt_end", "digit",
        "prompt", "prompt_end",  # goodbye
        "ended",
    ]
    played = [c.args["playback_id"] for c in call.ari.called("play")]
    assert await call.details("prompt_end") == [
        {"playback": playback_id, "reason": "finished"} for playback_id in played
    ]


async def test_silence_on_every_attempt_puts_the_caller_through_to_the_default_branch() -> None:
    call = new_call(with_menu(CONFIG, digit_timeout_seconds=0.05))
    task = await connect_to_desk(call, SILENCE, SILENCE, SILENCE)
    call.ari.caller_hangs_up()
    await finished(task)

    assert call.ari.dialled() == ["PJSIP/1901"]
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.branch_key, record.desk_answered) == (9, "1901")
    assert await call.details("branch") == [
        {"key": 9, "agency": "Tổ vận hành Tổng đài (Sở Nội vụ)", "chosen": "default"}
    ]


async def test_invalid_key_reprompts_then_a_valid_key_connects() -> None:
    call = new_call()
    task = await connect_to_desk(call, "0", "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert call.ari.played()[:2] == [
        media(Prompt.GREETING, Prompt.MENU),
        media(Prompt.INVALID, Prompt.MENU),
    ]
    assert await call.details("digit") == [
        {"digit": "0", "attempt": 1},
        {"digit": "4", "attempt": 2},
    ]
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert record.branch_key == 4


async def test_star_repeats_the_menu_without_using_an_attempt() -> None:
    call = new_call(with_menu(NO_DEFAULT_BRANCH, max_attempts=2))
    task = await connect_to_desk(call, "*", "*", "0", "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert call.ari.played()[:4] == [
        media(Prompt.GREETING, Prompt.MENU),
        media(Prompt.MENU),
        media(Prompt.MENU),
        media(Prompt.INVALID, Prompt.MENU),
    ]
    assert [d["attempt"] for d in await call.details("digit")] == [1, 1, 1, 2]
    assert (await call.record()).branch_key == 4


class PromptOrderCallLog(WatchedCallLog):
    """Notes, for every `prompt` step, whether ARI was already asked to play it."""

    def __init__(self) -> None:
        super().__init__()
        self.ari: FakeAri | None = None
        self.already_playing: list[bool] = []

    async def append_event(self, event: CallEvent) -> None:
        if event.kind == "prompt":
            assert self.ari is not None
            started = {c.args["playback_id"] for c in self.ari.called("play")}
            self.already_playing.append(event.detail["playback"] in started)
        await super().append_event(event)


async def test_each_prompt_is_in_the_timeline_before_it_starts_playing() -> None:
    calllog = PromptOrderCallLog()
    call = new_call(calllog=calllog)
    calllog.ari = call.ari
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert calllog.already_playing == [False, False]  # menu, ringback
    noted = [d["playback"] for d in await call.details("prompt")]
    assert noted == [c.args["playback_id"] for c in call.ari.called("play")]


async def test_each_key_stops_its_own_prompt() -> None:
    call = new_call()
    task = await connect_to_desk(call, "0", "4")
    call.ari.caller_hangs_up()
    await finished(task)

    menu_ids = [c.args["playback_id"] for c in call.ari.called("play")][:2]
    stopped = [c.args["playback_id"] for c in call.ari.called("stop_playback")][:2]
    assert stopped == menu_ids
    assert len(set(menu_ids)) == 2


# --- desks that do not answer ---------------------------------------------------------


async def test_busy_desk_fails_over_to_the_next_desk_of_the_branch() -> None:
    call = new_call()
    call.ari.desks["1401"] = "busy"
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert call.ari.dialled() == ["PJSIP/1401", "PJSIP/1402"]
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.desk_dialled, record.desk_answered) == ("1402", "1402")
    results = await call.details("desk_result")
    assert [(r["desk"], r["dialstatus"], r["cause"]) for r in results] == [
        ("1401", "BUSY", 17),
        ("1402", "ANSWER", None),
    ]


async def test_desk_ringing_out_fails_over_to_the_next_desk() -> None:
    call = new_call()
    call.ari.desks["1401"] = "noanswer"
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    results = await call.details("desk_result")
    assert [(r["desk"], r["dialstatus"], r["cause"]) for r in results] == [
        ("1401", "NOANSWER", 19),
        ("1402", "ANSWER", None),
    ]
    assert (await call.record()).desk_answered == "1402"


async def test_unregistered_desk_is_skipped_without_ringing() -> None:
    call = new_call()
    call.ari.unregistered.add("1401")
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert call.ari.dialled() == ["PJSIP/1402"]
    results = await call.details("desk_result")
    assert [(r["desk"], r["dialstatus"]) for r in results] == [
        ("1401", "CHANUNAVAIL"),
        ("1402", "ANSWER"),
    ]


async def test_every_desk_busy_tells_the_caller_takes_a_message_and_hangs_up() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.desks.update({"1401": "busy", "1402": "busy"})
    await finished(await call.run())

    ari = call.ari
    ringback = ari.called("play")[1].args["playback_id"]
    unreachable = ari.index("play", media=media(Prompt.DESK_UNREACHABLE, Prompt.LEAVE_MESSAGE))
    assert ari.index("stop_playback", playback_id=ringback) < unreachable
    assert unreachable < ari.index("record") < ari.index("play", media=media(
        Prompt.MESSAGE_SAVED)) < ari.index("hangup", channel_id=CALLER_ID)
    assert "create_bridge" not in ari.methods
    assert ari.hung_up() == [CALLER_ID]
    record = await call.record()
    assert record.outcome is Outcome.DESK_UNREACHABLE
    assert record.hangup_by == "system"
    assert (record.desk_dialled, record.desk_answered) == ("1402", None)
    assert record.callback == "pending"
    assert record.recording is not None and record.recording_seconds == 7
    results = await call.details("desk_result")
    assert [(r["desk"], r["dialstatus"], r["cause"], r["detail"]) for r in results] == [
        ("1401", "BUSY", 17, "User busy"),
        ("1402", "BUSY", 17, "User busy"),
    ]


async def test_a_desk_gone_before_the_bridge_leaves_the_caller_a_message() -> None:
    """Caller and desk join the bridge in one request; when it fails, adding the caller
    alone says the desk was the one gone (Asterisk adds neither of the two)."""
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.desks.update({"1401": "answer_then_gone"})
    await finished(await call.run())

    desk = call.desk_channel_id("1401")
    added = [c.args["channel_ids"] for c in call.ari.called("add_channel")]
    assert added == [[CALLER_ID, desk], [CALLER_ID]]
    assert call.ari.called("destroy_bridge")
    record = await call.record()
    assert record.outcome is Outcome.DESK_UNREACHABLE
    assert record.bridged_at is None and record.desk_answered is None
    assert "bridged" not in await call.kinds()


async def test_a_caller_gone_when_the_bridge_is_joined_has_hung_up() -> None:
    call = new_call()
    task = await call.run()
    call.ari.menu = ["4"]
    real_add = call.ari.add_channel

    async def caller_gone_first(bridge_id: str, *channel_ids: str) -> None:
        call.ari.channels.pop(CALLER_ID, None)
        await real_add(bridge_id, *channel_ids)

    call.ari.add_channel = caller_gone_first  # type: ignore[method-assign]
    await finished(task)

    record = await call.record()
    assert record.outcome is Outcome.ABANDONED_WHILE_RINGING
    assert record.hangup_by == "caller" and record.bridged_at is None


async def test_desks_asterisk_cannot_reach_are_unreachable() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.desks.update({"1401": "refused", "1402": "refused"})
    await finished(await call.run())

    assert call.ari.hung_up()[-1] == CALLER_ID
    record = await call.record()
    assert record.outcome is Outcome.DESK_UNREACHABLE
    assert record.hangup_by == "system"
    results = await call.details("desk_result")
    assert [(r["desk"], r["dialstatus"]) for r in results] == [
        ("1401", "CHANUNAVAIL"),
        ("1402", "CHANUNAVAIL"),
    ]


async def test_desk_channel_is_hung_up_when_asterisk_refuses_to_dial_it() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.errors["originate"] = AriHttpError(
        "POST", "/channels", 409, '{"message": "Channel with given unique ID already exists"}'
    )
    await finished(await call.run())

    assert (await call.record()).outcome is Outcome.DESK_UNREACHABLE
    assert call.desk_channel_id("1401") in call.ari.hung_up()
    assert call.desk_channel_id("1402") in call.ari.hung_up()


async def test_caller_hanging_up_while_the_desk_rings_stops_the_desk_ringing() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.desks["1401"] = "ring"
    task = await call.run()
    await call.ari.until("originate")
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    assert call.ari.hung_up() == [call.desk_channel_id("1401")]
    assert "create_bridge" not in call.ari.methods
    record = await call.record()
    assert record.outcome is Outcome.ABANDONED_WHILE_RINGING
    assert record.hangup_by == "caller"
    assert (record.desk_dialled, record.desk_answered) == ("1401", None)
    assert await call.kinds() == [
        "answered", "prompt", "prompt_end", "digit", "branch", "desk_dial", "prompt", "ended",
    ]


async def test_caller_kept_waiting_hears_that_we_are_still_trying() -> None:
    call = new_call(with_menu(CONFIG, still_trying_after_seconds=0.05))
    call.ari.menu = ["4"]
    call.ari.desks["1401"] = "ring"
    task = await call.run()
    await call.calllog.until_noted("still_trying")
    call.ari.caller_hangs_up()
    await finished(task)

    first_ringback, still_trying = call.ari.called("play")[1:3]
    assert still_trying.args["media"] == [*media(Prompt.STILL_TRYING), "tone:ring"]
    stopped = [c.args["playback_id"] for c in call.ari.called("stop_playback")]
    assert first_ringback.args["playback_id"] in stopped


# --- closed hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "prompt", "reason"),
    [
        (datetime(2026, 11, 23, 13, 0, tzinfo=UTC), Prompt.CLOSED, "closed_hours"),  # 20:00
        (datetime(2026, 11, 22, 2, 0, tzinfo=UTC), Prompt.CLOSED, "closed_day"),  # Sunday
        (datetime(2026, 9, 2, 2, 0, tzinfo=UTC), Prompt.HOLIDAY, "holiday"),  # Quốc khánh
    ],
    ids=["evening", "sunday", "national-day"],
)
async def test_call_outside_working_hours_says_so_and_takes_a_message(
    now: datetime, prompt: Prompt, reason: str
) -> None:
    call = new_call(now=now)
    await finished(await call.run())

    assert call.ari.played()[0] == media(prompt, Prompt.LEAVE_MESSAGE)
    assert call.ari.dialled() == []
    assert call.ari.hung_up() == [CALLER_ID]
    record = await call.record()
    assert record.outcome is Outcome.CLOSED
    assert record.callback == "pending"
    assert (await call.details("closed"))[0]["reason"] == reason


# --- a voice message that cannot be recorded ------------------------------------------

RECORD_500 = AriHttpError("POST", f"/channels/{CALLER_ID}/record", 500,
                          '{"message": "Internal Server Error"}')


@pytest.mark.parametrize("failure", ["record answers 500", "RecordingFailed at once"])
@pytest.mark.parametrize(("now", "outcome"), [
    (MONDAY_9AM, Outcome.DESK_UNREACHABLE),
    (datetime(2026, 11, 23, 13, 0, tzinfo=UTC), Outcome.CLOSED),  # 20:00
], ids=["desks-busy", "closed"])
async def test_a_message_that_cannot_be_recorded_tells_the_caller_they_will_be_called_back(
    failure: str, now: datetime, outcome: Outcome,
) -> None:
    call = new_call(now=now)
    call.ari.menu = ["4"]
    call.ari.desks.update({"1401": "busy", "1402": "busy"})
    if failure == "record answers 500":
        call.ari.errors["record"] = RECORD_500
    else:
        call.ari.recording_fails = True
    await finished(await call.run())

    ari = call.ari
    assert ari.index("record") < ari.index("play", media=media(Prompt.MESSAGE_FAILED)) < (
        ari.index("hangup", channel_id=CALLER_ID))
    assert media(Prompt.MESSAGE_SAVED) not in ari.played()
    assert "continue_in_dialplan" not in ari.methods  # no fallback: the caller was told
    record = await call.record()
    assert (record.outcome, record.callback, record.hangup_by) == (outcome, "pending", "system")
    assert (record.recording, record.recording_seconds) == (None, None)
    assert record.ended_at is not None
    kinds = await call.kinds()
    assert "recording_failed" in kinds and "recorded" not in kinds
    assert (await call.details("ended"))[0]["outcome"] == str(outcome)


async def test_a_caller_without_a_number_whose_message_fails_is_asked_to_call_again() -> None:
    call = new_call()
    call.ctx.record.caller_number = "unknown"
    call.ari.menu = ["4"]
    call.ari.desks.update({"1401": "busy", "1402": "busy"})
    call.ari.errors["record"] = RECORD_500
    await finished(await call.run())

    assert media(Prompt.MESSAGE_FAILED_NO_NUMBER) in call.ari.played()
    assert media(Prompt.MESSAGE_FAILED) not in call.ari.played()
    record = await call.record()
    assert (record.outcome, record.callback) == (Outcome.DESK_UNREACHABLE, "no_number")


async def test_a_caller_without_a_number_leaving_a_message_is_not_offered_a_call_back() -> None:
    call = new_call()
    call.ctx.record.caller_number = "unknown"
    call.ari.menu = ["4"]
    call.ari.desks.update({"1401": "busy", "1402": "busy"})
    await finished(await call.run())

    record = await call.record()
    assert record.recording is not None  # the message may name a number to call
    assert (record.outcome, record.callback) == (Outcome.DESK_UNREACHABLE, "no_number")
    assert await call.calllog.list_callbacks() == []


# --- the safety net -------------------------------------------------------------------


async def test_unexpected_error_sends_the_caller_to_the_fallback_dialplan() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.errors["create_bridge"] = RuntimeError("boom")
    with capture_logs() as logs:
        await finished(await call.run())

    (fallback,) = call.ari.called("continue_in_dialplan")
    assert fallback.args == {
        "channel_id": CALLER_ID, "context": FALLBACK, "extension": "s", "priority": 1,
        "label": None,
    }
    record = await call.record()
    assert record.outcome is Outcome.FAILED
    assert record.hangup_by == "system"
    # The fallback dialplan serves the caller now: its CEL trail closes the row later.
    assert record.ended_at is None
    kinds = await call.kinds()
    assert kinds[-1] == "to_fallback" and "ended" not in kinds
    assert await call.details("to_fallback") == [{"outcome": "failed"}]
    (failure,) = [entry for entry in logs if entry["log_level"] == "error"]
    assert failure["event"] == "call failed; sending the caller to the fallback dialplan"
    assert failure["exc_info"] is True


async def test_fallback_that_fails_too_still_ends_the_call_in_the_log() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.errors["create_bridge"] = RuntimeError("boom")
    call.ari.errors["continue_in_dialplan"] = AriHttpError(
        "POST", f"/channels/{CALLER_ID}/continue", 500, "{}"
    )
    with capture_logs():
        await finished(await call.run())

    record = await call.record()
    assert record.outcome is Outcome.FAILED
    assert record.ended_at is not None  # nobody else will close it: the caller stayed here
    assert (await call.kinds())[-1] == "ended"


async def test_desk_leg_is_hung_up_when_the_bridge_cannot_be_made() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.errors["create_bridge"] = RuntimeError("boom")
    with capture_logs():
        await finished(await call.run())

    assert call.desk_channel_id("1401") in call.ari.hung_up()


async def test_caller_gone_before_the_bridge_is_not_counted_as_connected() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.when["create_bridge"] = call.ari.caller_hangs_up  # just as the desk answered
    await finished(await call.run())

    assert call.desk_channel_id("1401") in call.ari.hung_up()
    record = await call.record()
    assert record.bridged_at is None
    assert record.outcome is not Outcome.CONNECTED


async def test_desk_gone_before_the_bridge_does_not_leave_the_caller_in_silence() -> None:
    call = new_call()
    call.ari.menu = ["4"]
    call.ari.when["create_bridge"] = lambda: call.ari.desk_hangs_up(call.desk_channel_id())
    await finished(await call.run())

    caller_released = CALLER_ID in call.ari.hung_up() or any(
        c.args["channel_id"] == CALLER_ID for c in call.ari.called("continue_in_dialplan")
    )
    assert caller_released
    assert (await call.record()).hangup_by != "caller"


class UnreachableCallLog(WatchedCallLog):
    """The call log while its database is down."""

    async def save(self, call: CallRecord) -> None:
        raise ConnectionRefusedError("database unreachable")

    async def append_event(self, event: CallEvent) -> None:
        raise ConnectionRefusedError("database unreachable")


async def test_caller_is_not_left_in_silence_when_the_call_log_fails() -> None:
    call = new_call(calllog=UnreachableCallLog())
    call.ari.menu = ["4"]
    with capture_logs(), contextlib.suppress(ConnectionRefusedError):
        await finished(await call.run())  # may still surface to HotlineApp._run_call

    assert call.ari.called("answer") or call.ari.called("continue_in_dialplan")


# --- our service stopping --------------------------------------------------------------


async def test_service_stopping_leaves_a_bridged_call_talking_in_asterisk() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await finished(task)

    assert call.desk_channel_id("1401") not in call.ari.hung_up()
    assert CALLER_ID not in call.ari.hung_up()
    assert not call.ari.called("destroy_bridge")
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED and record.ended_at is None
    assert (await call.kinds())[-1] == "service_stopped"


async def test_service_stopping_hands_a_caller_in_the_menu_to_the_fallback() -> None:
    call = new_call()
    call.ari.menu = []  # the caller listens to the menu
    task = await call.run()
    await call.calllog.until_noted("answered")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await finished(task)

    fallback = call.ari.called("continue_in_dialplan")
    assert [c.args["context"] for c in fallback] == [FALLBACK]
    record = await call.record()
    assert record.outcome is Outcome.FAILED and record.hangup_by == "system"
    assert record.ended_at is None  # left open for the CEL import to close
    assert (await call.kinds())[-1] == "to_fallback"


# --- a bridged call adopted after our service restarted --------------------------------

OLD_BRIDGE = "bridge-0a1b2c3d4e5f"
ADOPTED_DESK = "desk-0a1b2c3d4e5f"


async def adopt(call: Call) -> asyncio.Task[None]:
    """What `HotlineApp.adopt` does for a caller a previous run bridged to desk 1401
    (its row still open in the log): watch the call with `resume_call`."""
    ari, record = call.ari, call.ctx.record
    ari.channels[ADOPTED_DESK] = desk_channel(ADOPTED_DESK, "1401", "Up", True)
    ari.bridges[OLD_BRIDGE] = [CALLER_ID, ADOPTED_DESK]
    record.answered_at = call.ctx.clock.now()
    record.branch_key, record.desk_dialled, record.desk_answered = 4, "1401", "1401"
    record.bridged_at = call.ctx.clock.now()
    record.outcome = Outcome.CONNECTED
    await call.calllog.save(record)
    call.ctx.session.own(ADOPTED_DESK)
    task = asyncio.create_task(resume_call(call.ctx, DeskLeg("1401", ADOPTED_DESK), OLD_BRIDGE))
    await call.calllog.until_noted("adopted")
    return task


async def test_adopted_call_ends_when_the_caller_hangs_up() -> None:
    call = new_call()
    task = await adopt(call)
    call.ari.caller_hangs_up(cause=16)
    await finished(task)

    assert call.ari.hung_up() == [ADOPTED_DESK]
    assert [c.args["bridge_id"] for c in call.ari.called("destroy_bridge")] == [OLD_BRIDGE]
    assert not call.ari.called("create_bridge") and not call.ari.called("add_channel")
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.hangup_by, record.hangup_cause) == ("caller", 16)
    assert record.ended_at is not None and record.desk_answered == "1401"
    assert await call.kinds() == ["adopted", "ended"]
    assert await call.details("adopted") == [{"desk": "1401", "bridge": OLD_BRIDGE}]


async def test_adopted_call_ends_for_the_caller_when_the_desk_hangs_up() -> None:
    call = new_call()
    task = await adopt(call)
    call.ari.desk_hangs_up(ADOPTED_DESK, cause=16)
    await finished(task)

    assert CALLER_ID in call.ari.hung_up()
    assert call.ari.bridges == {}
    assert call.ari.played() == []  # no survey for an adopted call
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED
    assert (record.hangup_by, record.hangup_cause) == ("desk", 16)
    assert record.survey is None
    assert await call.kinds() == ["adopted", "ended"]


async def test_adopted_call_is_left_talking_when_the_service_stops_again() -> None:
    call = new_call()
    task = await adopt(call)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await finished(task)

    assert call.ari.hung_up() == [] and not call.ari.called("destroy_bridge")
    record = await call.record()
    assert record.ended_at is None
    assert (await call.kinds())[-1] == "service_stopped"
