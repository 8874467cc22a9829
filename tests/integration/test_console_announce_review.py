"""The console's side of issue 17, items 5 and 6, on a real database (SQLite and
PostgreSQL): the Thông báo page (operators and admins; CSRF; every switch recorded), the
wallboard showing the announcement in force, and the review recording of a call (played
by operators and admins with Range requests; refused to agency users)."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.announcements import AnnouncementStore
from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallEvent, CallRecord, Outcome
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import Role, UserStore
from console.announce import AnnouncePage, AudioRefused, install_announce_page
from console.app import create_app
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, csrf_of, hotline_config, log_in

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 07/12/2026 09:00 in Vietnam
TC = "Sở Tài chính"


def _until(text: str, now: datetime) -> datetime:
    if text != "07/12/2026 17:00":
        raise AudioRefused("hết hạn không đọc được")
    return datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _from_wav(data: bytes) -> str:
    if not data.startswith(b"RIFF"):
        raise AudioRefused("tệp ghi âm phải là tệp WAV")
    return "override-wav"


@dataclass
class Setup:
    sessions: async_sessionmaker[AsyncSession]
    users: UserStore
    clock: FakeClock
    recordings: Path

    def http(self) -> httpx.AsyncClient:
        app = create_app(users=self.users, config=hotline_config(), clock=self.clock,
                         secret=SECRET, queries=CallQueries(self.sessions),
                         recordings=self.recordings)
        install_announce_page(app, AnnouncePage(
            AnnouncementStore(self.sessions), from_text=lambda text: "override-text",
            from_wav=_from_wav, parse_until=_until))
        return client(app)

    async def signed_in(self, username: str, role: Role,
                        agency: str | None = None) -> httpx.AsyncClient:
        await add_user(self.users, self.clock, username, role, agency)
        http = self.http()
        assert (await log_in(http, username)).status_code == 303
        return http


@pytest_asyncio.fixture
async def setup(db_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        yield Setup(sessions, UserStore(sessions), FakeClock(T0, running=False), tmp_path)
    finally:
        await engine.dispose()


async def test_operator_switches_the_announcement_on_and_off_and_each_switch_is_kept(
    setup: Setup,
) -> None:
    http = await setup.signed_in("lan", Role.OPERATOR)
    token = await csrf_of(http, "/announce")
    on = await http.post("/announce", data={
        "csrf_token": token, "text": "Chiều nay tổng đài nghỉ.", "until": "07/12/2026 17:00",
        "mode": "replace_menu"})
    assert on.status_code == 303
    page = await http.get("/announce")
    assert 'data-announcement="on"' in page.text and "Chiều nay tổng đài nghỉ." in page.text
    assert "07/12/2026 17:00" in page.text
    wallboard = await http.get("/wallboard")
    assert "Đang phát thông báo thay menu" in wallboard.text
    store = AnnouncementStore(setup.sessions)
    latest = await store.latest()
    assert latest is not None and (latest.by, latest.media, latest.on) == (
        "lan", "override-text", True)

    assert (await http.post("/announce/off", data={"csrf_token": token})).status_code == 303
    assert 'data-announcement="off"' in (await http.get("/announce")).text
    assert "Đang phát thông báo" not in (await http.get("/wallboard")).text
    assert [s.on for s in await store.history()] == [False, True]
    audit = await setup.users.recent_audit()
    assert [e.action for e in audit[:2]] == ["announcement_off", "announcement_on"]


async def test_the_announcement_expires_on_the_clock(setup: Setup) -> None:
    http = await setup.signed_in("lan", Role.OPERATOR)
    token = await csrf_of(http, "/announce")
    await http.post("/announce", data={"csrf_token": token, "text": "Thử",
                                       "until": "07/12/2026 17:00"})
    setup.clock.advance(timedelta(hours=8).total_seconds())
    assert 'data-announcement="off"' in (await http.get("/announce")).text


async def test_a_bad_upload_or_expiry_is_refused_in_vietnamese(setup: Setup) -> None:
    http = await setup.signed_in("lan", Role.OPERATOR)
    token = await csrf_of(http, "/announce")
    bad = await http.post("/announce", data={"csrf_token": token, "until": "07/12/2026 17:00"},
                          files={"file": ("a.mp3", b"ID3....", "audio/mpeg")})
    assert bad.status_code == 400 and "tệp ghi âm phải là tệp WAV" in bad.text
    late = await http.post("/announce", data={"csrf_token": token, "text": "x", "until": "mai"})
    assert late.status_code == 400 and "hết hạn không đọc được" in late.text
    assert await AnnouncementStore(setup.sessions).latest() is None


async def test_agency_users_and_viewers_may_not_announce_and_a_post_needs_csrf(
    setup: Setup,
) -> None:
    for name, role, agency in (("tc", Role.AGENCY, TC), ("ld", Role.VIEWER, None)):
        http = await setup.signed_in(name, role, agency)
        assert (await http.get("/announce")).status_code == 403
        token = await csrf_of(http, "/")
        refused = await http.post("/announce/off", data={"csrf_token": token})
        assert refused.status_code == 403
    operator = await setup.signed_in("lan", Role.OPERATOR)
    assert (await operator.post("/announce/off", data={})).status_code == 403
    assert await AnnouncementStore(setup.sessions).latest() is None


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x10\x00" * 16000)


async def _recorded_call(setup: Setup) -> None:
    store = CallLogStore(setup.sessions)
    await store.save(CallRecord(call_id="1733540000.7", caller_number="0901234567",
                                started_at=T0, ended_at=T0 + timedelta(minutes=2),
                                branch_key=6, agency=TC, outcome=Outcome.CONNECTED))
    await store.append_event(CallEvent(call_id="1733540000.7", at=T0, kind="review_recording",
                                       detail={"name": "review-1733540000-7"}))
    _wav(setup.recordings / "review-1733540000-7.wav")


async def test_operator_plays_the_review_recording_with_range_requests(setup: Setup) -> None:
    await _recorded_call(setup)
    http = await setup.signed_in("lan", Role.OPERATOR)
    page = await http.get("/calls/1733540000.7")
    assert 'src="/calls/1733540000.7/review-recording"' in page.text
    assert "Bắt đầu ghi âm cuộc gọi" in page.text  # the timeline names it
    part = await http.get("/calls/1733540000.7/review-recording",
                          headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100


async def test_agency_user_sees_its_call_but_not_its_review_recording(setup: Setup) -> None:
    await _recorded_call(setup)
    http = await setup.signed_in("tc", Role.AGENCY, TC)
    page = await http.get("/calls/1733540000.7")
    assert page.status_code == 200 and "review-recording" not in page.text
    assert (await http.get("/calls/1733540000.7/review-recording")).status_code == 403


async def test_a_purged_review_recording_says_so(setup: Setup) -> None:
    await _recorded_call(setup)
    (setup.recordings / "review-1733540000-7.wav").unlink()
    await CallLogStore(setup.sessions).append_event(CallEvent(
        call_id="1733540000.7", at=T0 + timedelta(days=91), kind="review_recording_purged",
        detail={"name": "review-1733540000-7"}))
    http = await setup.signed_in("lan", Role.OPERATOR)
    page = await http.get("/calls/1733540000.7")
    assert "đã được xóa khi hết thời hạn lưu" in page.text
    assert (await http.get("/calls/1733540000.7/review-recording")).status_code == 404
