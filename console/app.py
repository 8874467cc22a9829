"""The console's Starlette app, built from the parts the wiring passes in.

Starlette rather than FastAPI: the pages are server-rendered forms, so FastAPI's
pydantic request models and OpenAPI add nothing, and Starlette (which FastAPI is built
on) has everything used here: routes, sessions, static files from the package, Jinja2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from calllog.queries import CallQueries
from calllog.users import Users
from console.access import Forbidden
from console.auth import MAX_DETAIL, Auth, LoginRequired, client_address
from console.casework import FollowupWork
from console.csrf import CsrfGuard, PerAddressLog
from console.fmt import FILTERS
from console.live_feed import WallboardFeed
from console.pages import ROLE_NAMES, routes
from console.zalo_chat import ZaloReplies
from routing.clock import Clock
from routing.config import HotlineConfig

SESSION_COOKIE = "hotline_console"
SESSION_HOURS = 10

log = structlog.get_logger("console")


@dataclass(frozen=True)
class Console:
    """What every route reaches through `request.app.state.console`."""

    auth: Auth
    config: HotlineConfig
    clock: Clock
    templates: Jinja2Templates
    queries: CallQueries | None = None
    """The call log's query side (None: a console with no call log, in tests)."""
    recordings: Path | None = None
    """The recording spool the voice messages are served from (None: none served)."""
    wallboard: WallboardFeed | None = None
    """The one follower of the service's live state (None: no live feed, in tests)."""
    followup: FollowupWork | None = None
    """Call backs and cases: the writes of the Gọi lại and Phản ánh pages."""
    config_path: Path | None = None
    """The YAML file the service reloads (settings.config): the configuration page shows
    it and an admin's apply writes it (None: nowhere to write, in tests)."""
    zalo: ZaloReplies | None = None
    """Replies to a case's Zalo follower (None: the Zalo channel is not set up)."""

    def render(self, request: Request, name: str, status_code: int = 200,
               **context: object) -> Response:
        return self.templates.TemplateResponse(
            request, name, {"config": self.config, "now": self.clock.now(), **context},
            status_code=status_code)


def create_app(
    *, users: Users, config: HotlineConfig, clock: Clock, secret: str,
    secure_cookies: bool = False, queries: CallQueries | None = None,
    recordings: Path | None = None,
    wallboard: WallboardFeed | None = None,
    followup: FollowupWork | None = None,
    config_path: Path | None = None,
    zalo_replies: ZaloReplies | None = None,
) -> Starlette:
    if len(secret) < 16:
        raise ValueError("the console secret is missing or too short (16+ characters)")
    environment = Environment(
        loader=PackageLoader("console", "templates"), autoescape=select_autoescape())
    environment.filters.update(FILTERS)
    environment.globals["role_names"] = ROLE_NAMES
    console = Console(Auth(users, clock), config, clock, Jinja2Templates(env=environment),
                      queries, recordings, wallboard, followup, config_path, zalo_replies)

    anonymous_refusals = PerAddressLog(clock)

    async def refuse_csrf(request: Request, reason: str) -> Response:
        user = await console.auth.current_user(request)
        path = request.url.path[:MAX_DETAIL]
        if user is not None:
            await console.auth.record(request, "csrf_refused", username=user.username,
                                      detail=f"{request.method} {path}: {reason}")
            log.warning("request refused", reason=reason, path=path, username=user.username)
        elif (left_out := anonymous_refusals.allow(client_address(request))) is not None:
            # Anyone can send these: logged, rate-limited, never in the audit table.
            log.warning("anonymous request refused", reason=reason, path=path,
                        method=request.method[:16], address=client_address(request),
                        left_out_before=left_out)
        return console.render(request, "refused.html", 403, user=user,
                              message="Yêu cầu bị từ chối: thiếu mã xác thực biểu mẫu "
                                      "(CSRF). Vui lòng tải lại trang rồi thử lại.")

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        await console.auth.record(request, "forbidden", username=exc.user.username,
                                  detail=f"{request.method} {request.url.path}: {exc.what}")
        log.warning("forbidden", username=exc.user.username, what=exc.what,
                    path=request.url.path[:MAX_DETAIL])
        return console.render(request, "refused.html", 403, user=exc.user,
                              message="Tài khoản của quý vị không có quyền xem trang này.")

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            return RedirectResponse("/login", status_code=303)
        return console.render(request, "refused.html", 403, user=None,
                              message="Phiên làm việc đã hết. Vui lòng đăng nhập lại.")

    app = Starlette(
        routes=[*routes(),
                Mount("/static", StaticFiles(packages=[("console", "static")]), name="static")],
        middleware=[
            Middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=SESSION_HOURS * 3600, same_site="lax",
                       https_only=secure_cookies),
            Middleware(CsrfGuard, refuse=refuse_csrf),
        ],
        exception_handlers={Forbidden: forbidden, LoginRequired: login_required},
    )
    app.state.console = console
    return app

