"""ARI models against real events recorded from Asterisk 22.10.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.ari.errors import AriError
from ivr.ari.models import (
    EVENT_TYPES,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelVarset,
    Dial,
    Event,
    PlaybackFinished,
    StasisStart,
    UnknownEvent,
    message_type,
    parse_event,
    parse_event_json,
)


def _traces_dir() -> Path:
    """Recorded from a real Asterisk 22.10.1 (see its README), kept with the tests."""
    return Path(__file__).resolve().parents[1] / "data" / "ari-traces"


TRACES = sorted(_traces_dir().glob("*.jsonl"))


def _lines(name: str) -> list[dict[str, Any]]:
    path = _traces_dir() / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _events(name: str) -> list[Event]:
    return [parse_event(line) for line in _lines(name)]


def _channel(channel_id: str = "1795456379.4") -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": "PJSIP/trunk-00000002",
        "state": "Up",
        "caller": {"name": "SIPp caller", "number": "+49305551"},
        "connected": {"name": "", "number": ""},
        "dialplan": {"context": "from-trunk", "exten": "19001080", "priority": 2},
        "creationtime": "2026-11-23T17:52:59.537+0000",
        "language": "en",
    }


def test_traces_are_present() -> None:
    assert len(TRACES) >= 6, f"no ARI traces found in {_traces_dir()}"


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.name)
def test_every_recorded_event_parses(trace: Path) -> None:
    for number, line in enumerate(trace.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        event = parse_event(line)
        raw_type = json.loads(line)["type"]
        assert event.type == raw_type, f"{trace.name}:{number}"
        expected = EVENT_TYPES.get(raw_type, UnknownEvent)
        assert type(event) is expected, f"{trace.name}:{number}"
        assert event.application == "hotline"
        assert event.timestamp is not None and event.timestamp.tzinfo is not None


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.name)
def test_the_websocket_fast_path_parses_every_recorded_event_the_same(trace: Path) -> None:
    """`parse_event_json` (pydantic straight from the text, the type found by a
    regex) gives what `parse_event` gives, compact or pretty JSON alike."""
    for line in trace.read_text().splitlines():
        if not line.strip():
            continue
        expected = parse_event(line)
        assert message_type(line) == expected.type
        assert parse_event_json(line, message_type(line)) == expected
        pretty = json.dumps(json.loads(line), indent=2).encode()
        assert parse_event_json(pretty, message_type(pretty)) == expected


@pytest.mark.parametrize(
    "message",
    ["not json", "[1, 2]", '{"no": "type"}', '{"type": 7}',
     '{"type": "ChannelDtmfReceived", "channel": {"id": "x"}}'],
)
def test_the_fast_path_rejects_what_parse_event_rejects(message: str) -> None:
    with pytest.raises(AriError):
        parse_event_json(message, message_type(message))


def test_a_rest_response_is_told_apart_without_parsing_it() -> None:
    reply = '{"type":"RESTResponse","request_id":"7","status_code":200,"message_body":"{}"}'
    assert message_type(reply) == "RESTResponse"
    assert message_type('{"bridge_type": "mixing"}') is None


def test_stasis_start_carries_the_inbound_caller() -> None:
    start = _events("happy-path.jsonl")[0]
    assert isinstance(start, StasisStart)
    assert start.args == []
    assert start.channel.id == "1795456379.4"
    assert start.channel.caller.number == "+49305551"
    assert start.channel.dialplan is not None
    assert start.channel.dialplan.exten == "19001080"
    assert start.channel.creationtime == datetime(2026, 11, 23, 17, 52, 59, 537000, tzinfo=UTC)
    assert start.timestamp == datetime(2026, 11, 23, 17, 52, 59, 538000, tzinfo=UTC)


def test_happy_path_has_digit_one_and_answered_desk() -> None:
    events = _events("happy-path.jsonl")
    digits = [e.digit for e in events if isinstance(e, ChannelDtmfReceived)]
    assert digits == ["1"]
    statuses = [e.dialstatus for e in events if isinstance(e, Dial)]
    assert statuses == ["", "RINGING", "ANSWER"]


def test_dtmf_sent_as_sip_info_parses_the_same() -> None:
    dtmf = [e for e in _events("dtmf-info.jsonl") if isinstance(e, ChannelDtmfReceived)]
    assert [e.digit for e in dtmf] == ["1"]
    assert dtmf[0].duration_ms > 0


def test_busy_desk_gives_dial_busy_and_cause_17() -> None:
    events = _events("busy.jsonl")
    statuses = [e.dialstatus for e in events if isinstance(e, Dial)]
    assert statuses == ["", "BUSY", "", "RINGING", "ANSWER"]
    destroyed = [e for e in events if isinstance(e, ChannelDestroyed)]
    assert destroyed[0].cause == 17
    assert destroyed[0].cause_txt == "User busy"
    busy_dial = next(e for e in events if isinstance(e, Dial) and e.dialstatus == "BUSY")
    assert destroyed[0].channel.id == busy_dial.peer.id
    assert busy_dial.caller is None  # created + dialed via ARI: no calling channel


def test_desk_ringing_out_is_destroyed_with_cause_19_without_a_noanswer_dial() -> None:
    # Asterisk 22 sends no Dial NOANSWER when the ring timeout expires: the
    # desk channel is just destroyed with cause 19 (User alerting, no answer).
    events = _events("noanswer-failover.jsonl")
    statuses = [e.dialstatus for e in events if isinstance(e, Dial)]
    assert statuses == ["", "RINGING", "", "RINGING", "ANSWER"]
    first_destroyed = next(e for e in events if isinstance(e, ChannelDestroyed))
    assert first_destroyed.cause == 19
    assert first_destroyed.channel.id.startswith("desk-")


def test_hangup_request_cause_and_soft_are_optional() -> None:
    requests = [e for e in _events("caller-hangup.jsonl") if isinstance(e, ChannelHangupRequest)]
    assert [(r.cause, r.soft) for r in requests] == [(None, None)]
    soft = [e for e in _events("busy.jsonl") if isinstance(e, ChannelHangupRequest)]
    assert (soft[-1].cause, soft[-1].soft) == (32, True)


def test_caller_hanging_up_during_menu_fails_the_playback() -> None:
    finished = [e for e in _events("caller-hangup.jsonl") if isinstance(e, PlaybackFinished)]
    assert [f.playback.state for f in finished] == ["failed"]


def test_unmodelled_event_type_becomes_unknown_event_with_raw_dict() -> None:
    raw = {"type": "ChannelConnectedLine", "channel": _channel(), "application": "hotline"}
    event = parse_event(raw)
    assert isinstance(event, UnknownEvent)
    assert event.raw == raw
    assert event.channel_ids() == {"1795456379.4"}


def test_unknown_event_with_odd_fields_still_parses() -> None:
    event = parse_event(b'{"type": "SomethingNew", "timestamp": "not a date"}')
    assert isinstance(event, UnknownEvent)
    assert event.type == "SomethingNew"


def test_extra_fields_are_ignored() -> None:
    raw = {"type": "StasisEnd", "channel": {**_channel(), "tenantid": "x"}, "new_field": 1}
    assert parse_event(raw).channel_ids() == {"1795456379.4"}


@pytest.mark.parametrize(
    "message",
    ["not json", "[1, 2]", '{"no": "type"}', '{"type": 7}'],
)
def test_messages_without_a_type_are_rejected(message: str) -> None:
    with pytest.raises(AriError):
        parse_event(message)


def test_malformed_known_event_raises_with_its_type() -> None:
    with pytest.raises(AriError, match="ChannelDtmfReceived"):
        parse_event({"type": "ChannelDtmfReceived", "channel": _channel()})


def test_dial_concerns_peer_and_caller() -> None:
    dial = parse_event(
        {
            "type": "Dial",
            "dialstatus": "ANSWER",
            "peer": _channel("desk-1"),
            "caller": _channel("caller-1"),
        }
    )
    assert dial.channel_ids() == {"desk-1", "caller-1"}


def test_stasis_start_concerns_replaced_channel_too() -> None:
    start = parse_event(
        {
            "type": "StasisStart",
            "args": ["x"],
            "channel": _channel("new"),
            "replace_channel": _channel("old"),
        }
    )
    assert start.channel_ids() == {"new", "old"}


def test_global_varset_and_bridge_events_route_by_their_channels() -> None:
    events = _events("happy-path.jsonl")
    varsets = [e for e in events if isinstance(e, ChannelVarset)]
    assert all(v.channel_ids() == ({v.channel.id} if v.channel else set()) for v in varsets)
    entered = next(e for e in events if isinstance(e, ChannelEnteredBridge))
    assert entered.channel_ids() == {"1795456379.4"}
    assert entered.bridge.bridge_type == "mixing"
    global_set = parse_event({"type": "ChannelVarset", "variable": "G", "value": "1"})
    assert global_set.channel_ids() == set()


def test_playback_events_concern_no_channel() -> None:
    finished = next(e for e in _events("happy-path.jsonl") if isinstance(e, PlaybackFinished))
    assert finished.channel_ids() == set()
    assert finished.playback.target_uri == "channel:1795456379.4"
