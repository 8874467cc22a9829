"""Thin, typed Asterisk REST Interface (ARI) client for the hotline.

Hand-written on purpose.  The third-party clients fail us:
``ari-py`` does not import on Python 3.11 (py2 implicit relative imports,
dead ``swaggerpy``); ``aioari`` returns silently when the websocket closes,
``asyncari`` hangs forever on a dropped socket, and ``ari-client`` spins in a
tight error loop and reconfigures the root logger.

What is here, one job per module:

- ``errors``: our exception tree (``ChannelGone`` is "the caller hung up").
- ``models``: pydantic v2 models of the ARI resources and events we use,
  ``parse_event`` for websocket messages.
- ``client``: ``AriClient``, REST over an ``httpx.AsyncClient`` passed in.
- ``events``: ``EventStream``, the event websocket with reconnect and backoff.

ARI JSON becomes typed models here; nothing outside reads raw ARI dicts.
"""

from ivr.ari.client import AriClient
from ivr.ari.errors import AriConnectionError, AriError, AriHttpError, ChannelGone, NotFound
from ivr.ari.events import EventStream
from ivr.ari.models import (
    ApplicationReplaced,
    Bridge,
    CallerId,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelUserevent,
    ChannelVarset,
    Dial,
    DialplanCEP,
    Endpoint,
    Event,
    Playback,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)

__all__ = [
    "ApplicationReplaced",
    "AriClient",
    "AriConnectionError",
    "AriError",
    "AriHttpError",
    "Bridge",
    "CallerId",
    "Channel",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "ChannelEnteredBridge",
    "ChannelGone",
    "ChannelHangupRequest",
    "ChannelLeftBridge",
    "ChannelStateChange",
    "ChannelUserevent",
    "ChannelVarset",
    "Dial",
    "DialplanCEP",
    "Endpoint",
    "Event",
    "EventStream",
    "NotFound",
    "Playback",
    "PlaybackFinished",
    "PlaybackStarted",
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "parse_event",
]
