"""Issue 17, items 5 and 6 on real calls: the announcement override switched on and off
with `hotline announce` (after the greeting, or instead of the menu), and a branch's
calls recorded for quality review (the notice, then both sides in one file)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calllog.announcements import AnnouncementStore
from calllog.db import make_engine, make_sessionmaker
from calllog.model import Outcome
from tests.e2e.calls import answer_hotline, audio_flows, finished, talking
from tests.e2e.conftest import (
    CALLER_TONE_HZ,
    DESK_TONE_HZ,
    REPO,
    DeskBank,
    Hotline,
    read_samples,
    tone_power,
)
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e

CACHE_SECONDS = 2.2
"""A little over the service's cache of the switch (`ivr.override.CACHE_SECONDS`)."""


def announce(hotline: Hotline, *args: str) -> str:
    env = {**os.environ, "HOTLINE_SECRETS_FILE": "/nonexistent",
           "HOTLINE_DATABASE_URL": hotline.db_url,
           "HOTLINE_PROMPTS_HOST_DIR": str(hotline.pbx.sounds_host_dir)}
    done = subprocess.run([sys.executable, "-m", "hotline.cli", "announce", *args, "--by", "lan"]
                          if args[0] != "show" else
                          [sys.executable, "-m", "hotline.cli", "announce", *args],
                          env=env, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def switched_on(hotline: Hotline) -> bool:
    """The last switch recorded is "on" (read from the call log, not with the CLI: that
    is a process start of several seconds)."""
    async def latest() -> bool:
        engine = make_engine(hotline.db_url)
        try:
            switch = await AnnouncementStore(make_sessionmaker(engine)).latest()
        finally:
            await engine.dispose()
        return switch is not None and switch.on

    return asyncio.run(latest())


@pytest.fixture
def announcement_off(hotline: Hotline, sip: SipStack) -> Iterator[None]:
    """Switched off after the test, unless the test left it off itself."""
    yield
    if switched_on(hotline):
        announce(hotline, "off")
        sip.pump(CACHE_SECONDS)


def _kinds_until(sip: SipStack, hotline: Hotline, caller: Phone, kind: str,
                 prompts: str | None = None) -> list[str]:
    """The timeline's kinds once it has `kind` (with these `prompts`, for a prompt)."""
    def seen() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and any(
            e.kind == kind and (prompts is None or e.detail.get("prompts") == prompts)
            for e in hotline.call_events(record.call_id))

    sip.wait_until(seen, 30, f"{kind!r} in the timeline")
    record = hotline.call_record(caller.user)
    assert record is not None
    return [e.kind for e in hotline.call_events(record.call_id)]


def test_announcement_plays_after_the_greeting_until_switched_off(
    hotline: Hotline, sip: SipStack, caller: Phone, announcement_off: None
) -> None:
    shown = announce(hotline, "on", "--text", "Tổng đài nghỉ chiều nay.",
                     "--until", "31/12/2099 17:00")
    assert shown.startswith("on: after_greeting")
    sip.pump(CACHE_SECONDS)
    call = answer_hotline(sip, caller, hotline)
    _kinds_until(sip, hotline, caller, "prompt", "menu")  # the menu came after it
    call.hangup_now()
    _, events = finished(sip, hotline, caller, last_event="ended")
    override = next(e for e in events if e.kind == "override")
    assert override.detail["mode"] == "after_greeting" and override.detail["by"] == "lan"
    played = [e.detail["prompts"] for e in events if e.kind == "prompt"]
    assert played[0] == f"greeting,{override.detail['media']}"
    assert played[1] == "menu"  # not the greeting twice

    announce(hotline, "off", "--by", "lan")
    sip.pump(CACHE_SECONDS)
    later = sip.phone(caller.user + "1", hotline.registrar)
    try:
        call = answer_hotline(sip, later, hotline)
        kinds = _kinds_until(sip, hotline, later, "prompt", "greeting,menu")
        call.hangup_now()
        finished(sip, hotline, later, last_event="ended")
    finally:
        sip.retire(later)
    assert "override" not in kinds


def test_replace_menu_sends_the_caller_to_the_message(
    hotline: Hotline, sip: SipStack, caller: Phone, announcement_off: None
) -> None:
    announce(hotline, "on", "--replace-menu", "--until", "31/12/2099 17:00")
    sip.pump(CACHE_SECONDS)
    call = answer_hotline(sip, caller, hotline)
    kinds = _kinds_until(sip, hotline, caller, "recording")
    call.hangup_now()
    record, events = finished(sip, hotline, caller, last_event="ended")
    assert "digit" not in kinds and "branch" not in kinds  # no menu at all
    assert record.outcome == Outcome.CLOSED and record.callback == "pending"
    assert next(e for e in events if e.kind == "override").detail["mode"] == "replace_menu"


def test_recorded_branch_tells_the_caller_and_records_both_sides(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path,
) -> None:
    def record_branch_1(data: dict[str, Any]) -> None:
        next(b for b in data["branches"] if b["key"] == 1)["record_calls"] = True
        data["recording"] = {"notice": "Cuộc gọi được ghi âm.", "retention_days": 30}

    with hotline.reconfigured(record_branch_1):
        desks = desk_bank.for_branch(1)
        call, desk_call = talking(sip, hotline, caller, desks["1101"], 1)
        audio_flows(sip, call, desk_call, tones, tmp_path)
        call.hangup_now()
        record, events = finished(sip, hotline, caller, last_event="ended")
    kinds = [e.kind for e in events]
    assert kinds.index("recording_notice") < kinds.index("desk_dial")
    name = next(e for e in events if e.kind == "review_recording").detail["name"]
    assert name == "review-" + record.call_id.replace(".", "-")
    wav = hotline.recordings_dir / f"{name}.wav"
    assert wav.is_file()
    samples, rate = read_samples(wav)
    assert len(samples) > 2 * rate
    # Both sides are in the one file: the caller's tone and the desk's.
    assert tone_power(samples, rate, CALLER_TONE_HZ) > 1000
    assert tone_power(samples, rate, DESK_TONE_HZ) > 1000
