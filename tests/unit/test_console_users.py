"""Người dùng (/users): the admin's page of accounts and the audit log, through the app
in process on the in-memory users store: the list, adding a user and its refusals, new
passwords, roles, disabling (the user's open session ends), 403 for non-admins, CSRF."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from httpx import AsyncClient, Response
from starlette.applications import Starlette

from calllog.users import AuditEntry, InMemoryUserStore, Role, User
from console.accounts import Accounts
from console.casework import Refused
from console.passwords import verify_password
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import (
    PASSWORD,
    add_user,
    client,
    console_app,
    csrf_of,
    log_in,
)

TU_PHAP = "Sở Tư pháp"
NEW_PASSWORD = "mật khẩu mới của an 2026"
OTHER_ADDRESS = "192.0.2.77"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9AM_ICT, running=False)


@pytest_asyncio.fixture
async def users(clock: FakeClock) -> InMemoryUserStore:
    users = InMemoryUserStore()
    await add_user(users, clock, "quantri", Role.ADMIN)
    await add_user(users, clock, "lan", Role.OPERATOR)
    await add_user(users, clock, "an", Role.AGENCY, TU_PHAP)
    await add_user(users, clock, "minh", Role.VIEWER)
    return users


@pytest.fixture
def app(users: InMemoryUserStore, clock: FakeClock) -> Starlette:
    return console_app(users, clock)


@pytest_asyncio.fixture
async def admin(app: Starlette) -> AsyncIterator[AsyncClient]:
    async with client(app) as http:
        assert (await log_in(http, "quantri")).status_code == 303
        yield http


async def _id(users: InMemoryUserStore, username: str) -> int:
    user = await users.by_name(username)
    assert user is not None
    return user.id


async def _user(users: InMemoryUserStore, username: str) -> User:
    user = await users.by_name(username)
    assert user is not None
    return user


async def _post(http: AsyncClient, path: str, **fields: str) -> Response:
    token = await csrf_of(http, "/users")
    return await http.post(path, data={**fields, "csrf_token": token})


def _rows(page: str, table_class: str) -> list[str]:
    table = re.split(rf'class="case-table[^"]*\b{table_class}\b[^"]*"', page)[1].split(
        "</table>")[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1], re.S)


async def test_the_admin_sees_every_user_in_vietnamese_with_dd_mm_yyyy_dates(
    admin: AsyncClient,
) -> None:
    page = await admin.get("/users")
    assert page.status_code == 200
    assert "<h1>Người dùng</h1>" in page.text
    rows = {re.search(r'href="/users/\d+">([^<]+)<', r).group(1): r  # type: ignore[union-attr]
            for r in _rows(page.text, "users-table")}
    assert list(rows) == ["an", "lan", "minh", "quantri"]
    assert "Cơ quan" in rows["an"] and TU_PHAP in rows["an"]
    assert "Tổ vận hành" in rows["lan"] and "Theo dõi" in rows["minh"]
    assert "Quản trị" in rows["quantri"] and "(quý vị)" in rows["quantri"]
    assert all("Đang hoạt động" in r and r.count("05/01/2026") == 2 for r in rows.values())


async def test_the_page_lists_the_last_50_refusals_newest_first(
    admin: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    for n in range(60):
        await users.audit(AuditEntry(clock.now() + timedelta(minutes=n), "lan", "10.0.0.9",
                                     "login_failed", f"thử {n}"))
    rows = _rows((await admin.get("/users")).text, "refusals-table")
    assert len(rows) == 50
    assert "thử 59" in rows[0] and "thử 10" in rows[-1]
    # 9:59 in Hậu Giang is 02:59 UTC: shown in the province's time
    assert "05/01/2026 09:59" in rows[0] and "Đăng nhập sai" in rows[0]
    assert "10.0.0.9" in rows[0] and "lan" in rows[0]


async def test_a_change_stays_in_sight_whatever_the_number_of_refusals_after_it(
    admin: AsyncClient, app: Starlette, users: InMemoryUserStore
) -> None:
    lan = await _id(users, "lan")
    assert (await _post(admin, f"/users/{lan}/password", password=NEW_PASSWORD,
                        password_again=NEW_PASSWORD)).status_code == 303
    async with client(app, address="203.0.113.9") as visitor:
        for _ in range(60):
            await visitor.post("/" + "A" * 4000)
        for i in range(60):
            await log_in(visitor, f"khong-co-{i}", password="sai mật khẩu")
    async with client(app) as viewer:
        await log_in(viewer, "minh")
        for _ in range(60):
            await viewer.get("/users")  # forbidden: audited, as a refusal
    page = (await admin.get("/users")).text
    changes = _rows(page, "changes-table")
    assert any("Đặt mật khẩu mới" in row and "lan" in row for row in changes)
    assert all("Từ chối" not in row and "Đăng nhập sai" not in row for row in changes)
    assert "Từ chối: không có quyền" in _rows(page, "refusals-table")[0]
    assert max(len(e.detail) for e in users.entries) <= 200


async def test_the_audit_list_names_logins_with_their_address(admin: AsyncClient) -> None:
    rows = _rows((await admin.get("/users")).text, "changes-table")
    assert "Đăng nhập" in rows[0] and "quantri" in rows[0] and "192.0.2.10" in rows[0]


async def test_adding_an_agency_user_stores_it_and_audits_who_when_from_where(
    admin: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    answer = await _post(admin, "/users", username="tuphap2", role="agency",
                         agency=TU_PHAP, password=PASSWORD, password_again=PASSWORD)
    assert answer.status_code == 303
    added = await _user(users, "tuphap2")
    assert answer.headers["location"] == f"/users?done=added&id={added.id}"
    assert (added.role, added.agency, added.active) == (Role.AGENCY, TU_PHAP, True)
    assert verify_password(added.password_hash, PASSWORD)
    assert users.entries[-1] == AuditEntry(clock.now(), "quantri", "192.0.2.10",
                                           "user_added", f"tuphap2: agency ({TU_PHAP})")
    page = (await admin.get(answer.headers["location"])).text
    assert "Đã thêm người dùng." in page and "just-added" in page


@pytest.mark.parametrize(("fields", "message"), [
    ({"role": "agency", "agency": ""}, "phải thuộc một cơ quan"),
    ({"role": "agency", "agency": "Sở Không Có"}, "không có trong cấu hình"),
    ({"role": "viewer", "agency": TU_PHAP}, "hãy để trống ô Cơ quan"),
    ({"role": "boss"}, "Vui lòng chọn vai trò."),
    ({"password": "ngắn", "password_again": "ngắn"}, "ít nhất 10 ký tự"),
    ({"password_again": "mật khẩu khác hẳn"}, "không khớp"),
    ({"username": "lan"}, "Tên đăng nhập «lan» đã có"),
    ({"username": "   "}, "từ 1 đến 64 ký tự"),
    ({"password": " " * 12, "password_again": " " * 12}, "chỉ gồm khoảng trắng"),
    ({"username": "nguoidung-moi", "password": "Nguoidung-Moi",
      "password_again": "Nguoidung-Moi"}, "trùng với tên đăng nhập"),
], ids=["agency-missing", "agency-unknown", "agency-for-viewer", "role-unknown",
        "password-short", "passwords-differ", "name-taken", "name-empty",
        "password-blank", "password-is-name"])
async def test_adding_a_user_refuses_what_breaks_a_rule_in_vietnamese(
    admin: AsyncClient, users: InMemoryUserStore, fields: dict[str, str], message: str
) -> None:
    form = {"username": "moi", "role": "operator", "agency": "", "password": PASSWORD,
            "password_again": PASSWORD, **fields}
    answer = await _post(admin, "/users", **form)
    assert answer.status_code == 400
    assert message in answer.text and 'role="alert"' in answer.text
    assert await users.by_name(form["username"].strip()) is None or form["username"] == "lan"
    assert len(await users.all_users()) == 4
    assert users.entries[-1].action == "user_change_refused"
    if form["username"].strip() != "lan":
        assert f'value="{form["username"].strip()}"' in answer.text  # kept for correcting


async def test_a_new_password_ends_the_users_sessions_and_the_new_one_works(
    app: Starlette, admin: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    async with client(app, OTHER_ADDRESS) as an:
        await log_in(an, "an")
        assert (await an.get("/")).status_code == 200
        clock.advance(60)
        target = await _id(users, "an")
        answer = await _post(admin, f"/users/{target}/password", password=NEW_PASSWORD,
                             password_again=NEW_PASSWORD)
        assert answer.headers["location"] == f"/users/{target}?done=password"
        assert (await an.get("/")).headers["location"] == "/login"
        assert (await log_in(an, "an")).status_code == 401
        assert (await log_in(an, "an", NEW_PASSWORD)).status_code == 303
    assert [e for e in users.entries if e.action == "password_changed"] == [
        AuditEntry(clock.now(), "quantri", "192.0.2.10", "password_changed", "an")]


async def test_the_admins_own_new_password_keeps_their_session(
    admin: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    clock.advance(60)
    me = await _id(users, "quantri")
    await _post(admin, f"/users/{me}/password", password=NEW_PASSWORD,
                password_again=NEW_PASSWORD)
    assert (await admin.get("/users")).status_code == 200
    assert verify_password((await _user(users, "quantri")).password_hash, NEW_PASSWORD)


async def test_a_disabled_users_open_session_ends_at_their_next_request(
    app: Starlette, admin: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    async with client(app, OTHER_ADDRESS) as lan:
        await log_in(lan, "lan")
        assert (await lan.get("/")).status_code == 200
        target = await _id(users, "lan")
        answer = await _post(admin, f"/users/{target}/active", active="0")
        assert answer.headers["location"] == f"/users/{target}?done=disabled"
        assert not (await _user(users, "lan")).active
        home = await lan.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/login")
        assert (await log_in(lan, "lan")).status_code == 401
        page = (await admin.get("/users")).text
        assert "Đã vô hiệu hóa" in next(r for r in _rows(page, "users-table") if ">lan<" in r)
        clock.advance(60)
        await _post(admin, f"/users/{target}/active", active="1")
        assert (await _user(users, "lan")).active
        assert (await log_in(lan, "lan")).status_code == 303
    actions = [(e.action, e.username, e.detail) for e in users.entries
               if e.action.startswith("user_")]
    assert actions == [("user_disabled", "quantri", "lan"), ("user_enabled", "quantri", "lan")]


async def test_an_admin_cannot_disable_or_demote_themself(
    admin: AsyncClient, users: InMemoryUserStore
) -> None:
    me = await _id(users, "quantri")
    page = (await admin.get(f"/users/{me}")).text
    assert "không thể tự vô hiệu hóa" in page and 'action="/users/{me}/active"' not in page
    answer = await _post(admin, f"/users/{me}/active", active="0")
    assert answer.status_code == 400 and "không thể tự vô hiệu hóa" in answer.text
    answer = await _post(admin, f"/users/{me}/role", role="operator", agency="")
    assert answer.status_code == 400 and "không thể tự đổi vai trò" in answer.text
    assert (await _user(users, "quantri")).role is Role.ADMIN
    assert (await _user(users, "quantri")).active
    assert users.entries[-1].action == "user_change_refused"


async def test_the_last_active_admin_is_never_disabled_or_demoted(
    users: InMemoryUserStore, clock: FakeClock
) -> None:
    # Through the page an admin only reaches another admin, so there are two; the
    # last one is met when two admins act at once: the second change is refused.
    accounts = Accounts(users)
    await add_user(users, clock, "quantri2", Role.ADMIN)
    first, second = await _user(users, "quantri"), await _user(users, "quantri2")
    await accounts.set_active(first, second, active=False, at=clock.now())
    with pytest.raises(Refused, match="quản trị viên cuối cùng"):
        await accounts.set_active(second, first, active=False, at=clock.now())
    with pytest.raises(Refused, match="quản trị viên cuối cùng"):
        await accounts.set_role(second, first, role="viewer", agency="", agencies=(),
                                at=clock.now())
    assert (await _user(users, "quantri")).active


async def test_changing_a_role_binds_or_unbinds_the_agency(
    admin: AsyncClient, users: InMemoryUserStore
) -> None:
    target = await _id(users, "minh")
    answer = await _post(admin, f"/users/{target}/role", role="agency", agency=TU_PHAP)
    assert answer.headers["location"] == f"/users/{target}?done=role"
    assert ((await _user(users, "minh")).role, (await _user(users, "minh")).agency) == (
        Role.AGENCY, TU_PHAP)
    assert users.entries[-1].detail == f"minh: viewer -> agency ({TU_PHAP})"
    refused = await _post(admin, f"/users/{target}/role", role="operator", agency=TU_PHAP)
    assert refused.status_code == 400 and "hãy để trống ô Cơ quan" in refused.text
    await _post(admin, f"/users/{target}/role", role="operator", agency="")
    assert ((await _user(users, "minh")).role, (await _user(users, "minh")).agency) == (
        Role.OPERATOR, None)


async def test_an_unknown_user_is_404(admin: AsyncClient) -> None:
    assert (await admin.get("/users/999")).status_code == 404
    assert (await _post(admin, "/users/999/active", active="0")).status_code == 404


POSTS = [("/users", {"username": "x", "role": "viewer", "password": PASSWORD,
                     "password_again": PASSWORD}),
         ("/users/{id}/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}),
         ("/users/{id}/role", {"role": "admin", "agency": ""}),
         ("/users/{id}/active", {"active": "0"})]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AGENCY, Role.VIEWER])
async def test_non_admins_get_the_403_page_for_every_users_route(
    app: Starlette, users: InMemoryUserStore, role: Role
) -> None:
    name = {Role.OPERATOR: "lan", Role.AGENCY: "an", Role.VIEWER: "minh"}[role]
    target = await _id(users, "quantri")
    before = await users.all_users()
    async with client(app) as http:
        await log_in(http, name)
        token = await csrf_of(http, "/")
        for path in ("/users", f"/users/{target}"):
            answer = await http.get(path)
            assert answer.status_code == 403 and "không có quyền" in answer.text
        for path, fields in POSTS:
            answer = await http.post(path.format(id=target),
                                     data={**fields, "csrf_token": token})
            assert answer.status_code == 403 and "không có quyền" in answer.text
            assert users.entries[-1].action == "forbidden"
    assert await users.all_users() == before


@pytest.mark.parametrize(("path", "fields"), POSTS, ids=[p for p, _ in POSTS])
@pytest.mark.parametrize("token", [None, "đoán-bừa"], ids=["no-token", "wrong-token"])
async def test_every_users_post_needs_the_csrf_token(
    admin: AsyncClient, users: InMemoryUserStore, path: str, fields: dict[str, str],
    token: str | None,
) -> None:
    target = await _id(users, "lan")
    before = await users.all_users()
    data = fields if token is None else {**fields, "csrf_token": token}
    answer = await admin.post(path.format(id=target), data=data)
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert users.entries[-1].action == "csrf_refused"
    assert await users.all_users() == before


async def test_a_visitor_is_sent_to_log_in(app: Starlette) -> None:
    async with client(app) as http:
        answer = await http.get("/users")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
