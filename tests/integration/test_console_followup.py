"""The console's Gọi lại and Phản ánh pages in process, on real SQLite and PostgreSQL:
call backs recorded, cases listed, opened and moved on, and the agency boundary."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio
from starlette.applications import Starlette

from calllog.db import make_engine, make_sessionmaker
from calllog.followup import CallbackActions
from calllog.model import CallRecord, Case, CaseStatus, Outcome
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import Role, UserStore
from console.app import create_app
from console.casework import FollowupWork, agencies_of
from routing.deadlines import case_deadline
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, csrf_of, hotline_config, log_in

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam
TU_PHAP, TAI_CHINH = "Sở Tư pháp", "Sở Tài chính"


@dataclass
class Env:
    app: Starlette
    store: CallLogStore
    clock: FakeClock
    users: UserStore

    async def as_user(self, username: str) -> httpx.AsyncClient:
        http = client(self.app)
        answer = await log_in(http, username)
        assert answer.status_code == 303, answer.text
        return http


@pytest_asyncio.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    config = hotline_config()
    clock = FakeClock(T0 + timedelta(hours=30), running=False)  # Tuesday 15:00
    store = CallLogStore(sessions, case_deadline=case_deadline(config))
    users = UserStore(sessions)
    app = create_app(users=users, config=config, clock=clock, secret=SECRET,
                     queries=CallQueries(sessions),
                     followup=FollowupWork(CallbackActions(sessions), store,
                                           agencies_of(config)))
    for name, role, agency in [("lan", Role.OPERATOR, None), ("xem", Role.VIEWER, None),
                               ("tuphap", Role.AGENCY, TU_PHAP),
                               ("taichinh", Role.AGENCY, TAI_CHINH)]:
        await add_user(users, clock, name, role, agency)
    try:
        yield Env(app, store, clock, users)
    finally:
        await engine.dispose()


def call(call_id: str, minutes: int, number: str = "0901234567", **fields: object) -> CallRecord:
    record = CallRecord(call_id=call_id, caller_number=number,
                        started_at=T0 + timedelta(minutes=minutes))
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def rows(html: str, tbody: int = 0) -> list[str]:
    """The text of each row of the page's n-th table body."""
    body = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)[tbody]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip()
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


async def post(http: httpx.AsyncClient, path: str, data: dict[str, str],
               token_from: str = "/") -> httpx.Response:
    return await http.post(path, data={**data, "csrf_token": await csrf_of(http, token_from)})


# --- call backs ------------------------------------------------------------------------

async def test_pending_call_backs_oldest_first_with_age_overdue_marked_no_number_absent(
    env: Env,
) -> None:
    for record in (call("old", 0, "0901000001", callback="pending",
                        outcome=Outcome.DESK_UNREACHABLE),
                   call("new", 60 * 28, "0901000002", callback="pending",
                        outcome=Outcome.CLOSED),
                   call("anon", 30, "anonymous", callback="no_number"),
                   call("served", 40, "0901000003", outcome=Outcome.CONNECTED)):
        await env.store.save(record)
    http = await env.as_user("lan")
    page = await http.get("/callbacks")
    assert page.status_code == 200
    pending = rows(page.text)
    assert len(pending) == 2 and "anonymous" not in page.text
    assert pending[0].startswith("0901000001 07/12/2026 09:00 1 ngày 6 giờ Quá hạn")
    assert pending[1].startswith("0901000002 08/12/2026 13:00 2 giờ")
    assert "Quá hạn" not in pending[1]
    assert re.search(r'<tr class="overdue" data-call="old">', page.text)
    assert re.search(r'<tr class="" data-call="new">', page.text)


async def test_a_reached_call_back_leaves_the_pending_list_with_who_and_when(
    env: Env,
) -> None:
    await env.store.save(call("x", 0, "0901000001", callback="pending"))
    http = await env.as_user("lan")
    done = await post(http, "/callbacks/x", {"result": "reached", "note": "đã hướng dẫn"},
                      "/callbacks")
    assert done.status_code == 303 and done.headers["location"] == "/callbacks?done=reached"
    page = await http.get("/callbacks?done=reached")
    assert "Đã ghi nhận: đã liên lạc được" in page.text
    assert rows(page.text) == [
        "0901000001 07/12/2026 09:00 08/12/2026 15:00 1 ngày 6 giờ lan Đã liên lạc được 1 "
        "đã hướng dẫn"]
    assert "Không có ai đang chờ gọi lại." in page.text
    again = await post(http, "/callbacks/x", {"result": "reached"}, "/callbacks")
    assert again.headers["location"] == "/callbacks?done=stale"


async def test_a_call_back_not_reached_stays_pending_with_its_attempts_shown(
    env: Env,
) -> None:
    await env.store.save(call("x", 0, "0901000001", callback="pending"))
    http = await env.as_user("lan")
    for _ in range(2):
        answer = await post(http, "/callbacks/x", {"result": "not_reached", "note": ""},
                            "/callbacks")
        assert answer.headers["location"] == "/callbacks?done=not_reached"
    pending = rows((await http.get("/callbacks")).text)
    assert len(pending) == 1
    assert "2 lần Không liên lạc được (lan, 08/12/2026 15:00)" in pending[0]
    wrong = await post(http, "/callbacks/x", {"result": "wrong_number"}, "/callbacks")
    assert wrong.headers["location"] == "/callbacks?done=wrong_number"
    page = await http.get("/callbacks")
    assert "Sai số 3" in rows(page.text)[0]


async def test_a_call_back_without_a_result_is_refused_and_nothing_recorded(env: Env) -> None:
    await env.store.save(call("x", 0, callback="pending"))
    http = await env.as_user("lan")
    answer = await post(http, "/callbacks/x", {"result": "", "note": "?"}, "/callbacks")
    assert answer.status_code == 400 and "Hãy chọn kết quả gọi lại." in answer.text
    assert "Chưa" in rows((await http.get("/callbacks")).text)[0]


async def test_agency_and_viewer_users_are_refused_the_call_backs_page_and_its_form(
    env: Env,
) -> None:
    await env.store.save(call("x", 0, callback="pending"))
    for username in ("tuphap", "xem"):
        http = await env.as_user(username)
        assert (await http.get("/callbacks")).status_code == 403
        refused = await post(http, "/callbacks/x", {"result": "reached"})
        assert refused.status_code == 403 and "không có quyền" in refused.text
    lan = await env.as_user("lan")
    assert "Chưa" in rows((await lan.get("/callbacks")).text)[0]


async def test_a_call_back_post_without_the_csrf_token_is_refused(env: Env) -> None:
    await env.store.save(call("x", 0, callback="pending"))
    http = await env.as_user("lan")
    refused = await http.post("/callbacks/x", data={"result": "reached"})
    assert refused.status_code == 403
    assert len(rows((await http.get("/callbacks")).text)) == 1


# --- cases -----------------------------------------------------------------------------

async def _case(env: Env, call_id: str, minutes: int, *, agency: str | None = None,
                status: CaseStatus = CaseStatus.RECEIVED) -> Case:
    await env.store.save(call(call_id, minutes, branch_name="Tài chính công",
                              agency=agency, outcome=Outcome.CONNECTED))
    at = T0 + timedelta(minutes=minutes)
    case = await env.store.create_case(Case(None, call_id, "Tài chính công", at, "lan"))
    if status is not CaseStatus.RECEIVED or agency is not None:
        case = await env.store.update_case(case.id or 0, status=CaseStatus.FORWARDED,
                                           by="lan", at=at, agency=agency or TAI_CHINH)
    if status in (CaseStatus.VERIFYING, CaseStatus.RESOLVED):
        case = await env.store.update_case(case.id or 0, status=CaseStatus.VERIFYING,
                                           by="lan", at=at)
    if status is CaseStatus.RESOLVED:
        case = await env.store.update_case(case.id or 0, status=status, by="lan", at=at,
                                           note="xong")
    return case


def codes(html: str) -> list[str]:
    return re.findall(r'<a href="/cases/\d+">(PA-[0-9-]+)</a>', html)


async def test_the_cases_list_filters_by_status_agency_overdue_and_period(env: Env) -> None:
    await _case(env, "a", -60 * 24 * 30, agency=TU_PHAP)                # 07/11, overdue
    await _case(env, "b", 0, agency=TAI_CHINH, status=CaseStatus.VERIFYING)  # 07/12
    await _case(env, "c", 60)                                                # 07/12
    await _case(env, "d", -60 * 24 * 40, status=CaseStatus.RESOLVED)  # late but done
    old = "PA-2026-00001"
    http = await env.as_user("lan")
    page = await http.get("/cases")
    assert codes(page.text) == ["PA-2026-00003", "PA-2026-00002", old, "PA-2026-00004"]
    assert "4 phản ánh" in page.text
    assert codes((await http.get("/cases?status=verifying")).text) == ["PA-2026-00002"]
    by_agency = (await http.get("/cases", params={"agency": TU_PHAP})).text
    assert codes(by_agency) == [old]
    overdue = (await http.get("/cases?overdue=1")).text
    assert codes(overdue) == [old] and "Quá hạn" in overdue
    assert 'class="overdue"' in overdue
    period = (await http.get("/cases?from=07/12/2026&to=07/12/2026")).text
    assert 'value="07/12/2026"' in period
    assert sorted(codes(period)) == ["PA-2026-00002", "PA-2026-00003"]
    bad = (await http.get("/cases?from=31/02/2026")).text
    assert "Ngày không hợp lệ" in bad and len(codes(bad)) == 4
    november = (await http.get("/cases?from=2026-11-01&to=2026-11-30")).text
    assert codes(november) == [old]
    first = rows((await http.get("/cases?status=received")).text)
    assert first == ["PA-2026-00003 07/12/2026 10:00 Điện thoại Tài chính công Đã tiếp nhận — "
                     "21/12/2026"]


async def test_a_case_opened_from_a_call_has_its_code_deadline_and_first_history(
    env: Env,
) -> None:
    await env.store.save(call("v", 0, "0907654321", branch_name="Tài chính công",
                              outcome=Outcome.DESK_UNREACHABLE, recording="vm-1-0",
                              callback="pending"))
    http = await env.as_user("lan")
    form = await http.get("/cases/new?call_id=v")
    assert form.status_code == 200
    assert "0907654321" in form.text and "Có (vm-1-0)" in form.text
    opened = await post(http, "/cases/open", {"call_id": "v", "note": "Hỏi về thuế đất"},
                        "/cases/new?call_id=v")
    assert opened.status_code == 303
    location = opened.headers["location"]
    page = await http.get(location)
    assert "Phản ánh PA-2026-00001" in page.text
    assert "Đã tiếp nhận" in page.text and "vm-1-0" in page.text
    assert re.search(r"Hạn xử lý</dt><dd>\d\d/12/2026", page.text)
    assert rows(page.text) == ["08/12/2026 15:00 lan Đã tiếp nhận Hỏi về thuế đất"]
    again = await post(http, "/cases/open", {"call_id": "v"}, "/cases/new?call_id=v")
    assert again.headers["location"] == location  # one case, not two by a double click
    missing = await http.get("/cases/new?call_id=khong-co")
    assert missing.status_code == 404 and "Không tìm thấy cuộc gọi này." in missing.text


async def test_a_case_moves_through_forwarded_and_verifying_to_resolved_with_its_history(
    env: Env,
) -> None:
    case = await _case(env, "a", 0)
    http = await env.as_user("lan")
    path = f"/cases/{case.id}"
    steps = [{"status": "forwarded", "agency": TAI_CHINH, "note": "chuyển Sở"},
             {"status": "verifying", "agency": "", "note": ""},
             {"status": "verifying", "agency": "", "note": "đã gọi người dân"},
             {"status": "resolved", "agency": "", "note": "đã trả lời"}]
    for step in steps:
        answer = await post(http, path, step, path)
        assert answer.status_code == 303, answer.text
    page = await http.get(path)
    assert rows(page.text) == [
        "07/12/2026 09:00 lan Đã tiếp nhận",
        f"08/12/2026 15:00 lan Đã chuyển cơ quan xử lý {TAI_CHINH} chuyển Sở",
        f"08/12/2026 15:00 lan Đang xác minh {TAI_CHINH}",
        f"08/12/2026 15:00 lan Đang xác minh {TAI_CHINH} đã gọi người dân",
        f"08/12/2026 15:00 lan Đã giải quyết {TAI_CHINH} đã trả lời",
    ]
    assert '<dd class="case-status">Đã giải quyết</dd>' in page.text


async def test_a_change_missing_its_required_field_is_refused_and_nothing_recorded(
    env: Env,
) -> None:
    case = await _case(env, "a", 0)
    http = await env.as_user("lan")
    path = f"/cases/{case.id}"
    refusals = [
        ({"status": "forwarded", "agency": ""}, "hãy chọn một cơ quan trong danh sách"),
        ({"status": "forwarded", "agency": "Sở Không Có"}, "hãy chọn một cơ quan"),
        ({"status": "rejected", "note": "  "}, "hãy ghi kết quả hoặc lý do"),
        ({"status": "resolved", "note": "sớm quá"}, "Không thể chuyển từ «Đã tiếp nhận»"),
        ({"status": "received", "note": ""}, "Hãy nhập ghi chú cần lưu."),
        ({"status": "mất tích"}, "Hãy chọn bước xử lý tiếp theo."),
    ]
    for data, message in refusals:
        answer = await post(http, path, {"agency": "", "note": "", **data}, path)
        assert answer.status_code == 400, data
        assert message in answer.text, data
    assert len(rows((await http.get(path)).text)) == 1
    await post(http, path, {"status": "forwarded", "agency": TAI_CHINH, "note": ""}, path)
    await post(http, path, {"status": "verifying", "agency": "", "note": ""}, path)
    resolve = await post(http, path, {"status": "resolved", "agency": "", "note": ""}, path)
    assert resolve.status_code == 400 and "hãy ghi kết quả" in resolve.text


async def test_an_agency_user_lists_only_its_agency_cases(env: Env) -> None:
    mine = await _case(env, "a", 0, agency=TU_PHAP)
    await _case(env, "b", 10, agency=TAI_CHINH)
    await _case(env, "c", 20)
    http = await env.as_user("tuphap")
    page = await http.get("/cases")
    assert codes(page.text) == ["PA-2026-00001"] and "1 phản ánh của Sở Tư pháp" in page.text
    asked = await http.get("/cases", params={"agency": TAI_CHINH})
    assert codes(asked.text) == ["PA-2026-00001"]  # the filter cannot widen the scope
    assert (await http.get(f"/cases/{mine.id}")).status_code == 200


async def test_an_agency_user_is_refused_another_agencys_case_on_view_and_every_post(
    env: Env,
) -> None:
    theirs = await _case(env, "b", 10, agency=TAI_CHINH)
    unassigned = await _case(env, "c", 20)
    mine = await _case(env, "a", 0, agency=TU_PHAP)
    http = await env.as_user("tuphap")
    for case in (theirs, unassigned):
        view = await http.get(f"/cases/{case.id}")
        assert view.status_code == 403
        assert "Tài khoản của quý vị không có quyền xem trang này." in view.text
        change = await post(http, f"/cases/{case.id}",
                            {"status": "verifying", "agency": "", "note": "x"})
        assert change.status_code == 403
    assert (await http.get("/cases/new?call_id=b")).status_code == 403
    opened = await post(http, "/cases/open", {"call_id": "b", "another": "1"})
    assert opened.status_code == 403
    give_away = await post(http, f"/cases/{mine.id}",
                           {"status": "verifying", "agency": "", "note": ""})
    assert give_away.status_code == 303
    away = await post(http, f"/cases/{mine.id}",
                      {"status": "forwarded", "agency": TAI_CHINH, "note": ""})
    assert away.status_code == 403
    lan = await env.as_user("lan")
    for case, history in ((theirs, 2), (unassigned, 1), (mine, 3)):
        assert len(rows((await lan.get(f"/cases/{case.id}")).text)) == history


async def test_an_agency_user_opens_a_case_for_its_own_call_and_keeps_it(env: Env) -> None:
    await env.store.save(call("own", 0, agency=TU_PHAP, outcome=Outcome.CONNECTED))
    http = await env.as_user("tuphap")
    opened = await post(http, "/cases/open", {"call_id": "own", "note": ""})
    assert opened.status_code == 303
    page = await http.get(opened.headers["location"])
    assert page.status_code == 200 and f"<dd>{TU_PHAP}</dd>" in page.text


async def test_a_viewer_is_refused_the_cases_pages_and_posts(env: Env) -> None:
    case = await _case(env, "a", 0)
    http = await env.as_user("xem")
    for path in ("/cases", f"/cases/{case.id}", "/cases/new?call_id=a"):
        assert (await http.get(path)).status_code == 403, path
    for path, data in ((f"/cases/{case.id}", {"status": "verifying"}),
                       ("/cases/open", {"call_id": "a"})):
        assert (await post(http, path, data)).status_code == 403, path


async def test_an_unknown_case_is_not_found(env: Env) -> None:
    http = await env.as_user("lan")
    missing = await http.get("/cases/999")
    assert missing.status_code == 404 and "Không tìm thấy phản ánh này." in missing.text


async def test_call_backs_and_case_changes_are_audited_with_who_and_from_where(
    env: Env,
) -> None:
    await env.store.save(call("x", 0, callback="pending", branch_name="Tài chính công"))
    http = await env.as_user("lan")
    await post(http, "/callbacks/x", {"result": "not_reached"})
    opened = await post(http, "/cases/open", {"call_id": "x", "note": ""})
    path = opened.headers["location"]
    await post(http, path, {"status": "forwarded", "agency": TAI_CHINH, "note": ""})
    await post(http, path, {"status": "resolved", "note": "sớm"})  # refused: not audited
    audit = [(e.action, e.username, e.address, e.detail)
             for e in reversed(await env.users.recent_audit(3))]
    case_id = path.rsplit("/", 1)[1]
    assert audit == [
        ("callback_recorded", "lan", "192.0.2.10", "call x: not_reached"),
        ("case_opened", "lan", "192.0.2.10", f"case {case_id} for call x"),
        ("case_changed", "lan", "192.0.2.10",
         f"case {case_id}: received -> forwarded ({TAI_CHINH})"),
    ]
