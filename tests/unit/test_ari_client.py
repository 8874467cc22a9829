"""AriClient against httpx.MockTransport: paths, parameters, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from ivr.ari.client import AriClient
from ivr.ari.errors import AriConnectionError, AriError, AriHttpError, ChannelGone, NotFound
from ivr.ari.models import Bridge, Channel, Playback

BASE_URL = "http://127.0.0.1:8088/ari"

CHANNEL = {
    "id": "desk-1",
    "name": "PJSIP/1001-00000010",
    "state": "Down",
    "protocol_id": "",
    "caller": {"name": "", "number": ""},
    "connected": {"name": "", "number": ""},
    "accountcode": "",
    "dialplan": {"context": "from-desk", "exten": "s", "priority": 1},
    "creationtime": "2026-11-23T17:54:13.350+0000",
    "language": "vi",
}
PLAYBACK = {
    "id": "pb-1",
    "media_uri": "sound:menu",
    "target_uri": "channel:c1",
    "language": "vi",
    "state": "queued",
}
BRIDGE = {
    "id": "br-1",
    "technology": "simple_bridge",
    "bridge_type": "mixing",
    "bridge_class": "stasis",
    "creator": "Stasis",
    "name": "call-c1",
    "channels": [],
}


class FakeAri:
    """Answers every request with one canned response and records the requests."""

    def __init__(self, status: int = 204, body: Any = None) -> None:
        self.status = status
        self.body = body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.body is None:
            return httpx.Response(self.status)
        return httpx.Response(self.status, json=self.body)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


MakeClient = Callable[[FakeAri], AriClient]


@pytest.fixture
async def http() -> AsyncIterator[MakeClient]:
    clients: list[httpx.AsyncClient] = []

    def make(fake: FakeAri) -> AriClient:
        client = httpx.AsyncClient(
            base_url=BASE_URL, auth=("hotline", "secret"), transport=httpx.MockTransport(fake)
        )
        clients.append(client)
        return AriClient(client, app="hotline")

    yield make
    for client in clients:
        await client.aclose()


def _query(request: httpx.Request) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in request.url.params.multi_items():
        result.setdefault(key, []).append(value)
    return result


async def test_play_posts_to_our_playback_id_with_comma_joined_media(http: MakeClient) -> None:
    fake = FakeAri(201, PLAYBACK)
    playback = await http(fake).play("c1", ["sound:menu", "digits:1"], "pb-1", lang="vi")
    assert isinstance(playback, Playback) and playback.id == "pb-1"
    assert fake.last.method == "POST"
    assert fake.last.url.path == "/ari/channels/c1/play/pb-1"
    assert _query(fake.last) == {"media": ["sound:menu,digits:1"], "lang": ["vi"]}
    assert fake.last.headers["authorization"].startswith("Basic ")


async def test_play_single_media_without_lang_sends_no_lang(http: MakeClient) -> None:
    fake = FakeAri(201, PLAYBACK)
    await http(fake).play("c1", "sound:menu", "pb-1")
    assert _query(fake.last) == {"media": ["sound:menu"]}


async def test_originate_dials_into_our_app_in_one_request(http: MakeClient) -> None:
    fake = FakeAri(200, CHANNEL)
    channel = await http(fake).originate(
        "PJSIP/1001",
        app_args="desk,c1",
        channel_id="desk-1",
        originator="c1",
        caller_id='"1. Nội vụ" <0901234567>',
        timeout=15,
    )
    assert isinstance(channel, Channel) and channel.language == "vi"
    assert (fake.last.method, fake.last.url.path) == ("POST", "/ari/channels")
    assert _query(fake.last) == {
        "endpoint": ["PJSIP/1001"],
        "app": ["hotline"],
        "appArgs": ["desk,c1"],
        "channelId": ["desk-1"],
        "originator": ["c1"],
        "callerId": ['"1. Nội vụ" <0901234567>'],
        "timeout": ["15"],
    }
    assert fake.last.content == b""


async def test_originate_sends_only_given_fields(http: MakeClient) -> None:
    fake = FakeAri(200, CHANNEL)
    await http(fake).originate("PJSIP/1001")
    assert _query(fake.last) == {"endpoint": ["PJSIP/1001"], "app": ["hotline"]}


async def test_create_bridge_posts_with_our_bridge_id(http: MakeClient) -> None:
    fake = FakeAri(200, BRIDGE)
    bridge = await http(fake).create_bridge("br-1", name="call-c1")
    assert isinstance(bridge, Bridge) and bridge.bridge_type == "mixing"
    assert (fake.last.method, fake.last.url.path) == ("POST", "/ari/bridges/br-1")
    assert _query(fake.last) == {"type": ["mixing"], "name": ["call-c1"]}


async def test_add_channel_and_hangup_paths(http: MakeClient) -> None:
    fake = FakeAri()
    ari = http(fake)
    await ari.add_channel("br-1", "desk-1")
    assert fake.last.url.path == "/ari/bridges/br-1/addChannel"
    assert _query(fake.last) == {"channel": ["desk-1"]}
    await ari.hangup("desk-1", reason="busy")
    assert (fake.last.method, fake.last.url.path) == ("DELETE", "/ari/channels/desk-1")
    assert _query(fake.last) == {"reason": ["busy"]}


async def test_continue_in_dialplan_sends_only_given_fields(http: MakeClient) -> None:
    fake = FakeAri()
    await http(fake).continue_in_dialplan("c1", context="hotline-fallback", priority=1)
    assert fake.last.url.path == "/ari/channels/c1/continue"
    assert _query(fake.last) == {"context": ["hotline-fallback"], "priority": ["1"]}


async def test_get_variable_returns_its_value(http: MakeClient) -> None:
    fake = FakeAri(200, {"value": "vi"})
    assert await http(fake).get_variable("c1", "CHANNEL(language)") == "vi"
    assert _query(fake.last) == {"variable": ["CHANNEL(language)"]}


async def test_list_channels_returns_models(http: MakeClient) -> None:
    fake = FakeAri(200, [CHANNEL, {**CHANNEL, "id": "desk-2"}])
    channels = await http(fake).list_channels()
    assert [c.id for c in channels] == ["desk-1", "desk-2"]


async def test_404_on_a_channel_is_channel_gone(http: MakeClient) -> None:
    fake = FakeAri(404, {"message": "Channel not found"})
    with pytest.raises(ChannelGone) as caught:
        await http(fake).answer("c1")
    assert caught.value.status == 404
    assert caught.value.channel_id == "c1"
    assert caught.value.method == "POST"
    assert caught.value.path == "/channels/c1/answer"
    assert "Channel not found" in caught.value.body


async def test_channel_not_in_stasis_is_channel_gone(http: MakeClient) -> None:
    fake = FakeAri(409, {"message": "Channel not in Stasis application"})
    with pytest.raises(ChannelGone) as caught:
        await http(fake).start_moh("c1")
    assert caught.value.status == 409


async def test_adding_a_gone_channel_to_a_bridge_is_channel_gone(http: MakeClient) -> None:
    fake = FakeAri(400, {"message": "Channel not found"})
    with pytest.raises(ChannelGone) as caught:
        await http(fake).add_channel("br-1", "desk-1")
    assert caught.value.channel_id == "desk-1"


async def test_channel_not_yet_in_stasis_on_add_is_not_channel_gone(http: MakeClient) -> None:
    # Asterisk says the same for a channel added before its StasisStart: "too early".
    fake = FakeAri(422, {"message": "Channel not in Stasis application"})
    with pytest.raises(AriHttpError) as caught:
        await http(fake).add_channel("br-1", "desk-1")
    assert not isinstance(caught.value, NotFound)
    assert caught.value.status == 422


async def test_missing_bridge_is_not_found_but_not_channel_gone(http: MakeClient) -> None:
    fake = FakeAri(404, {"message": "Bridge not found"})
    with pytest.raises(NotFound) as caught:
        await http(fake).add_channel("br-1", "desk-1")
    assert not isinstance(caught.value, ChannelGone)


async def test_unset_variable_is_not_found_but_not_channel_gone(http: MakeClient) -> None:
    fake = FakeAri(404, {"message": "Provided variable was not found"})
    with pytest.raises(NotFound) as caught:
        await http(fake).get_variable("c1", "NOPE")
    assert not isinstance(caught.value, ChannelGone)


async def test_stop_playback_already_finished_returns_false(http: MakeClient) -> None:
    fake = FakeAri(404, {"message": "Playback not found"})
    assert await http(fake).stop_playback("pb-1") is False
    assert (fake.last.method, fake.last.url.path) == ("DELETE", "/ari/playbacks/pb-1")


async def test_stop_playback_running_returns_true(http: MakeClient) -> None:
    assert await http(FakeAri(204)).stop_playback("pb-1") is True


async def test_destroy_missing_bridge_returns_false(http: MakeClient) -> None:
    assert await http(FakeAri(404, {"message": "Bridge not found"})).destroy_bridge("b") is False


async def test_server_error_is_ari_http_error(http: MakeClient) -> None:
    fake = FakeAri(500, {"message": "Internal Server Error"})
    with pytest.raises(AriHttpError) as caught:
        await http(fake).originate("PJSIP/1001")
    assert type(caught.value) is AriHttpError
    assert caught.value.status == 500
    assert "500" in str(caught.value)


async def test_transport_error_is_ari_connection_error(http: MakeClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(base_url=BASE_URL, transport=httpx.MockTransport(refuse))
    async with client:
        with pytest.raises(AriConnectionError) as caught:
            await AriClient(client, app="hotline").ping()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_unexpected_answer_body_is_ari_error(http: MakeClient) -> None:
    with pytest.raises(AriError):
        await http(FakeAri(200, {"unexpected": True})).get_channel("c1")


async def test_ping_returns_asterisk_info(http: MakeClient) -> None:
    fake = FakeAri(200, {"system": {"version": "22.10.1"}})
    assert await http(fake).ping() == {"system": {"version": "22.10.1"}}
    assert (fake.last.method, fake.last.url.path) == ("GET", "/ari/asterisk/info")


class Socket:
    """A websocket REST can go over: open or not, with requests awaiting answers."""

    def __init__(self, name: str, *, ready: bool = True, waiting: int = 0) -> None:
        self.name, self.rest_ready, self.rest_waiting = name, ready, waiting
        self.sent: list[str] = []

    async def rest(self, method: str, path: str, query: dict[str, str],
                   body: str | None) -> tuple[int, str]:
        self.sent.append(path)
        return 204, ""


async def test_requests_use_the_first_open_socket_with_room_then_the_least_busy(
    http: MakeClient,
) -> None:
    events, second, third = Socket("events"), Socket("rest-1"), Socket("rest-2")
    ari = http(FakeAri())
    ari.use_websocket(events, second, third)
    await ari.answer("c1")
    events.rest_waiting = 4  # full: Asterisk serves a socket's requests one at a time
    await ari.answer("c2")
    events.rest_waiting, second.rest_waiting, third.rest_waiting = 7, 6, 5
    await ari.answer("c3")
    events.rest_ready = second.rest_ready = third.rest_ready = False
    fake_http = FakeAri()
    ari_down = http(fake_http)
    ari_down.use_websocket(events, second, third)
    await ari_down.answer("c4")  # every socket down: HTTP
    assert (events.sent, second.sent, third.sent) == (
        ["/channels/c1/answer"], ["/channels/c2/answer"], ["/channels/c3/answer"])
    assert fake_http.last.url.path == "/ari/channels/c4/answer"
