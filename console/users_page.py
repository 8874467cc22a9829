"""Người dùng: the console's accounts and the recent audit log, for admins only.

GET  /users                    every user, the form adding one, the last 50 changes and
                               logins, and apart from them the last 50 refusals
POST /users                    add a user (username, role, agency, password typed twice)
GET  /users/{id}               one user: a new password, role and agency, disable/enable
POST /users/{id}/password      set their password (their open sessions end)
POST /users/{id}/role          change their role and agency
POST /users/{id}/active        disable (`active=0`) or re-enable (`active=1`) them
POST /users/{id}/desk          bind them to a desk of the YAML (empty: to none); their
                               console then shows the call that desk answers (/my-desk)

Every route asks `Action.MANAGE_USERS` (others get the 403 page); every change and every
refused change is written to the audit log, which the list page shows in two lists, so
that a burst of refusals (failed logins, refused requests) never pushes a change out of
sight. A disabled user's
sessions stop at their next request (`console.auth.Auth.current_user` re-reads the user).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.users import Role, User
from console.access import Action, require
from console.accounts import Accounts
from console.auth import csrf_token
from console.casework import Refused, agencies_of
from console.config_page import config_in_force
from console.csrf import read_form
from console.pages import SECTIONS, sections_for
from console.passwords import MIN_LENGTH

if TYPE_CHECKING:
    from console.app import Console

SECTION = next(s for s in SECTIONS if s.path == "/users")
AUDIT_SHOWN = 50
AUDIT_LABELS = {
    "login": "Đăng nhập",
    "login_failed": "Đăng nhập sai",
    "login_limited": "Chặn đăng nhập (sai quá nhiều lần)",
    "logout": "Đăng xuất",
    "forbidden": "Từ chối: không có quyền",
    "csrf_refused": "Từ chối: thiếu mã xác thực biểu mẫu",
    "user_added": "Thêm người dùng",
    "password_changed": "Đặt mật khẩu mới",
    "role_changed": "Đổi vai trò",
    "user_disabled": "Vô hiệu hóa người dùng",
    "user_enabled": "Kích hoạt lại người dùng",
    "user_change_refused": "Từ chối thay đổi người dùng",
    "desk_bound": "Gán bàn làm việc",
    "callback_recorded": "Ghi nhận gọi lại",
    "case_opened": "Mở phản ánh",
    "case_changed": "Cập nhật phản ánh",
    "config_applied": "Áp dụng cấu hình",
}
REFUSALS = frozenset({"login_failed", "login_limited", "forbidden", "csrf_refused",
                      "user_change_refused"})
"""Audit actions listed apart from the changes and logins."""
NOTICES = {
    "added": "Đã thêm người dùng.",
    "password": "Đã đặt mật khẩu mới. Các phiên đăng nhập cũ của người dùng này đã kết thúc.",
    "role": "Đã đổi vai trò.",
    "disabled": "Đã vô hiệu hóa. Người dùng này không đăng nhập được nữa; phiên đang mở "
                "kết thúc ở lần tải trang tới.",
    "enabled": "Đã kích hoạt lại. Người dùng này đăng nhập lại được.",
    "desk": "Đã cập nhật bàn làm việc.",
}


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _agencies(console: Console) -> tuple[str, ...]:
    """The agencies of the YAML in force now (an agency just added to the file counts).
    Reading and validating the file takes a CPU-bound tenth of a second or more: off the
    event loop, so the wallboard's streams do not stall."""
    config, _, _ = await asyncio.to_thread(config_in_force, console)
    return agencies_of(config)


async def _desks(console: Console) -> tuple[str, ...]:
    """The desk extensions of the YAML in force now (off the event loop, as `_agencies`)."""
    config, _, _ = await asyncio.to_thread(config_in_force, console)
    return tuple(d.extension for d in config.desks)


async def _admin(request: Request) -> tuple[Console, User]:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.MANAGE_USERS)
    return console, user


async def users_page(request: Request) -> Response:
    console, user = await _admin(request)
    return await _list(request, console, user)


async def _list(request: Request, console: Console, user: User, status: int = 200,
                error: str | None = None, form: dict[str, str] | None = None) -> Response:
    return console.render(
        request, "users.html", status, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request),
        people=await console.auth.users.all_users(),
        audit=await console.auth.users.recent_audit(AUDIT_SHOWN, excluding=REFUSALS),
        refusals=await console.auth.users.recent_audit(AUDIT_SHOWN, actions=REFUSALS),
        audit_labels=AUDIT_LABELS, roles=list(Role), agencies=await _agencies(console),
        min_length=MIN_LENGTH, error=error, form=form or {},
        notice=NOTICES.get(request.query_params.get("done", "")),
        added=request.query_params.get("id", ""))


async def add_user(request: Request) -> Response:
    console, admin = await _admin(request)
    form = await read_form(request)
    wanted = {name: _text(form, name).strip() for name in ("username", "role", "agency")}
    try:
        added = await Accounts(console.auth.users).add(
            username=wanted["username"], role=wanted["role"], agency=wanted["agency"],
            password=_text(form, "password"), again=_text(form, "password_again"),
            agencies=await _agencies(console), at=console.clock.now())
    except Refused as exc:
        await _refused(request, console, admin, f"add {wanted['username']}", exc)
        return await _list(request, console, admin, 400, str(exc), wanted)
    await console.auth.record(
        request, "user_added", username=admin.username,
        detail=f"{added.username}: {added.role.value}"
               + (f" ({added.agency})" if added.agency else ""))
    return RedirectResponse(f"/users?done=added&id={added.id}", status_code=303)


async def _target(console: Console, request: Request) -> User | None:
    found: User | None = await console.auth.users.by_id(request.path_params["user_id"])
    return found


async def user_page(request: Request) -> Response:
    console, admin = await _admin(request)
    return await _one(request, console, admin, await _target(console, request))


async def _one(request: Request, console: Console, admin: User, target: User | None,
               status: int = 200, error: str | None = None,
               form: dict[str, str] | None = None) -> Response:
    if target is None:
        status = 404
    return console.render(
        request, "user.html", status, user=admin, section=SECTION,
        sections=sections_for(admin), csrf=csrf_token(request), person=target,
        roles=list(Role), agencies=await _agencies(console), desks=await _desks(console),
        min_length=MIN_LENGTH,
        itself=target is not None and target.id == admin.id, error=error,
        form=form or {}, notice=NOTICES.get(request.query_params.get("done", "")))


async def set_password(request: Request) -> Response:
    console, admin = await _admin(request)
    target = await _target(console, request)
    if target is None:
        return await _one(request, console, admin, None)
    form = await read_form(request)
    try:
        await Accounts(console.auth.users).set_password(
            target, password=_text(form, "password"), again=_text(form, "password_again"),
            at=console.clock.now())
    except Refused as exc:
        await _refused(request, console, admin, f"password of {target.username}", exc)
        return await _one(request, console, admin, target, 400, str(exc))
    await console.auth.record(request, "password_changed", username=admin.username,
                              detail=target.username)
    if target.id == admin.id:
        renewed = await console.auth.users.by_id(admin.id)
        if renewed is not None:
            console.auth.keep_session(request, renewed)
    return RedirectResponse(f"/users/{target.id}?done=password", status_code=303)


async def set_role(request: Request) -> Response:
    console, admin = await _admin(request)
    target = await _target(console, request)
    if target is None:
        return await _one(request, console, admin, None)
    form = await read_form(request)
    wanted = {name: _text(form, name).strip() for name in ("role", "agency")}
    try:
        await Accounts(console.auth.users).set_role(
            admin, target, role=wanted["role"], agency=wanted["agency"],
            agencies=await _agencies(console), at=console.clock.now())
    except Refused as exc:
        await _refused(request, console, admin, f"role of {target.username}", exc)
        return await _one(request, console, admin, target, 400, str(exc), wanted)
    was = target.role.value + (f" ({target.agency})" if target.agency else "")
    now = wanted["role"] + (f" ({wanted['agency']})" if wanted["agency"] else "")
    await console.auth.record(request, "role_changed", username=admin.username,
                              detail=f"{target.username}: {was} -> {now}")
    return RedirectResponse(f"/users/{target.id}?done=role", status_code=303)


async def set_active(request: Request) -> Response:
    console, admin = await _admin(request)
    target = await _target(console, request)
    if target is None:
        return await _one(request, console, admin, None)
    form = await read_form(request)
    active = _text(form, "active") == "1"
    try:
        await Accounts(console.auth.users).set_active(admin, target, active=active,
                                                      at=console.clock.now())
    except Refused as exc:
        what = "enable" if active else "disable"
        await _refused(request, console, admin, f"{what} {target.username}", exc)
        return await _one(request, console, admin, target, 400, str(exc))
    await console.auth.record(request, "user_enabled" if active else "user_disabled",
                              username=admin.username, detail=target.username)
    done = "enabled" if active else "disabled"
    return RedirectResponse(f"/users/{target.id}?done={done}", status_code=303)


async def set_desk(request: Request) -> Response:
    console, admin = await _admin(request)
    target = await _target(console, request)
    if target is None:
        return await _one(request, console, admin, None)
    form = await read_form(request)
    try:
        desk = await Accounts(console.auth.users).set_desk(
            target, desk=_text(form, "desk"), desks=await _desks(console),
            at=console.clock.now())
    except Refused as exc:
        await _refused(request, console, admin, f"desk of {target.username}", exc)
        return await _one(request, console, admin, target, 400, str(exc))
    await console.auth.record(request, "desk_bound", username=admin.username,
                              detail=f"{target.username}: {target.desk or '-'} -> {desk or '-'}")
    return RedirectResponse(f"/users/{target.id}?done=desk", status_code=303)


async def _refused(request: Request, console: Console, admin: User, what: str,
                   exc: Refused) -> None:
    await console.auth.record(request, "user_change_refused", username=admin.username,
                              detail=f"{what}: {exc}")


def routes() -> list[BaseRoute]:
    return [
        Route("/users", users_page, methods=["GET"], name="users"),
        Route("/users", add_user, methods=["POST"], name="add_user"),
        Route("/users/{user_id:int}", user_page, methods=["GET"], name="user"),
        Route("/users/{user_id:int}/password", set_password, methods=["POST"],
              name="user_password"),
        Route("/users/{user_id:int}/role", set_role, methods=["POST"], name="user_role"),
        Route("/users/{user_id:int}/active", set_active, methods=["POST"],
              name="user_active"),
        Route("/users/{user_id:int}/desk", set_desk, methods=["POST"], name="user_desk"),
    ]
