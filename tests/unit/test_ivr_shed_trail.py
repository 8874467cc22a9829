"""A call the service sheds to the fallback IVR, from its first row to its closing by
the call trail: Asterisk's CEL says how the fallback served it; without CEL the row is
closed once the channel is gone, with a call back owed (nobody knows if it was served)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from calllog.memory import InMemoryCallLog
from calllog.model import Callback, Outcome
from ivr.app import HotlineApp
from ivr.ari.errors import ChannelGone
from ivr.ari.models import Channel, parse_event
from ivr.prompts import PromptLibrary
from ivr.recovery import CallTrail
from routing.config import load_config
from tests.clock import FakeClock
from tests.unit.cel_trail import CelCall, write_cel

CONFIG = load_config("config/hotline.yaml")
CALLER = "1795473200.3"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class ShedAri:
    """ARI for a shed call: the hand-over, and whether the channel is still up."""

    def __init__(self) -> None:
        self.live: dict[str, dict[str, Any]] = {}

    async def continue_in_dialplan(self, channel_id: str, **_: Any) -> None:
        pass

    async def get_channel(self, channel_id: str) -> Channel:
        if channel_id not in self.live:
            raise ChannelGone("GET", f"/channels/{channel_id}", 404, "{}",
                              channel_id=channel_id)
        return Channel.model_validate(self.live[channel_id])


def channel(number: str) -> dict[str, Any]:
    return {"id": CALLER, "name": "PJSIP/anonymous-00000003", "state": "Ring",
            "caller": {"name": "", "number": number}, "connected": {"name": "", "number": ""},
            "accountcode": "", "creationtime": "2026-11-23T09:00:00.000+0700",
            "language": "vi",
            "dialplan": {"context": "hotline-public", "exten": "19001080", "priority": 2,
                         "app_name": "Stasis", "app_data": "hotline"}}


async def shed(tmp_path: Path, cel_db: Path | None, number: str = "0939123456") -> tuple[
        CallTrail, InMemoryCallLog, ShedAri]:
    """An overloaded service sheds one call; the call trail watches its row."""
    ari, calllog, clock = ShedAri(), InMemoryCallLog(), FakeClock(NOW, running=False)
    trail = CallTrail(ari=ari, calllog=calllog, config=lambda: CONFIG,  # type: ignore[arg-type]
                      cel_db=cel_db, mark_file=tmp_path / "cel.mark",
                      is_active=lambda call_id: False, clock=clock)
    app = HotlineApp(ari=ari, config=lambda: CONFIG,  # type: ignore[arg-type]
                     prompts=PromptLibrary("/x"), calllog=calllog,
                     fallback_context="hotline-fallback", clock=clock,
                     on_left_open=trail.watch, admit=lambda: ("fallback", "0.3 s lag"))
    ari.live[CALLER] = channel(number)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(number),
                              "application": "hotline"}))
    await app.drain(1)
    trail.recovered.set()
    return trail, calllog, ari


def fallback_connects_to_desk_1201() -> CelCall:
    """What Asterisk writes for the shed call: Stasis gave it up unanswered, the fallback
    answered, the caller pressed 2, desk 1201 answered and later hung up."""
    call = CelCall(CALLER, start=(NOW + timedelta(seconds=1)).timestamp())
    call.add("CHAN_START", call.caller, context="hotline-public", exten="19001080")
    call.add("ANSWER", call.caller, appname="Answer")
    call.user("hotline_fallback").branch(2)
    desk = call.desk("1201", 1)
    call.bridged(desk)
    call.hangup(desk, source=desk.channame)
    call.hangup(call.caller, source=desk.channame, dialstatus="ANSWER")
    return call.ends()


async def test_cel_completes_the_row_of_a_shed_call_once(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    trail, calllog, ari = await shed(tmp_path, cel)
    assert trail.watched == {CALLER}
    write_cel(cel, fallback_connects_to_desk_1201().rows)
    del ari.live[CALLER]

    assert await trail.import_cel() == 1
    assert await trail.import_cel() == 0

    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is not None
    assert (record.started_at, record.caller_number) == (NOW, "0939123456")
    assert (record.outcome, record.branch_key, record.desk_answered, record.callback) == (
        Outcome.CONNECTED, 2, "1201", None)
    kinds = [e.kind for e in await calllog.events(CALLER)]
    assert kinds == ["shed", "answered", "fallback", "branch", "bridged", "ended", "reconciled"]
    assert trail.watched == set()


@pytest.mark.parametrize(("number", "callback"), [
    ("0939123456", Callback.PENDING), ("=1+2", Callback.NO_NUMBER),
])
async def test_without_cel_a_shed_call_is_closed_when_gone_with_a_call_back_owed(
    tmp_path: Path, number: str, callback: Callback,
) -> None:
    trail, calllog, ari = await shed(tmp_path, None, number)
    await trail.sweep()  # still in the fallback IVR
    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is None

    del ari.live[CALLER]
    with capture_logs():
        await trail.sweep()

    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at == NOW
    # Whether the fallback put the citizen through is unknown: someone calls back.
    assert (record.outcome, record.callback) == (Outcome.FAILED, callback)
    assert [e.kind for e in await calllog.events(CALLER)][-1] == "reconciled"
