"""`hotline zalo check|tokens`, and the Zalo parts the console process runs.

`check` calls one harmless read (the OA's profile) with the stored token, refreshing it
if Zalo says it expired, and says whether the set-up works. `tokens` stores a pair an
administrator has just authorised (read from standard input, never an argument: it
would show in `ps` and the shell's history).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.campaigns import Ratings
from calllog.codes import CaseDeadline
from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.zalo import NewTokens, ZaloInbox, ZaloSends, ZaloTokenStore
from calllog.zalo_cases import ZaloCases
from calllog.zns import ZnsOutbox
from hotline.settings import Settings
from routing.clock import Clock
from zalo.case_replies import CaseReplies
from zalo.cases import CATEGORY, OPENED_BY, CaseDispatch
from zalo.client import (
    ZaloApiError,
    ZaloClient,
    ZaloCredentials,
    ZaloEndpoints,
    ZaloUnavailable,
)
from zalo.contract import ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME
from zalo.feedback import ZnsEvents
from zalo.replies import Replier
from zalo.tokens import TokenError, TokenKeeper
from zalo.webhook import Dispatch, InboxWorker, Intake, WebhookSecrets

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
HTTP_TIMEOUT_SECONDS = 10.0
NOT_SET_UP = ("Zalo is not set up: put ZALO_APP_ID and ZALO_APP_SECRET (and, for the "
              "webhook, ZALO_OA_SECRET_KEY) in the secrets file, or HOTLINE_ZALO_* in the "
              "environment")


def add_zalo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_zalo = sub.add_parser("zalo", help="the Zalo Official Account channel")
    zalo_sub = p_zalo.add_subparsers(dest="zalo_command", required=True)
    zalo_sub.add_parser("check", help="does the stored token work? (one harmless read)")
    p_tokens = zalo_sub.add_parser(
        "tokens", help="store a newly authorised token pair, read from standard input "
                       "(the access token on the first line, the refresh token on the second)")
    p_tokens.add_argument("--expires-in", type=int,
                          default=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
                          help="seconds the access token lasts (Zalo's expires_in)")


def endpoints(settings: Settings) -> ZaloEndpoints:
    return ZaloEndpoints(openapi=settings.zalo_openapi_url.rstrip("/"),
                         oauth=settings.zalo_oauth_url.rstrip("/"),
                         business=settings.zalo_business_url.rstrip("/"))


def credentials(settings: Settings) -> ZaloCredentials | None:
    secret = settings.zalo_app_secret.get_secret_value()
    return ZaloCredentials(settings.zalo_app_id, secret) if settings.zalo_app_id and secret \
        else None


async def run_zalo(
    settings: Settings, args: argparse.Namespace, clock: Clock, *,
    transport: httpx.AsyncBaseTransport | None = None,
    read_line: Callable[[], str] = sys.stdin.readline,
) -> tuple[int, str]:
    """(exit code, message) of one `hotline zalo` command."""
    creds = credentials(settings)
    if creds is None:
        return 2, NOT_SET_UP
    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        keeper = TokenKeeper(ZaloTokenStore(sessions), clock)
        if args.zalo_command == "tokens":
            return await _store_tokens(keeper, clock, args.expires_in, read_line)
        async with httpx.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT_SECONDS,
                                     trust_env=False) as http:
            client = ZaloClient(http, endpoints(settings), creds, keeper, clock,
                                sends=ZaloSends(sessions))
            return await _check(client, keeper, settings)
    finally:
        await engine.dispose()


async def _store_tokens(
    keeper: TokenKeeper, clock: Clock, expires_in: int, read_line: Callable[[], str]
) -> tuple[int, str]:
    access, refresh = read_line().strip(), read_line().strip()
    if not access or not refresh:
        return 2, "give the access token and the refresh token on two lines of standard input"
    now = clock.now()
    pair = await keeper.install(NewTokens(
        access_token=access, refresh_token=refresh,
        access_expires_at=now + timedelta(seconds=expires_in),
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME))
    return 0, (f"token pair stored (#{pair.id}); access token valid until "
               f"{_local(pair.access_expires_at)}, refresh token until "
               f"{_local(pair.refresh_expires_at)}")


async def _check(client: ZaloClient, keeper: TokenKeeper, settings: Settings) -> tuple[int, str]:
    try:
        profile = await client.oa_profile()
        pair = await keeper.current()
    except TokenError as exc:
        return 3, f"Zalo: NOT working: {exc}"
    except ZaloApiError as exc:
        return 4, f"Zalo: NOT working: {exc}"
    except ZaloUnavailable as exc:
        return 5, f"Zalo: unreachable ({exc}); nothing was changed"
    lines = [f"Zalo: OK, the token works: OA \"{profile.name}\" ({profile.oa_id})",
             f"  access token valid until {_local(pair.access_expires_at)}, "
             f"refresh token until {_local(pair.refresh_expires_at)}"]
    if not settings.zalo_oa_secret_key.get_secret_value():
        lines.append("  webhook: OFF (no ZALO_OA_SECRET_KEY: events cannot be verified)")
    return 0, "\n".join(lines)


def _local(at: datetime) -> str:
    return f"{at.astimezone(LOCAL):%H:%M %d/%m/%Y}"


@dataclass(frozen=True)
class ZaloParts:
    """What the console process runs for Zalo: the webhook's intake and its worker, and
    the replies the case pages send."""

    intake: Intake
    worker: InboxWorker
    replies: CaseReplies


def zalo_parts(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock, *,
    http: httpx.AsyncClient | None = None, case_deadline: CaseDeadline | None = None,
) -> ZaloParts | None:
    """None while the webhook is not set up (no app id or no OA secret key). Without
    `http` or the app secret, nothing can be sent: replies are refused with the reason."""
    secret = settings.zalo_oa_secret_key.get_secret_value()
    if not settings.zalo_app_id or not secret:
        return None
    inbox = ZaloInbox(sessions)
    wake = asyncio.Event()
    intake = Intake(inbox, WebhookSecrets(
        settings.zalo_app_id, secret,
        timedelta(seconds=settings.zalo_webhook_max_age_seconds)), clock, wake=wake)
    creds = credentials(settings)
    replier = None
    if http is not None and creds is not None:
        client = ZaloClient(http, endpoints(settings), creds,
                            TokenKeeper(ZaloTokenStore(sessions), clock), clock,
                            sends=ZaloSends(sessions))
        replier = Replier(client, inbox, clock)
    cases = ZaloCases(sessions, category=CATEGORY, opened_by=OPENED_BY,
                      case_deadline=case_deadline)
    replies = CaseReplies(cases, inbox, clock, replier)
    dispatch = CaseDispatch(cases, replies, others=Dispatch())
    # ZNS deliveries and ratings are taken first (`zalo.feedback`), the rest dispatched.
    handler = ZnsEvents(ZnsOutbox(sessions), Ratings(sessions), dispatch)
    return ZaloParts(intake, InboxWorker(inbox, handler, clock, wake=wake), replies)
