"""The console process: one wiring function builds it, `run_console` owns its lifetime.

`hotline console` runs it; `hotline serve --embedded` (so `make run`) starts it as a
child process beside the service: a console crash or restart never touches a call.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import structlog
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from calllog.announcements import AnnouncementStore
from calllog.callback_queue import CallbackQueueStore
from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.followup import CallbackActions
from calllog.presence import PresenceStore
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import UserStore
from console.announce import (
    AnnouncePage,
    AudioRefused,
    announcement_in_force,
    install_announce_page,
)
from console.app import create_app
from console.campaigns import install_campaign_pages
from console.casework import FollowupWork, agencies_of
from console.desks_page import install_desk_pages
from console.live_feed import WallboardFeed
from console.wallboard import today_counts
from hotline.announce import (
    AnnouncementError,
    from_recording,
    parse_until,
    sounds_host_dir,
    synthesise,
)
from hotline.prompts import PromptBuildError
from hotline.settings import Settings, recordings_dir
from hotline.zalo import ZaloParts, zalo_parts
from hotline.zns import ZnsParts, zns_parts
from routing.clock import Clock
from routing.config import load_config
from routing.deadlines import callback_overdue_at, case_deadline
from zalo.campaign_file import read_campaign_file
from zalo.metrics import with_metrics
from zalo.webhook import in_front_of, webhook_app

SCHEMA_UPGRADE_SECONDS = 120.0
STOP_SECONDS = 5.0
ZALO_TIMEOUT_SECONDS = 10.0

log = structlog.get_logger("hotline.console")


class ConsoleSetupError(Exception):
    """The console cannot start (no secret): a message for the operator."""


def console_secret(settings: Settings) -> str:
    secret = settings.console_secret.get_secret_value()
    if len(secret) < 16:
        raise ConsoleSetupError(
            "no console secret: run `hotline secrets init` (it adds CONSOLE_SECRET to the "
            "secrets file) or set HOTLINE_CONSOLE_SECRET (16+ characters)")
    return secret


@asynccontextmanager
async def console_app(settings: Settings, clock: Clock) -> AsyncIterator[Starlette]:
    """The console's app on a migrated database; the engine is closed on leaving."""
    secret = console_secret(settings)
    config = load_config(settings.config)
    await asyncio.wait_for(upgrade_async(settings.database_url), SCHEMA_UPGRADE_SECONDS)
    engine = make_engine(settings.database_url)
    try:
        async with httpx.AsyncClient(trust_env=False) as service, httpx.AsyncClient(
                trust_env=False, timeout=ZALO_TIMEOUT_SECONDS) as zalo_http:
            sessions = make_sessionmaker(engine)
            queries = CallQueries(sessions)
            overdue_at = callback_overdue_at(config)
            zalo = zalo_parts(settings, sessions, clock, http=zalo_http,
                              case_deadline=case_deadline(config))
            announcements = AnnouncementStore(sessions)
            feed = WallboardFeed(service, settings.service_url, clock,
                                 figures=lambda: today_counts(queries, clock, overdue_at),
                                 announcement=lambda: announcement_in_force(announcements,
                                                                            clock))
            app = create_app(users=UserStore(sessions), config=config,
                             clock=clock, secret=secret,
                             secure_cookies=settings.console_secure_cookies,
                             queries=queries, wallboard=feed,
                             recordings=recordings_dir(settings),
                             followup=FollowupWork(
                                 CallbackActions(sessions),
                                 CallLogStore(sessions, case_deadline=case_deadline(config)),
                                 agencies_of(config), CallbackQueueStore(sessions)),
                             config_path=settings.config,
                             zalo_replies=None if zalo is None else zalo.replies)
            app.state.zalo = zalo
            app.state.zns = zns_parts(settings, config, sessions, clock, zalo_http)
            install_campaign_pages(app, app.state.zns.campaigns, app.state.zns.outbox,
                                   read_campaign_file)
            install_announce_page(app, announce_page(settings, sessions))
            install_desk_pages(app, PresenceStore(sessions))
            yield app
    finally:
        await engine.dispose()


def announce_page(settings: Settings,
                  sessions: async_sessionmaker[AsyncSession]) -> AnnouncePage:
    """The Thông báo page's parts: the switches' store, and the audio made where
    Asterisk reads our prompts (errors worded for the page)."""
    out = sounds_host_dir(settings)

    def refused(make: Callable[[], str]) -> str:
        try:
            return make()
        except (AnnouncementError, PromptBuildError, OSError) as exc:
            raise AudioRefused(str(exc)) from exc

    def until(text: str, now: datetime) -> datetime:
        try:
            return parse_until(text, now)
        except AnnouncementError as exc:
            raise AudioRefused(str(exc)) from exc

    return AnnouncePage(
        store=AnnouncementStore(sessions),
        from_text=lambda text: refused(lambda: synthesise(text, out)),
        from_wav=lambda data: refused(lambda: from_recording(data, out)),
        parse_until=until)


async def run_console(settings: Settings, clock: Clock) -> None:
    async with console_app(settings, clock) as app:
        # Zalo's webhook, when set up, is answered beside the console (not through its
        # session and CSRF middleware); its worker runs in this process too.
        zalo: ZaloParts | None = app.state.zalo
        served = app if zalo is None else in_front_of(app, webhook_app(zalo.intake))
        zns: ZnsParts = app.state.zns
        served = with_metrics(served, zns.outbox)  # loopback only: `zalo.metrics`
        server = uvicorn.Server(uvicorn.Config(
            served, host=settings.console_host, port=settings.console_port,
            log_config=None, access_log=False, server_header=False,
            proxy_headers=True, forwarded_allow_ips="127.0.0.1",
            # the wallboard's event streams never end by themselves
            timeout_graceful_shutdown=int(STOP_SECONDS),
        ))
        log.info("console listening", url=console_url(settings))
        feed: WallboardFeed = app.state.console.wallboard
        async with asyncio.TaskGroup() as tasks:
            following = tasks.create_task(feed.run())
            working = tasks.create_task(zalo.worker.run()) if zalo is not None else None
            sending = tasks.create_task(zns.worker.run()) if zns.worker is not None else None
            await server.serve()
            following.cancel()
            if sending is not None:
                sending.cancel()
            if working is not None:
                working.cancel()


def console_url(settings: Settings) -> str:
    host = settings.console_host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.console_port}/"


def spawn_console() -> subprocess.Popen[bytes]:
    """`hotline console` as a child process with this process's environment."""
    return subprocess.Popen([sys.executable, "-m", "hotline.cli", "console"],
                            env=dict(os.environ))


def stop_console(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
