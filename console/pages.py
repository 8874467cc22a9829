"""The console's routes. Thin: who may do it (console.access), one action, one template.

This module holds the sections the navigation leads to, the home page and logging in and
out; each section's pages are in their own module (`routes()` gathers them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.users import Role, User
from console import wallboard
from console.access import Action, may
from console.auth import LoginRefused, csrf_token
from console.csrf import read_form

if TYPE_CHECKING:
    from console.app import Console

ROLE_NAMES = {
    Role.ADMIN: "Quản trị",
    Role.OPERATOR: "Tổ vận hành",
    Role.AGENCY: "Cơ quan",
    Role.VIEWER: "Theo dõi",
}


@dataclass(frozen=True)
class Section:
    path: str
    title: str
    action: Action
    summary: str


SECTIONS = (
    Section("/wallboard", "Bảng theo dõi", Action.VIEW_WALLBOARD,
            "Cuộc gọi đang diễn ra, máy bàn, số liệu trong ngày."),
    Section("/calls", "Cuộc gọi", Action.VIEW_CALLS,
            "Tra cứu cuộc gọi, diễn biến và tin nhắn thoại."),
    Section("/callbacks", "Gọi lại", Action.VIEW_CALLBACKS,
            "Người dân chờ được gọi lại, cũ nhất trước."),
    Section("/cases", "Phản ánh", Action.VIEW_CASES,
            "Phản ánh, kiến nghị và hạn xử lý."),
    Section("/reports", "Báo cáo", Action.VIEW_REPORTS,
            "Số liệu theo kỳ, tải về md, csv, xlsx, biểu đồ."),
    Section("/config", "Cấu hình", Action.VIEW_CONFIG,
            "Lĩnh vực, cơ quan, máy bàn, giờ làm việc, ngày nghỉ."),
    Section("/desks", "Máy bàn", Action.MANAGE_DESKS,
            "Đăng nhập, đăng xuất, tạm nghỉ từng máy bàn."),
    Section("/users", "Người dùng", Action.MANAGE_USERS,
            "Tài khoản và vai trò."),
    Section("/campaigns", "Khảo sát Zalo", Action.RUN_CAMPAIGNS,
            "Khảo sát qua Zalo, tin ZNS gửi lỗi."),
    Section("/announce", "Thông báo", Action.ANNOUNCE,
            "Thông báo phát cho người gọi, tạm ngưng tổng đài."),
)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def sections_for(user: User) -> list[Section]:
    return [s for s in SECTIONS if may(user, s.action)]


async def home(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    return console.render(request, "home.html", user=user, sections=sections_for(user),
                          csrf=csrf_token(request))


async def login_form(request: Request) -> Response:
    console = _console(request)
    if await console.auth.current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return console.render(request, "login.html", user=None, csrf=csrf_token(request))


async def login(request: Request) -> Response:
    console = _console(request)
    form = await read_form(request)
    username, password = form.get("username"), form.get("password")
    result = await console.auth.login(
        request, username if isinstance(username, str) else "",
        password if isinstance(password, str) else "")
    if isinstance(result, User):
        return RedirectResponse("/", status_code=303)
    message = ("Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau 15 phút."
               if result is LoginRefused.LIMITED else
               "Tên đăng nhập hoặc mật khẩu không đúng.")
    status = 429 if result is LoginRefused.LIMITED else 401
    return console.render(request, "login.html", status, user=None, error=message,
                          username=username if isinstance(username, str) else "",
                          csrf=csrf_token(request))


async def logout(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.current_user(request)
    if user is not None:
        await console.auth.logout(request, user)
    return RedirectResponse("/login", status_code=303)


def routes() -> list[BaseRoute]:
    from console import (  # they use SECTIONS: imported once it exists
        announce,
        callbacks,
        calls,
        campaigns,
        cases,
        config_page,
        desks_page,
        my_desk,
        reports_page,
        users_page,
        zalo_chat,
    )

    return [
        Route("/", home, name="home"),
        Route("/login", login_form, methods=["GET"], name="login_form"),
        Route("/login", login, methods=["POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        *calls.routes(),
        *announce.routes(),
        *wallboard.routes(),
        *callbacks.routes(),
        *cases.routes(),
        *zalo_chat.routes(),
        *reports_page.routes(),
        *config_page.routes(),
        *users_page.routes(),
        *desks_page.routes(),
        *my_desk.routes(),
        *campaigns.routes(),
    ]
