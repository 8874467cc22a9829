"""The calls pages in real Chromium against the real console process: the search finds
seeded calls, a call's page shows its timeline, and its voice message plays (the
`<audio>` element loads a real WAV from the recording spool and reports its duration,
and can seek: the console answers range requests)."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from calllog.db import make_engine, make_sessionmaker
from calllog.model import Callback, CallEvent, CallRecord, Case, Outcome, SurveyResult
from calllog.store import CallLogStore
from tests.browser.conftest import ADMIN_PASSWORD, RunningConsole, screenshot

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 07/12/2026 09:00 in Vietnam
VOICE_CALL = "1796605200.42"
VOICE_NAME = "vm-1796605200-42"
VOICE_SECONDS = 3.0


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The console's recording spool (set before the console starts)."""
    spool = tmp_path_factory.mktemp("recording")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOTLINE_CONSOLE_RECORDINGS_DIR", str(spool))
        yield spool


@pytest.fixture(scope="module")
def console(recordings: Path, console: RunningConsole) -> RunningConsole:
    """The shared console, started on this module's recording spool, with calls in its
    call log and a voice message in the spool."""
    _write_voice(recordings / f"{VOICE_NAME}.wav")
    with ThreadPoolExecutor(1) as thread:  # playwright's loop owns this thread
        thread.submit(asyncio.run, _seed(console.env["HOTLINE_DATABASE_URL"])).result()
    return console


def _write_voice(path: Path) -> None:
    """A real 8 kHz mono WAV, as Asterisk records: a 440 Hz tone."""
    rate = 8000
    samples = (int(8000 * math.sin(2 * math.pi * 440 * n / rate))
               for n in range(int(rate * VOICE_SECONDS)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


def _call(call_id: str, minutes: int, number: str, **fields: object) -> CallRecord:
    record = CallRecord(call_id=call_id, caller_number=number,
                        started_at=T0 + timedelta(minutes=minutes),
                        ended_at=T0 + timedelta(minutes=minutes, seconds=75))
    for name, value in fields.items():
        setattr(record, name, value)
    return record


async def _seed(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        store = CallLogStore(make_sessionmaker(engine),
                             case_deadline=lambda at: at + timedelta(days=14))
        vp, tc, tp = "Văn phòng UBND tỉnh", "Sở Tài chính", "Sở Tư pháp"
        calls = [
            _call("1796604000.1", -20, "0901234567", branch_key=4, agency=vp,
                  branch_name="Cải cách thủ tục hành chính", desk_answered="1401",
                  outcome=Outcome.CONNECTED, survey=SurveyResult.ANSWERED, survey_score=5),
            _call("1796604300.7", -15, "0292387654", caller_agency="UBND xã Vị Tân",
                  branch_key=6, branch_name="Tài chính công", agency=tc,
                  desk_answered="1601", outcome=Outcome.CONNECTED),
            _call("1796604600.9", -10, "0918765432", outcome=Outcome.ABANDONED_IN_MENU),
            _call("1796604900.3", -5, "0939111222", branch_key=3,
                  branch_name="Công tác xây dựng và tổ chức triển khai văn bản", agency=tp,
                  outcome=Outcome.ABANDONED_WHILE_RINGING),
            _call(VOICE_CALL, 0, "0901234567", branch_key=4,
                  branch_name="Cải cách thủ tục hành chính", agency=vp, desk_dialled="1402",
                  outcome=Outcome.DESK_UNREACHABLE, hangup_by="system",
                  callback=Callback.PENDING, recording=VOICE_NAME,
                  recording_seconds=int(VOICE_SECONDS)),
        ]
        for record in calls:
            await store.save(record)
        steps: list[tuple[int, str, dict[str, str | int | None]]] = [
            (0, "answered", {}),
            (1, "prompt", {"playback": "menu-1", "prompts": "welcome,menu"}),
            (6, "prompt_end", {"playback": "menu-1", "reason": "digit"}),
            (6, "digit", {"digit": "4", "attempt": 1}),
            (6, "branch", {"key": 4, "agency": vp, "chosen": "caller"}),
            (7, "desk_dial", {"desk": "1401", "channel": "d1", "timeout": 20}),
            (8, "desk_result", {"desk": "1401", "dialstatus": "BUSY", "cause": 17,
                                "detail": "User busy"}),
            (8, "desk_dial", {"desk": "1402", "channel": "d2", "timeout": 20}),
            (28, "desk_result", {"desk": "1402", "dialstatus": "NOANSWER", "cause": 19,
                                 "detail": "ring timeout"}),
            (29, "recording", {"name": VOICE_NAME}),
            (41, "recorded", {"name": VOICE_NAME, "seconds": int(VOICE_SECONDS)}),
            (45, "ended", {"outcome": "desk_unreachable", "hangup_by": "system",
                           "cause": 16}),
        ]
        for seconds, kind, detail in steps:
            await store.append_event(CallEvent(
                call_id=VOICE_CALL, at=T0 + timedelta(seconds=seconds), kind=kind,
                detail=detail))
        await store.create_case(Case(id=None, call_id=VOICE_CALL, category="Cải cách thủ tục "
                                     "hành chính", opened_at=T0 + timedelta(minutes=5),
                                     opened_by="admin", recording=VOICE_NAME))
    finally:
        await engine.dispose()


def _log_in(page: Page, console: RunningConsole) -> None:
    page.goto(console.url)
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading")).to_contain_text("Bảng điều khiển")


def test_searching_calls_by_number_finds_the_callers_calls(
    page: Page, console: RunningConsole
) -> None:
    _log_in(page, console)
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Cuộc gọi").click()
    expect(page.get_by_role("heading", name="Cuộc gọi")).to_be_visible()
    page.get_by_label("Từ ngày").fill("07/12/2026")
    page.get_by_label("Đến ngày").fill("07/12/2026")
    page.get_by_role("button", name="Tìm").click()
    expect(page.locator(".calls-total")).to_have_text("Tìm thấy 5 cuộc gọi, trang 1/1.")
    expect(page.locator("table.calls tbody tr")).to_have_count(5)
    screenshot(page, "calls")
    page.get_by_label("Số điện thoại").fill("0901234567")
    page.get_by_role("button", name="Tìm").click()
    expect(page.locator(".calls-total")).to_have_text("Tìm thấy 2 cuộc gọi, trang 1/1.")


def test_a_voice_message_plays_in_the_browser(page: Page, console: RunningConsole) -> None:
    _log_in(page, console)
    page.goto(console.url + "calls?number=0901234567")
    page.get_by_role("link", name="07/12/2026 09:00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Cuộc gọi từ 0901234567 lúc 07/12/2026 09:00")
    expect(page.get_by_text("máy 1401 — máy bận")).to_be_visible()
    expect(page.get_by_text("máy 1402 — không nghe máy")).to_be_visible()
    audio = page.locator("audio.voice")
    duration = audio.evaluate(
        """a => new Promise((done, failed) => {
             if (a.readyState >= 1) { done(a.duration); return; }
             a.addEventListener('loadedmetadata', () => done(a.duration));
             a.addEventListener('error', () => failed(String(a.error && a.error.code)));
             a.load();
           })""")
    assert math.isfinite(duration) and abs(duration - VOICE_SECONDS) < 0.1
    seekable_end = audio.evaluate("a => a.seekable.length ? a.seekable.end(0) : 0")
    assert seekable_end > VOICE_SECONDS - 0.1  # the console answers range requests
    played = audio.evaluate(
        """a => new Promise(done => {
             a.muted = true;
             a.currentTime = 2.0;
             a.addEventListener('timeupdate', () => done(a.currentTime), {once: true});
             a.play();
           })""")
    assert played >= 2.0
    audio.evaluate("a => { a.pause(); a.muted = false; a.currentTime = 0; }")
    screenshot(page, "call")
