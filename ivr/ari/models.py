"""Typed ARI resources and events (pydantic v2), from Asterisk 22's swagger.

Only the fields the hotline uses are declared; everything else Asterisk sends
is ignored, so a newer Asterisk adding fields does not break parsing.

Events are a union discriminated on ``type`` with a fallback:
``parse_event`` looks the type up in ``EVENT_TYPES`` and returns an
``UnknownEvent`` (raw dict kept) for every other type.  Match on the class::

    match parse_event(message):
        case ChannelDtmfReceived(digit=digit, channel=channel): ...
        case StasisEnd(channel=channel): ...
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.ari.errors import AriError

__all__ = [
    "EVENT_TYPES",
    "ApplicationReplaced",
    "Bridge",
    "CallerId",
    "Channel",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "ChannelEnteredBridge",
    "ChannelHangupRequest",
    "ChannelLeftBridge",
    "ChannelStateChange",
    "ChannelUserevent",
    "ChannelVarset",
    "Dial",
    "DialplanCEP",
    "Endpoint",
    "Event",
    "LiveRecording",
    "Playback",
    "PlaybackFinished",
    "PlaybackStarted",
    "RecordingFailed",
    "RecordingFinished",
    "RecordingStarted",
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "message_type",
    "parse_event",
    "parse_event_json",
]


class _AriModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- resources ---------------------------------------------------------------


class CallerId(_AriModel):
    name: str = ""
    number: str = ""


class DialplanCEP(_AriModel):
    context: str
    exten: str
    priority: int
    app_name: str = ""
    app_data: str = ""


class Channel(_AriModel):
    id: str
    name: str
    state: str
    caller: CallerId
    connected: CallerId
    dialplan: DialplanCEP | None
    creationtime: datetime
    language: str = "en"
    protocol_id: str = ""


class Bridge(_AriModel):
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    name: str = ""
    channels: list[str] = Field(default_factory=list)


class Playback(_AriModel):
    id: str
    media_uri: str
    target_uri: str
    state: str


class LiveRecording(_AriModel):
    name: str
    format: str
    state: str
    target_uri: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None


class Endpoint(_AriModel):
    technology: str
    resource: str
    state: str | None = None
    channel_ids: list[str] = Field(default_factory=list)


# --- events ------------------------------------------------------------------

_CHANNEL_FIELDS = ("channel", "peer", "caller", "replace_channel")


class Event(_AriModel):
    """Base of every ARI event; ``type`` is the ARI event name."""

    type: str
    timestamp: datetime | None = None
    application: str = ""

    def channel_ids(self) -> set[str]:
        """Ids of every channel this event concerns (to route it to a call)."""
        ids: set[str] = set()
        for field in _channel_fields(type(self)):
            value = getattr(self, field)
            if isinstance(value, Channel):
                ids.add(value.id)
        return ids


@functools.cache
def _channel_fields(cls: type[Event]) -> tuple[str, ...]:
    # Declared fields only: a getattr miss on a model is a raised AttributeError.
    return tuple(name for name in _CHANNEL_FIELDS if name in cls.model_fields)


class StasisStart(Event):
    args: list[str]
    channel: Channel
    replace_channel: Channel | None = None


class StasisEnd(Event):
    channel: Channel


class ChannelStateChange(Event):
    channel: Channel


class ChannelDtmfReceived(Event):
    digit: str
    duration_ms: int
    channel: Channel


class ChannelHangupRequest(Event):
    cause: int | None = None
    soft: bool | None = None
    channel: Channel


class ChannelDestroyed(Event):
    cause: int
    cause_txt: str
    channel: Channel


class Dial(Event):
    """Progress of ``POST /channels/{id}/dial``: ``dialstatus`` is "" at first,
    then RINGING, ANSWER, BUSY, NOANSWER, CHANUNAVAIL, CONGESTION, CANCEL..."""

    dialstatus: str
    peer: Channel
    caller: Channel | None = None
    dialstring: str = ""
    forward: str = ""


class PlaybackStarted(Event):
    playback: Playback


class PlaybackFinished(Event):
    playback: Playback


class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel


class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


class ChannelVarset(Event):
    """``channel`` is None for a global variable."""

    variable: str
    value: str
    channel: Channel | None = None


class ApplicationReplaced(Event):
    """Another connection registered our app name: we no longer get events."""


class ChannelUserevent(Event):
    eventname: str
    userevent: dict[str, Any] = Field(default_factory=dict)
    channel: Channel | None = None


class RecordingStarted(Event):
    recording: LiveRecording


class RecordingFinished(Event):
    recording: LiveRecording


class RecordingFailed(Event):
    recording: LiveRecording


class UnknownEvent(Event):
    """Any event type we do not model; ``raw`` is the whole message."""

    raw: dict[str, Any]

    def channel_ids(self) -> set[str]:
        ids: set[str] = set()
        for field in _CHANNEL_FIELDS:
            value = self.raw.get(field)
            if isinstance(value, dict) and isinstance(value.get("id"), str):
                ids.add(value["id"])
        return ids


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        StasisStart,
        StasisEnd,
        ChannelStateChange,
        ChannelDtmfReceived,
        ChannelHangupRequest,
        ChannelDestroyed,
        Dial,
        PlaybackStarted,
        PlaybackFinished,
        ChannelEnteredBridge,
        ChannelLeftBridge,
        ChannelVarset,
        ApplicationReplaced,
        ChannelUserevent,
        RecordingStarted,
        RecordingFinished,
        RecordingFailed,
    )
}


_TYPE = re.compile(r'"type"\s*:\s*"([A-Za-z]+)"')
_TYPE_BYTES = re.compile(_TYPE.pattern.encode())


def message_type(message: str | bytes) -> str | None:
    """The ``type`` of an ARI websocket message without parsing all of it. Only a
    message's own ``type`` key is spelt so: ARI's nested objects have none."""
    if isinstance(message, str):  # text frames, as websockets hands them over: no copy
        match = _TYPE.search(message)
        return match.group(1) if match else None
    raw = _TYPE_BYTES.search(message)
    return raw.group(1).decode() if raw else None


def parse_event_json(message: str | bytes, event_type: str | None) -> Event:
    """``parse_event`` for a websocket message whose ``message_type`` is `event_type`:
    a known event is validated straight from the JSON text (one pass, in pydantic's
    core), anything else as before."""
    cls = EVENT_TYPES.get(event_type or "")
    if cls is not None:
        try:
            event = cls.model_validate_json(message)
        except ValidationError:
            pass  # the slow path says what is wrong
        else:
            if event.type == cls.__name__:
                return event
    return parse_event(message)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """Turn one ARI websocket message into an ``Event``.

    Unknown types become ``UnknownEvent``; raises ``AriError`` for a message
    that is not a JSON object with a string ``type`` or a malformed known event.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise AriError(f"ARI message is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise AriError("ARI message is not an object with a string 'type'")
    event_type: str = data["type"]
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        try:
            return UnknownEvent.model_validate({**data, "raw": data})
        except ValidationError:  # odd timestamp/application: keep the raw dict anyway
            return UnknownEvent(type=event_type, raw=data)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise AriError(f"malformed ARI {event_type} event: {exc}") from exc
