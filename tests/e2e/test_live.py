"""The wallboard's live state (issue 15): the service's `GET /live` on its loopback
HTTP server follows a real call through the real Asterisk, step by step, and shows
the desks' registration as Asterisk knows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.calls import dial, finished
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e


class Wallboard:
    """What the console does: long-poll `/live`, a short wait at a time (the SIP stack
    runs on this thread too and must keep being pumped)."""

    def __init__(self, hotline: Hotline) -> None:
        self.url = f"http://127.0.0.1:{hotline.settings.health_port}/live"
        self.snapshot: dict[str, Any] = httpx.get(self.url, timeout=5).json()
        self.versions = [self.snapshot["version"]]

    def refresh(self) -> dict[str, Any]:
        answer = httpx.get(self.url, params={"after": self.snapshot["version"], "wait": 0.2},
                           timeout=5)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        self.snapshot = answer.json()
        self.versions.append(self.snapshot["version"])
        return self.snapshot

    def call_of(self, caller: Phone) -> dict[str, Any] | None:
        return next((c for c in self.snapshot["calls"] if c["caller_number"] == caller.user),
                    None)

    def desk(self, extension: str) -> dict[str, Any]:
        return next(d for d in self.snapshot["desks"] if d["extension"] == extension)


def test_wallboard_follows_a_call_from_menu_to_ringing_to_talking_to_gone(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.ensure(["1401", "1402"])
    desks["1401"].answer_after = 3.0  # rings a while, then picks up
    board = Wallboard(hotline)
    steps: list[str | None] = []

    def seen(step: str | None, check: Any = lambda call: True) -> bool:
        board.refresh()
        call = board.call_of(caller)
        now = None if call is None else call["step"]
        if not steps or steps[-1] != now:
            steps.append(now)
        return now == step and (call is None or check(call))

    # Desks: asked of Asterisk once somebody watches.
    sip.wait_until(lambda: seen(None) and board.desk("1402")["state"] == "registered", 10,
                   "the wallboard to show desk 1402 registered")
    assert board.desk("1101")["state"] == "unregistered"
    assert board.snapshot["desks_checked_at"] is not None

    call = dial(sip, caller, hotline)
    sip.wait_until(lambda: seen("menu"), 10, "the call in the menu")
    menu = board.call_of(caller)
    assert menu is not None and menu["branch"] is None
    assert board.snapshot["by_step"]["menu"] >= 1
    assert board.snapshot["longest_wait_seconds"] is not None

    call.send_digits("4")
    sip.wait_until(lambda: seen("ringing", lambda c: c["desks"] == ["1401"]), 10,
                   "the call ringing desk 1401")
    ringing = board.call_of(caller)
    assert ringing is not None and ringing["branch"]["key"] == 4
    assert board.desk("1401")["state"] == "ringing"
    assert board.desk("1401")["call_id"] == ringing["call_id"]
    assert next(b for b in board.snapshot["by_branch"] if b["key"] == 4)["calls"] >= 1

    sip.wait_until(lambda: seen("talking", lambda c: c["desks"] == ["1401"]), 15,
                   "the call talking to desk 1401")
    talking = board.call_of(caller)
    assert talking is not None
    assert datetime.fromisoformat(talking["step_since"]) > datetime.fromisoformat(
        talking["started_at"])
    assert board.desk("1401")["state"] == "busy"
    assert board.snapshot["desks_by_state"]["busy"] >= 1

    call.hangup_now()
    sip.wait_until(lambda: seen(None), 15, "the call gone from the wallboard")
    assert board.desk("1401")["state"] == "registered"
    finished(sip, hotline, caller)

    assert [s for s in steps if s != "answering"] == [None, "menu", "ringing", "talking", None]
    assert board.versions == sorted(board.versions)  # never goes back
