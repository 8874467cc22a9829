"""ARI REST client: one method per ARI operation the hotline uses.

The ``httpx.AsyncClient`` is built by the wiring (``base_url`` ending in
``/ari``, ``auth=(user, password)``) and passed in; tests pass one with an
``httpx.MockTransport``.  Once the event websocket is up, requests go over it
instead (`use_websocket`).  Paths and parameter names follow Asterisk 22's
``rest-api/*.json``.  Non-2xx answers raise the errors of ``ivr.ari.errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from ivr.ari.errors import AriConnectionError, AriError, NotFound, http_error
from ivr.ari.models import Bridge, Channel, Endpoint, LiveRecording, Playback

__all__ = ["AriClient", "Reply", "RestChannel"]

_M = TypeVar("_M", bound=BaseModel)
_Params = Mapping[str, str | int | None]
# Unanswered requests on one websocket before the next one goes to another socket.
REST_SOCKET_ROOM = 4


def _seg(value: str) -> str:
    """Quote one path segment (ids are ours or Asterisk's, but be safe)."""
    return quote(value, safe="")


class AriClient:
    """Thin typed wrapper over ARI's REST API for one Stasis app."""

    def __init__(self, http: httpx.AsyncClient, app: str) -> None:
        self._http = http
        self.app = app
        self._sockets: tuple[RestChannel, ...] = ()

    # --- channels -------------------------------------------------------------

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up; raises ``ChannelGone`` if it is already gone."""
        await self._request("DELETE", f"/channels/{_seg(channel_id)}", {"reason": reason})

    async def ring(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/ring")

    async def ring_stop(self, channel_id: str) -> None:
        await self._request("DELETE", f"/channels/{_seg(channel_id)}/ring")

    async def play(
        self,
        channel_id: str,
        media: str | list[str],
        playback_id: str,
        lang: str | None = None,
    ) -> Playback:
        """Start a playback with an id chosen by us (a DTMF can beat the answer).

        A list of media is sent as one comma-separated ``media`` value, which
        Asterisk splits (a repeated parameter would keep only the last one).
        """
        media_param = media if isinstance(media, str) else ",".join(media)
        path = f"/channels/{_seg(channel_id)}/play/{_seg(playback_id)}"
        response = await self._request("POST", path, {"media": media_param, "lang": lang})
        return _parse(Playback, response)

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
        """Record the channel into Asterisk's recording spool as ``name.format``."""
        path = f"/channels/{_seg(channel_id)}/record"
        params: dict[str, str | int | None] = {
            "name": name,
            "format": format,
            "maxDurationSeconds": max_duration_seconds,
            "maxSilenceSeconds": max_silence_seconds,
            "beep": "true" if beep else "false",
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        response = await self._request("POST", path, params)
        return _parse(LiveRecording, response)

    async def record_bridge(self, bridge_id: str, name: str, *, format: str = "wav",
                            if_exists: str = "overwrite") -> LiveRecording:
        """Record a bridge (every channel in it, mixed) until it is destroyed."""
        path = f"/bridges/{_seg(bridge_id)}/record"
        params: dict[str, str | int | None] = {
            "name": name, "format": format, "maxDurationSeconds": 0,
            "maxSilenceSeconds": 0, "beep": "false", "terminateOn": "none",
            "ifExists": if_exists,
        }
        response = await self._request("POST", path, params)
        return _parse(LiveRecording, response)

    async def stop_recording(self, name: str) -> bool:
        """Stop and keep a live recording; False when it already ended (404)."""
        try:
            await self._request("POST", f"/recordings/live/{_seg(name)}/stop")
        except NotFound:
            return False
        return True

    async def stop_playback(self, playback_id: str) -> bool:
        """Stop a playback; False if it had already finished (404)."""
        try:
            await self._request("DELETE", f"/playbacks/{_seg(playback_id)}")
        except NotFound:
            return False
        return True

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
        """``POST /channels``: create and dial in one request. Asterisk subscribes our
        app to the new channel before dialling (its ``ChannelDestroyed`` reaches us
        if it fails) and starts ``Stasis`` on it once it answers,
        so its ``StasisStart`` means "answered". ``caller_id`` (``"name" <number>``)
        is the caller id and connected line the called phone shows; ``timeout`` is
        the ring time in seconds, enforced by Asterisk."""
        params: _Params = {
            "endpoint": endpoint,
            "app": self.app,
            "appArgs": app_args or None,
            "channelId": channel_id,
            "originator": originator,
            "callerId": caller_id,
            "timeout": timeout,
        }
        return _parse(Channel, await self._request("POST", "/channels", params))

    async def get_channel(self, channel_id: str) -> Channel:
        return _parse(Channel, await self._request("GET", f"/channels/{_seg(channel_id)}"))

    async def list_channels(self) -> list[Channel]:
        return _parse_list(Channel, await self._request("GET", "/channels"))

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Send the channel back to the dialplan (our safety net)."""
        params: _Params = {
            "context": context,
            "extension": extension,
            "priority": priority,
            "label": label,
        }
        await self._request("POST", f"/channels/{_seg(channel_id)}/continue", params)

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """Raises ``NotFound`` (not ``ChannelGone``) for an unset variable."""
        path = f"/channels/{_seg(channel_id)}/variable"
        response = await self._request("GET", path, {"variable": variable})
        return str(_object(response).get("value", ""))

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        path = f"/channels/{_seg(channel_id)}/variable"
        await self._request("POST", path, {"variable": variable, "value": value})

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        path = f"/channels/{_seg(channel_id)}/moh"
        await self._request("POST", path, {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self._request("DELETE", f"/channels/{_seg(channel_id)}/moh")

    # --- bridges --------------------------------------------------------------

    async def create_bridge(
        self, bridge_id: str, *, bridge_type: str = "mixing", name: str = ""
    ) -> Bridge:
        """Create a bridge with our id (``POST /bridges/{bridgeId}``)."""
        params: _Params = {"type": bridge_type, "name": name or None}
        response = await self._request("POST", f"/bridges/{_seg(bridge_id)}", params)
        return _parse(Bridge, response)

    async def add_channel(self, bridge_id: str, *channel_ids: str) -> None:
        """Add channels in one request (Asterisk adds none if one cannot join).
        Raises ``ChannelGone`` if a channel is gone, ``NotFound`` if the bridge is."""
        path = f"/bridges/{_seg(bridge_id)}/addChannel"
        await self._request("POST", path, {"channel": ",".join(channel_ids)})

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        path = f"/bridges/{_seg(bridge_id)}/removeChannel"
        await self._request("POST", path, {"channel": channel_id})

    async def destroy_bridge(self, bridge_id: str) -> bool:
        """Destroy a bridge; False if it did not exist (404)."""
        try:
            await self._request("DELETE", f"/bridges/{_seg(bridge_id)}")
        except NotFound:
            return False
        return True

    async def list_bridges(self) -> list[Bridge]:
        return _parse_list(Bridge, await self._request("GET", "/bridges"))

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        path = f"/bridges/{_seg(bridge_id)}/moh"
        await self._request("POST", path, {"mohClass": moh_class})

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{_seg(bridge_id)}/moh")

    # --- endpoints and server -------------------------------------------------

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        path = f"/endpoints/{_seg(technology)}/{_seg(resource)}"
        return _parse(Endpoint, await self._request("GET", path))

    async def list_endpoints(self) -> list[Endpoint]:
        return _parse_list(Endpoint, await self._request("GET", "/endpoints"))

    async def filter_events(self, allowed: Iterable[str]) -> None:
        """``PUT /applications/{app}/eventFilter``: only these event types reach us
        (fewer events for Asterisk to encode and for us to parse). The filter applies
        to every message of the app's websocket, so REST answers are let through."""
        body = {"allowed": [{"type": name} for name in (*allowed, "RESTResponse")]}
        await self._request("PUT", f"/applications/{_seg(self.app)}/eventFilter", json=body)

    async def ping(self) -> dict[str, Any]:
        """``GET /asterisk/info``: a cheap readiness check of ARI and credentials."""
        return _object(await self._request("GET", "/asterisk/info"))

    async def reload_module(self, module: str) -> None:
        """``PUT /asterisk/modules/{module}``: reload one module's configuration
        (e.g. ``res_pjsip.so``, ``pbx_config.so``); calls in progress are untouched."""
        await self._request("PUT", f"/asterisk/modules/{_seg(module)}")

    # --- transport ------------------------------------------------------------

    def use_websocket(self, *sockets: RestChannel) -> None:
        """Send requests over websockets while one is up (ARI REST over WebSocket,
        Asterisk >= 22.4): one frame each way instead of an HTTP request, no HTTP
        session in Asterisk; HTTP is used while all are down.

        Asterisk answers one socket's requests one at a time, in that socket's
        thread, and some wait for the channel's own thread (answer, addChannel),
        so under load one socket queues every call behind the slowest request.
        A request goes to the first open socket with fewer than `REST_SOCKET_ROOM`
        unanswered ones, else to the least busy. A call's requests stay in order:
        each waits for the previous one's answer."""
        self._sockets = sockets

    async def _request(
        self,
        method: str,
        path: str,
        params: _Params | None = None,
        *,
        json: dict[str, Any] | None = None,
    ) -> Reply:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        ws = self._socket()
        if ws is not None:
            body = None if json is None else orjson.dumps(json).decode()
            status, text = await ws.rest(method, path, query, body)
        else:
            try:
                response = await self._http.request(method, path, params=query, json=json)
            except httpx.TransportError as exc:
                raise AriConnectionError(f"{method} {path}: {exc!r}") from exc
            status, text = response.status_code, response.text
        if 200 <= status < 300:
            return Reply(method, path, status, text)
        channel = query.get("channel")
        raise http_error(method, path, status, text, channel_param=channel)

    def _socket(self) -> RestChannel | None:
        # The first open socket with room, so that requests made together go out
        # together (one write); the least busy one once all have a queue.
        best: RestChannel | None = None
        for socket in self._sockets:
            if not socket.rest_ready:
                continue
            if socket.rest_waiting < REST_SOCKET_ROOM:
                return socket
            if best is None or socket.rest_waiting < best.rest_waiting:
                best = socket
        return best


class RestChannel(Protocol):
    """Where REST requests can go besides HTTP (``EventStream``)."""

    @property
    def rest_ready(self) -> bool: ...

    @property
    def rest_waiting(self) -> int: ...

    async def rest(
        self, method: str, path: str, query: dict[str, str], body: str | None
    ) -> tuple[int, str]: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """A 2xx answer from ARI, whichever way it came."""

    method: str
    path: str
    status: int
    text: str


def _json(reply: Reply) -> Any:
    try:
        return orjson.loads(reply.text)
    except ValueError as exc:
        raise AriError(f"{reply.method} {reply.path}: answer is not JSON") from exc


def _object(reply: Reply) -> dict[str, Any]:
    data = _json(reply)
    if not isinstance(data, dict):
        raise AriError(f"{reply.path}: expected a JSON object from ARI")
    return data


def _parse(model: type[_M], reply: Reply) -> _M:
    try:
        return model.model_validate(_json(reply))
    except ValidationError as exc:
        raise AriError(f"unexpected {model.__name__} from ARI: {exc}") from exc


def _parse_list(model: type[_M], reply: Reply) -> list[_M]:
    data = _json(reply)
    if not isinstance(data, list):
        raise AriError(f"expected a list of {model.__name__} from ARI")
    try:
        return [model.model_validate(item) for item in data]
    except ValidationError as exc:
        raise AriError(f"unexpected {model.__name__} from ARI: {exc}") from exc
