"""The calls pages (/calls, /calls/{id}, its recording) through the console app in
process, on a real call log (SQLite and PostgreSQL): filters, paging, agency scoping,
the timeline in Vietnamese, range requests on the voice message, traversal refused."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.db import make_engine, make_sessionmaker
from calllog.model import Callback, CallEvent, CallRecord, Case, Outcome, SurveyResult
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import Role, UserStore
from console.app import create_app
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, hotline_config, log_in

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 07/12/2026 09:00 in Vietnam
VP = "Văn phòng UBND tỉnh"
TC = "Sở Tài chính"


@dataclass
class Setup:
    sessions: async_sessionmaker[AsyncSession]
    store: CallLogStore
    users: UserStore
    clock: FakeClock
    recordings: Path

    def http(self) -> httpx.AsyncClient:
        app = create_app(users=self.users, config=hotline_config(), clock=self.clock,
                         secret=SECRET, queries=CallQueries(self.sessions),
                         recordings=self.recordings)
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
    recordings = tmp_path / "recording"
    recordings.mkdir()
    try:
        yield Setup(sessions, CallLogStore(sessions, case_deadline=lambda at: at
                                           + timedelta(days=14)),
                    UserStore(sessions), FakeClock(T0 + timedelta(hours=3)), recordings)
    finally:
        await engine.dispose()


def call(call_id: str, minutes: int, number: str = "0901234567", **fields: object) -> CallRecord:
    record = CallRecord(call_id=call_id, caller_number=number,
                        started_at=T0 + timedelta(minutes=minutes),
                        ended_at=T0 + timedelta(minutes=minutes, seconds=90))
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def write_wav(path: Path, seconds: float = 2.0) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x10\x00" * int(8000 * seconds))


async def seed(setup: Setup) -> None:
    for record in (
        call("a.1", 0, "0901111111", branch_key=4, branch_name="Cải cách thủ tục hành chính",
             agency=VP, outcome=Outcome.CONNECTED, desk_answered="1401"),
        call("b.2", 10, "0901111111", branch_key=4, agency=VP,
             outcome=Outcome.DESK_UNREACHABLE, callback=Callback.PENDING,
             recording="vm-b-2", recording_seconds=2),
        call("c.3", 20, "0912333333", branch_key=6, agency=TC, outcome=Outcome.CONNECTED),
        call("d.4", 60 * 24 + 5, "0987654321", caller_agency=VP, outcome=Outcome.CLOSED),
    ):
        await setup.store.save(record)


async def test_search_filters_by_period_number_branch_agency_and_outcome(
    setup: Setup,
) -> None:
    await seed(setup)
    http = await setup.signed_in("lan", Role.OPERATOR)

    async def found(**params: str) -> list[str]:
        page = await http.get("/calls", params=params)
        assert page.status_code == 200, page.text
        return [c for c in ("a.1", "b.2", "c.3", "d.4") if f'href="/calls/{c}"' in page.text]

    assert await found() == ["a.1", "b.2", "c.3", "d.4"]
    assert await found(**{"from": "07/12/2026", "to": "07/12/2026"}) == ["a.1", "b.2", "c.3"]
    assert await found(**{"from": "08/12/2026"}) == ["d.4"]
    assert await found(number="0901") == ["a.1", "b.2"]
    assert await found(number="0912 333 333") == ["c.3"]
    assert await found(branch="6") == ["c.3"]
    assert await found(agency=VP) == ["a.1", "b.2", "d.4"]  # to it, and from its station
    assert await found(outcome="desk_unreachable") == ["b.2"]
    page = await http.get("/calls", params={"agency": TC})
    assert "Tìm thấy <strong>1</strong> cuộc gọi" in page.text
    assert "Cán bộ bận hoặc không nghe máy" in (await http.get("/calls")).text


async def test_a_mistyped_date_is_said_in_vietnamese(setup: Setup) -> None:
    http = await setup.signed_in("lan", Role.OPERATOR)
    page = await http.get("/calls", params={"from": "2026-12-07"})
    assert page.status_code == 400
    assert "Từ ngày “2026-12-07” không đúng dạng ngày/tháng/năm." in page.text


async def test_search_pages_newest_first_with_the_total(setup: Setup) -> None:
    for n in range(55):
        await setup.store.save(call(f"p.{n:02d}", n))
    http = await setup.signed_in("lan", Role.OPERATOR)
    first = await http.get("/calls")
    assert "Tìm thấy <strong>55</strong> cuộc gọi, trang 1/2" in first.text
    assert first.text.index('href="/calls/p.54"') < first.text.index('href="/calls/p.05"')
    assert 'href="/calls/p.04"' not in first.text
    assert 'href="/calls?page=2" rel="next"' in first.text
    second = await http.get("/calls", params={"page": "2"})
    assert [f"p.{n:02d}" for n in range(5) if f'href="/calls/p.{n:02d}"' in second.text] == [
        "p.00", "p.01", "p.02", "p.03", "p.04"]
    assert 'href="/calls/p.05"' not in second.text
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text


async def test_an_agency_user_searches_only_its_agencys_calls(setup: Setup) -> None:
    await seed(setup)
    http = await setup.signed_in("vp", Role.AGENCY, VP)
    page = await http.get("/calls")
    assert page.status_code == 200
    assert 'href="/calls/c.3"' not in page.text
    assert all(f'href="/calls/{c}"' in page.text for c in ("a.1", "b.2", "d.4"))
    assert 'href="/calls/c.3"' not in (await http.get("/calls", params={"branch": "6"})).text


async def test_an_agency_user_asking_for_another_agencys_calls_is_refused(
    setup: Setup,
) -> None:
    await seed(setup)
    http = await setup.signed_in("vp", Role.AGENCY, VP)
    refused = await http.get("/calls", params={"agency": TC})
    assert refused.status_code == 403
    assert "không có quyền" in refused.text


async def test_an_agency_user_is_refused_another_agencys_call_and_its_recording(
    setup: Setup,
) -> None:
    await seed(setup)
    await setup.store.save(call("e.5", 30, agency=TC, recording="vm-e-5"))
    write_wav(setup.recordings / "vm-e-5.wav")
    http = await setup.signed_in("tc", Role.AGENCY, TC)
    assert (await http.get("/calls/c.3")).status_code == 200
    assert (await http.get("/calls/e.5/recording")).status_code == 200
    for path in ("/calls/a.1", "/calls/b.2", "/calls/d.4"):
        assert (await http.get(path)).status_code == 403, path
    write_wav(setup.recordings / "vm-b-2.wav")
    assert (await http.get("/calls/b.2/recording")).status_code == 403


async def test_a_viewer_is_refused_the_calls_pages(setup: Setup) -> None:
    await seed(setup)
    http = await setup.signed_in("xem", Role.VIEWER)
    for path in ("/calls", "/calls/a.1", "/calls/b.2/recording"):
        assert (await http.get(path)).status_code == 403, path


async def test_a_visitor_not_logged_in_is_led_to_the_login_page(setup: Setup) -> None:
    await seed(setup)
    async with setup.http() as http:
        for path in ("/calls", "/calls/a.1", "/calls/b.2/recording"):
            response = await http.get(path)
            assert (response.status_code, response.headers["location"]) == (303, "/login")


async def test_a_calls_page_shows_its_row_timeline_cases_and_earlier_calls(
    setup: Setup,
) -> None:
    await seed(setup)
    c = "a.1"
    at = T0
    events = [
        ("answered", {}), ("prompt", {"playback": "menu-1", "prompts": "welcome,menu"}),
        ("digit", {"digit": "4", "attempt": 1}),
        ("branch", {"key": 4, "agency": VP, "chosen": "caller"}),
        ("desk_dial", {"desk": "1401", "channel": "x", "timeout": 20}),
        ("desk_result", {"desk": "1402", "dialstatus": "BUSY", "cause": 17, "detail": "Busy"}),
        ("desk_result", {"desk": "1401", "dialstatus": "ANSWER", "cause": None,
                         "detail": "answered"}),
        ("bridged", {"desk": "1401", "bridge": "b"}),
        ("survey", {"result": "answered", "score": 5, "scale": 5}),
        ("ended", {"outcome": "connected", "hangup_by": "caller", "cause": 16}),
    ]
    for n, (kind, detail) in enumerate(events):
        await setup.store.append_event(CallEvent(call_id=c, at=at + timedelta(seconds=n),
                                                 kind=kind, detail=detail))
    record = await setup.store.get(c)
    assert record is not None
    record.survey, record.survey_score = SurveyResult.ANSWERED, 5
    await setup.store.save(record)
    await setup.store.save(call("z.0", -60 * 24 * 3, "0901111111", outcome=Outcome.CLOSED))
    opened = await setup.store.create_case(Case(id=None, call_id=c, category="Thủ tục",
                                              opened_at=T0, opened_by="lan"))
    http = await setup.signed_in("lan", Role.OPERATOR)
    page = await http.get(f"/calls/{c}")
    assert page.status_code == 200, page.text
    text = page.text
    for expected in (
        "07/12/2026 09:00", "4. Cải cách thủ tục hành chính", VP, "1401 (đã nghe)",
        "Đã kết nối với cán bộ phụ trách", "Đã chấm điểm: 5 điểm", "Không cần",
        "09:00:00", "Tổng đài nhấc máy", "Người gọi bấm phím</strong>: phím 4",
        "Phím 4: Cải cách thủ tục hành chính — Văn phòng UBND tỉnh",
        "máy 1402 — máy bận",
        "máy 1401 — nhấc máy", "Người gọi gác máy", "kết thúc bình thường, mã 16",
        "Đã chấm điểm: 5/5 điểm",
        f'href="/cases/{opened.id}"', "Đã tiếp nhận",
        'href="/calls/z.0"', "04/12/2026", 'href="/calls?number=0901111111"',
        f'href="/cases/new?call_id={c}"',
    ):
        assert expected in text, expected
    assert 'href="/calls/b.2"' not in text  # later, not earlier
    assert "<audio" not in text


async def test_the_voice_message_plays_with_range_requests(setup: Setup) -> None:
    await seed(setup)
    write_wav(setup.recordings / "vm-b-2.wav", seconds=2.0)
    size = (setup.recordings / "vm-b-2.wav").stat().st_size
    http = await setup.signed_in("lan", Role.OPERATOR)
    page = await http.get("/calls/b.2")
    assert '<audio class="voice" controls preload="metadata" src="/calls/b.2/recording"' \
        in page.text
    whole = await http.get("/calls/b.2/recording")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes" and len(whole.content) == size
    part = await http.get("/calls/b.2/recording", headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-299/{size}"
    assert part.content == whole.content[100:300]
    tail = await http.get("/calls/b.2/recording", headers={"Range": "bytes=-44"})
    assert tail.status_code == 206 and tail.content == whole.content[-44:]
    beyond = await http.get("/calls/b.2/recording", headers={"Range": f"bytes={size + 10}-"})
    assert beyond.status_code == 416


async def test_a_recording_is_served_only_by_the_name_in_the_calls_row(
    setup: Setup, tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.wav"
    write_wav(secret)
    await setup.store.save(call("t.1", 0, recording="../secret", agency=VP))
    await setup.store.save(call("t.2", 1, recording=str(tmp_path / "secret"), agency=VP))
    await setup.store.save(call("t.3", 2, agency=VP))  # no voice message
    await setup.store.save(call("t.4", 3, agency=VP, recording="vm-missing"))
    http = await setup.signed_in("lan", Role.OPERATOR)
    for path in ("/calls/t.1/recording", "/calls/t.2/recording", "/calls/t.3/recording",
                 "/calls/t.4/recording", "/calls/..%2Fsecret/recording",
                 "/calls/nope/recording", "/calls/t.1/../../secret.wav"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.content != secret.read_bytes()
    assert "Không tìm thấy tệp ghi âm" in (await http.get("/calls/t.4")).text


async def test_an_unknown_call_is_not_found(setup: Setup) -> None:
    http = await setup.signed_in("lan", Role.OPERATOR)
    assert (await http.get("/calls/khong-co")).status_code == 404


async def test_past_the_count_cap_the_page_says_more_than_and_pages_on(
    setup: Setup, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("console.calls.COUNT_CAP", 60)
    for n in range(105):
        await setup.store.save(call(f"p.{n:03d}", n))
    http = await setup.signed_in("lan", Role.OPERATOR)
    first = await http.get("/calls")
    assert "Tìm thấy hơn <strong>60</strong> cuộc gọi, trang 1." in first.text
    assert 'href="/calls?page=2" rel="next"' in first.text
    third = await http.get("/calls", params={"page": "3"})
    assert "Tìm thấy hơn <strong>60</strong> cuộc gọi, trang 3." in third.text
    assert 'href="/calls/p.000"' in third.text and 'rel="next"' not in third.text
