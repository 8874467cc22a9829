"""Errors raised by the ARI client and event models.

Every library error (httpx, pydantic, json) is mapped here at the boundary
with ``raise ... from exc``; nothing outside ``ivr.ari`` catches library errors.

    AriError                    anything ARI-related went wrong
    ├── AriConnectionError      transport failure: Asterisk down, reset, timeout
    └── AriHttpError            ARI answered with a non-2xx status
        └── NotFound            404: the resource does not exist (any more)
            └── ChannelGone     the channel hung up or left our Stasis app

``ChannelGone`` is the one a call handler cares about: a 404 on a
``/channels/{id}`` path, a 409/422 "Channel not in Stasis application" there,
or a 400 "Channel not found" from ``/bridges/{id}/addChannel``.  Its
``status`` keeps the real HTTP status (not always 404) and ``channel_id``
names the channel.

Not ``ChannelGone``: a 422 "Channel not in Stasis application" from
``addChannel``.  Asterisk also answers it for a channel that is not in the app
*yet* (added before its ``StasisStart``), so it means "too early" as often as
"gone": the caller decides.
"""

from __future__ import annotations

import json
import re

__all__ = [
    "AriConnectionError",
    "AriError",
    "AriHttpError",
    "ChannelGone",
    "NotFound",
    "http_error",
]

# "/channels/{id}" and everything below it, but not "/channels/create" etc.
_CHANNEL_PATH = re.compile(r"^/channels/(?!create$|externalMedia$)(?P<id>[^/?]+)")
_BRIDGE_MEMBER_PATH = re.compile(r"^/bridges/[^/]+/(addChannel|removeChannel)$")


class AriError(Exception):
    """Base class of every error raised by ``ivr.ari``."""


class AriConnectionError(AriError):
    """The HTTP request did not reach Asterisk or got no answer."""


class AriHttpError(AriError):
    """ARI answered with a non-2xx status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"{method} {path} -> {status}: {_message(body) or body[:200]}")

    @property
    def message(self) -> str:
        """The ``message`` field of ARI's JSON error body, or ``""``."""
        return _message(self.body)


class NotFound(AriHttpError):
    """The resource (channel, bridge, playback, endpoint, variable) does not exist."""


class ChannelGone(NotFound):
    """The channel hung up or is no longer in our Stasis application."""

    def __init__(
        self, method: str, path: str, status: int, body: str, *, channel_id: str | None = None
    ) -> None:
        super().__init__(method, path, status, body)
        self.channel_id = channel_id


def http_error(
    method: str, path: str, status: int, body: str, *, channel_param: str | None = None
) -> AriHttpError:
    """Build the most specific error for a non-2xx ARI answer.

    ``path`` is relative to the ARI root (``/channels/...``); ``channel_param``
    is the ``channel`` query parameter of bridge membership requests.
    """
    message = _message(body).lower()
    channel_match = _CHANNEL_PATH.match(path)
    if channel_match is not None:
        channel_id = channel_match.group("id")
        if status == 404 and "variable" not in message:
            return ChannelGone(method, path, status, body, channel_id=channel_id)
        if status in (409, 422) and _not_in_stasis(message):
            return ChannelGone(method, path, status, body, channel_id=channel_id)
    # On bridges a 404 is the bridge; a missing channel is a 400.
    if _BRIDGE_MEMBER_PATH.match(path) and status == 400 and "channel not found" in message:
        return ChannelGone(method, path, status, body, channel_id=channel_param)
    if status == 404:
        return NotFound(method, path, status, body)
    return AriHttpError(method, path, status, body)


def _not_in_stasis(message: str) -> bool:
    return "not in stasis" in message or "not in a stasis" in message


def _message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""
