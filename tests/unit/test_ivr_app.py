"""The Stasis application's routing of events to calls, and reconciliation after a
reconnect, with a small typed fake of the ARI client (no sockets)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from calllog.memory import InMemoryCallLog
from calllog.model import Outcome
from ivr.app import HotlineApp
from ivr.ari.models import Channel, parse_event
from ivr.prompts import PromptLibrary
from routing.config import load_config

CONFIG = load_config("config/hotline.yaml").model_copy()
CALLER = "1795456379.4"


def channel(channel_id: str, number: str = "0901234567") -> dict[str, Any]:
    return {"id": channel_id, "name": f"PJSIP/x-{channel_id}", "state": "Up",
            "caller": {"name": "", "number": number}, "connected": {"name": "", "number": ""},
            "accountcode": "", "creationtime": "2026-11-23T09:00:00.000+0700", "language": "vi",
            "dialplan": {"context": "hotline-public", "exten": "19001080", "priority": 2,
                         "app_name": "Stasis", "app_data": "hotline"}}


class ReconcileAri:
    """Just enough ARI for a call that answers and waits in the menu."""

    def __init__(self) -> None:
        self.live: list[str] = []
        self.requests: list[str] = []

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


def app_with(ari: ReconcileAri, calllog: InMemoryCallLog) -> HotlineApp:
    config = CONFIG.model_copy(update={"hours": CONFIG.hours.model_copy(
        update={"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]})})
    return HotlineApp(
        ari=ari,  # type: ignore[arg-type]  # a typed stand-in with the methods used
        config=lambda: config,
        prompts=PromptLibrary("/x"),
        calllog=calllog,
        fallback_context="hotline-fallback",
        clock=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC),  # 09:00 in Vietnam
    )


async def test_a_call_whose_caller_vanished_during_a_disconnect_is_closed() -> None:
    ari, calllog = ReconcileAri(), InMemoryCallLog()
    app = app_with(ari, calllog)
    app.on_event(parse_event({"type": "StasisStart", "args": [], "channel": channel(CALLER),
                              "application": "hotline"}))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if "play" in ari.requests:
            break
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
    await asyncio.sleep(0.05)
    assert app.active_calls == 1
    record = await calllog.get(CALLER)
    assert record is not None and record.ended_at is None
    await app.drain(0)


async def test_reconcile_without_calls_asks_nothing() -> None:
    ari = ReconcileAri()
    await app_with(ari, InMemoryCallLog()).reconcile()
    assert ari.requests == []
