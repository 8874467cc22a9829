"""The Zalo channel against the in-process fake Zalo and a real database (SQLite and
PostgreSQL): webhook intake and worker, token expiry and rotation (a crash between the
refresh and storing its successor), the 48-hour window, ZNS retries, `hotline zalo`."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from calllog.zalo import (
    InboxEvent,
    InboxStatus,
    NewTokens,
    SendStatus,
    TokenPair,
    TokenStatus,
    ZaloInbox,
    ZaloSends,
    ZaloTokenStore,
)
from hotline.settings import Settings
from hotline.zalo import run_zalo
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.zalo_fake import (
    APP_ID,
    APP_SECRET,
    OA_NAME,
    OA_SECRET_KEY,
    USER_ID,
    FakeZalo,
    event_body,
    sign,
)
from zalo.client import (
    Backoff,
    ZaloApiError,
    ZaloClient,
    ZaloCredentials,
    ZaloEndpoints,
    ZaloUnavailable,
)
from zalo.phones import NotAMobileNumber
from zalo.replies import Replier
from zalo.tokens import ReauthorisationNeeded, RefreshBusy, TokenKeeper
from zalo.webhook import (
    WEBHOOK_PATH,
    Dispatch,
    InboxWorker,
    Intake,
    WebhookSecrets,
    in_front_of,
    webhook_app,
)
from zalo.window import OutsideReplyWindow


class Crash(BaseException):
    """The process dies here: nothing after it runs (not even `except Exception`)."""


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(
    http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock,
    *, store: ZaloTokenStore | None = None, sleeps: Sleeps | None = None,
) -> ZaloClient:
    keeper = TokenKeeper(store or ZaloTokenStore(sessions), clock, sleep=sleeps or Sleeps())
    return ZaloClient(http, ZaloEndpoints(), ZaloCredentials(APP_ID, APP_SECRET), keeper,
                      clock, sends=ZaloSends(sessions), sleep=sleeps or Sleeps(),
                      backoff=Backoff(attempts=4, first_delay=2.0, factor=2.0))


async def authorised(sessions: async_sessionmaker[AsyncSession], fake: FakeZalo) -> TokenPair:
    return await ZaloTokenStore(sessions).install(fake.grant(), fake.clock.now())


# --- the webhook ------------------------------------------------------------------------


def intake_for(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Intake:
    return Intake(ZaloInbox(sessions), WebhookSecrets(APP_ID, OA_SECRET_KEY), clock)


async def post(app: Starlette, body: bytes, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-ZEvent-Signature"] = header
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        return await client.post(WEBHOOK_PATH, content=body, headers=headers)


async def test_the_same_event_delivered_twice_is_stored_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    app = webhook_app(intake_for(sessions, clock))
    body = event_body("user_send_text")
    first = await post(app, body, sign(body))
    second = await post(app, body, sign(body))
    assert (first.status_code, second.status_code) == (200, 200)
    stored = await ZaloInbox(sessions).by_key("user_send_text:7d1f0a9c3b2e4d5f8a6b9c0d1e2f3a4b")
    assert len(stored) == 1
    assert stored[0].event.body == body.decode()
    assert stored[0].event.user_id == USER_ID
    assert stored[0].status is InboxStatus.QUEUED


@pytest.mark.parametrize(("header", "shift", "reason"), [
    (None, timedelta(), "MISSING_SIGNATURE"),
    ("mac=" + "0" * 64, timedelta(), "BAD_SIGNATURE"),
    ("signed", timedelta(minutes=10), "STALE_TIMESTAMP"),
])
async def test_unsigned_badly_signed_and_stale_events_are_refused_401_and_logged(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, header: str | None,
    shift: timedelta, reason: str,
) -> None:
    clock.advance(shift.total_seconds())
    body = event_body("user_send_text")
    with capture_logs() as logs:
        response = await post(webhook_app(intake_for(sessions, clock)), body,
                              sign(body) if header == "signed" else header)
    assert response.status_code == 401
    assert await ZaloInbox(sessions).queued() == []
    refused = [entry for entry in logs if entry["event"] == "zalo webhook refused"]
    assert [(entry["reason"], entry["source"]) for entry in refused] == [(reason, "127.0.0.1")]
    assert all(OA_SECRET_KEY not in repr(entry) and "hồ sơ" not in repr(entry)
               for entry in logs)


async def test_the_worker_processes_queued_events_in_order(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    intake = intake_for(sessions, clock)
    for name in ("follow", "user_send_text", "user_send_image", "user_feedback",
                 "user_received_message", "oa_send_text", "unfollow"):
        body = event_body(name)
        answer = await intake.receive(body, sign(body))
        assert answer.status == 200, name
    assert intake.wake.is_set()
    inbox = ZaloInbox(sessions)
    worker = InboxWorker(inbox, Dispatch(), clock)
    assert await worker.run_once() == 7
    assert await inbox.queued() == []
    outcomes = [
        (await inbox.by_key(key))[0].outcome
        for key in (f"follow:{USER_ID}:1767578100000",
                    "user_send_text:7d1f0a9c3b2e4d5f8a6b9c0d1e2f3a4b",
                    "user_feedback:a04c3d2f6e5b7a8c1d9e2f3a4b5c6d7e",
                    "user_received_message:b15d4e3a7f6c8b9d2e0f3a4b5c6d7e8f",
                    "oa_send_text:c26e5f4b8a7d9c0e3f1a4b5c6d7e8f9a")
    ]
    assert outcomes == ["follower", "message", "rating", "delivered", "echo"]


async def test_a_failing_handler_leaves_the_event_queued_then_gives_up(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    class Broken:
        async def handle(self, event: object) -> str:
            raise RuntimeError("not today")

    inbox = ZaloInbox(sessions)
    body = event_body("user_send_text")
    await intake_for(sessions, clock).receive(body, sign(body))
    worker = InboxWorker(inbox, Broken(), clock, max_attempts=2)
    await worker.run_once()
    assert [e.attempts for e in await inbox.queued()] == [1]
    await worker.run_once()
    assert await inbox.queued() == []
    [stored] = await inbox.by_key("user_send_text:7d1f0a9c3b2e4d5f8a6b9c0d1e2f3a4b")
    assert (stored.status, stored.attempts) == (InboxStatus.FAILED, 2)


async def test_the_console_process_answers_the_webhook_path_beside_the_console(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async def console_page(request: object) -> PlainTextResponse:
        return PlainTextResponse("console")

    console = Starlette(routes=[Route("/", console_page),
                                Route(WEBHOOK_PATH, console_page, methods=["POST"])])
    served = in_front_of(console, webhook_app(intake_for(sessions, clock)))
    body = event_body("follow")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served),
                                 base_url="http://test") as client:
        assert (await client.get("/")).text == "console"
        response = await client.post(WEBHOOK_PATH, content=body,
                                     headers={"X-ZEvent-Signature": sign(body)})
    assert response.json() == {"status": "ok"}


# --- tokens --------------------------------------------------------------------------


async def test_token_expiry_in_the_middle_of_a_send_is_refreshed_and_retried_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    old = await authorised(sessions, fake)
    fake.expire(old.access_token)  # Zalo says -216 although our clock thinks it valid
    sent = await make_client(http, sessions, clock).send_text(USER_ID, "Đã tiếp nhận.")
    assert sent.msg_id == "cs1"
    assert fake.refreshes == [old.refresh_token]
    assert fake.cs_messages == [{"recipient": {"user_id": USER_ID},
                                 "message": {"text": "Đã tiếp nhận."}}]
    store = ZaloTokenStore(sessions)
    new = await store.current()
    assert new is not None and new.id != old.id
    assert (new.access_token, new.refresh_token) == ("A2", "R2")
    retired = await _row(sessions, old.id)
    assert (retired.status, retired.access_token, retired.refresh_token) == (
        TokenStatus.SPENT, "", "")


async def test_a_second_expiry_after_the_refresh_is_not_retried_again(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    old = await authorised(sessions, fake)
    fake.expire(old.access_token)
    original = fake._issue

    def issue_expired(lifetime_s: float) -> tuple[str, str]:
        access, refresh = original(lifetime_s)
        fake.expire(access)
        return access, refresh

    fake._issue = issue_expired  # type: ignore[method-assign]
    with pytest.raises(ZaloApiError, match="-216"):
        await make_client(http, sessions, clock).send_text(USER_ID, "Đã tiếp nhận.")
    assert len(fake.refreshes) == 1
    assert fake.cs_messages == []


class CrashingStore(ZaloTokenStore):
    """Dies after Zalo answered the refresh, before the successor is committed."""

    async def complete_refresh(self, pair_id: int, tokens: NewTokens, at: object) -> TokenPair:
        raise Crash()


async def test_a_crash_between_the_refresh_and_storing_its_successor_loses_no_token(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    old = await authorised(sessions, fake)
    with pytest.raises(Crash):
        await make_client(http, sessions, clock, store=CrashingStore(sessions)).refresh_tokens()
    assert fake.spent == {old.refresh_token}  # Zalo did spend it: R2 died with the process

    # After the restart: the old pair is still there, whole and current, marked presented.
    store = ZaloTokenStore(sessions)
    kept = await store.current()
    assert kept is not None and kept.id == old.id
    assert (kept.access_token, kept.refresh_token) == (old.access_token, old.refresh_token)
    assert kept.presented_at == MONDAY_9AM_ICT
    # Its access token still works (until its own expiry): replies still go out.
    client = make_client(http, sessions, clock)
    assert (await client.send_text(USER_ID, "Vẫn gửi được.")).msg_id == "cs1"
    # The dead process's lease holds off a second refresh for its length ...
    with pytest.raises(RefreshBusy):
        await client.refresh_tokens()
    # ... then the token is presented again; Zalo refuses it: a clear state, no loop.
    clock.advance(61)
    with capture_logs() as logs, pytest.raises(ReauthorisationNeeded,
                                               match="hotline zalo tokens"):
        await client.refresh_tokens()
    assert any(e["event"] == "zalo refresh token presented before, its answer never stored"
               for e in logs)
    latest = await store.latest()
    assert latest is not None and latest.status is TokenStatus.REFUSED
    assert all(t not in repr(logs) for t in (old.refresh_token, old.access_token, "R2"))


async def test_a_refresh_that_never_reached_zalo_is_presented_again_and_works(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
) -> None:
    old = await authorised(sessions, fake)
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("no route to oauth.zaloapp.com")
        return fake.handle(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky)) as http:
        client = make_client(http, sessions, clock)
        with pytest.raises(Exception, match="ConnectError"):
            await client.refresh_tokens()
        kept = await ZaloTokenStore(sessions).current()
        assert kept is not None and kept.id == old.id and kept.refreshing_id is None
        new = await client.refresh_tokens()
    assert (new.access_token, new.refresh_token) == ("A2", "R2")
    assert fake.refreshes == [old.refresh_token]


class FlakyCommitStore(ZaloTokenStore):
    """The database refuses the first commit of the successor."""

    failures = 1

    async def complete_refresh(self, pair_id: int, tokens: NewTokens, at: object) -> TokenPair:
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return await super().complete_refresh(pair_id, tokens, at)  # type: ignore[arg-type]


async def test_a_refused_commit_of_the_new_pair_is_retried_from_memory(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    await authorised(sessions, fake)
    sleeps = Sleeps()
    new = await make_client(http, sessions, clock, store=FlakyCommitStore(sessions),
                            sleeps=sleeps).refresh_tokens()
    assert (new.access_token, new.refresh_token) == ("A2", "R2")
    assert sleeps.delays == [0.5]
    assert len(fake.refreshes) == 1


async def test_a_long_refusal_of_the_commit_keeps_trying_and_loses_no_token(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    """Twelve refused commits (minutes of a database outage): the spent token's successor
    is still stored, the waits growing to at most 30 s."""
    await authorised(sessions, fake)
    store = FlakyCommitStore(sessions)
    store.failures = 12
    sleeps = Sleeps()
    with capture_logs() as logs:
        new = await make_client(http, sessions, clock, store=store,
                                sleeps=sleeps).refresh_tokens()
    assert (new.access_token, new.refresh_token) == ("A2", "R2")
    current = await ZaloTokenStore(sessions).current()
    assert current is not None and current.refresh_token == "R2"
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0]
    assert [e["log_level"] for e in logs if e["event"].startswith("zalo new token pair")] == (
        ["warning"] * 4 + ["error"] * 8)


@pytest.mark.parametrize(("status", "answer"), [
    (200, {"error": -14002, "error_name": "Invalid app"}),  # a wrong app secret
    (403, {"error": -118, "error_name": "Permission denied"}),
    (200, {}),
    (400, {"message": "Bad Request"}),  # a proxy's answer
])
async def test_a_refresh_answer_that_is_not_about_the_token_keeps_the_pair(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    status: int, answer: dict[str, object],
) -> None:
    old = await authorised(sessions, fake)
    async with httpx.AsyncClient(transport=httpx.MockTransport(
            lambda request: httpx.Response(status, json=answer))) as http:
        with pytest.raises(ZaloUnavailable):
            await make_client(http, sessions, clock).refresh_tokens()
    kept = await ZaloTokenStore(sessions).current()
    assert kept is not None and kept.id == old.id and kept.refreshing_id is None
    assert kept.refresh_token == old.refresh_token


async def test_concurrent_refreshes_present_the_single_use_token_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    old = await authorised(sessions, fake)
    fake.expire(old.access_token)
    client = make_client(http, sessions, clock)
    results = await asyncio.gather(*(client.send_text(USER_ID, f"tin {i}") for i in range(3)))
    assert [r.msg_id for r in results] and len(fake.cs_messages) == 3
    assert fake.refreshes == [old.refresh_token]


# --- the 48-hour window, ZNS --------------------------------------------------------------


async def test_a_free_reply_is_refused_48_hours_after_the_last_message(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    await authorised(sessions, fake)
    inbox = ZaloInbox(sessions)
    body = event_body("user_send_text")
    await intake_for(sessions, clock).receive(body, sign(body))
    replier = Replier(make_client(http, sessions, clock), inbox, clock)
    clock.advance(timedelta(hours=47).total_seconds())
    assert (await replier.reply(USER_ID, "Hồ sơ đang được xử lý.")).msg_id == "cs1"
    clock.advance(timedelta(hours=1, seconds=1).total_seconds())
    with pytest.raises(OutsideReplyWindow) as refused:
        await replier.reply(USER_ID, "Hồ sơ đã có kết quả.")
    assert "quá 48 giờ" in refused.value.reason
    assert "09:00 05/01/2026" in refused.value.reason
    assert len(fake.cs_messages) == 1


async def test_a_later_event_of_another_kind_does_not_reopen_the_window(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    inbox = ZaloInbox(sessions)
    at = MONDAY_9AM_ICT
    await inbox.add(InboxEvent("k1", "user_send_text", USER_ID, at, at, "{}"))
    await inbox.add(InboxEvent("k2", "follow", USER_ID, at + timedelta(days=3), at, "{}"))
    await inbox.add(InboxEvent("k3", "oa_send_text", USER_ID, at + timedelta(days=3), at, "{}"))
    assert await inbox.last_message_at(USER_ID) == at


async def test_a_zns_send_that_fails_then_succeeds_backs_off_under_one_tracking_id(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    await authorised(sessions, fake)
    fake.zns_failures = 2
    sleeps = Sleeps()
    client = make_client(http, sessions, clock, sleeps=sleeps)
    data = {"case_code": "PA-2026-00042"}
    sent = await client.send_template("0912 345 678", "401234", data, "case-PA-2026-00042")
    assert sent.msg_id == "zns3" and not sent.repeated
    assert sleeps.delays == [2.0, 4.0]
    assert [(r["phone"], r["tracking_id"]) for r in fake.zns_requests] == [
        ("84912345678", "case-PA-2026-00042")] * 3
    record = await ZaloSends(sessions).get("case-PA-2026-00042")
    assert record is not None
    assert (record.status, record.attempts, record.msg_id) == (SendStatus.SENT, 3, "zns3")
    # Asked again (a retry of the caller's, a restart): not sent twice.
    again = await client.send_template("0912345678", "401234", data, "case-PA-2026-00042")
    assert again.repeated and again.msg_id == "zns3"
    assert len(fake.zns_requests) == 3


async def test_zns_to_a_landline_is_refused_before_anything_is_sent(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, fake: FakeZalo,
    http: httpx.AsyncClient,
) -> None:
    await authorised(sessions, fake)
    with pytest.raises(NotAMobileNumber):
        await make_client(http, sessions, clock).send_template(
            "02933123456", "401234", {}, "t-1")
    assert fake.zns_requests == []
    assert await ZaloSends(sessions).get("t-1") is None


# --- `hotline zalo` -----------------------------------------------------------------------


def settings_for(db_url: str, **zalo: str) -> Settings:
    return Settings.model_validate({"database_url": db_url, **zalo})


async def test_zalo_check_reports_whether_the_token_works(
    db_url: str, clock: FakeClock, fake: FakeZalo, tmp_path: Path
) -> None:
    configured = settings_for(db_url, zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET)
    check = argparse.Namespace(zalo_command="check")

    assert (await run_zalo(settings_for(db_url), check, clock))[0] == 2
    code, text = await run_zalo(configured, check, clock, transport=fake.transport())
    assert code == 3 and "no Zalo token pair" in text

    grant = fake.grant()
    lines = iter([grant.access_token + "\n", grant.refresh_token + "\n"])
    code, text = await run_zalo(configured, argparse.Namespace(
        zalo_command="tokens", expires_in=90000), clock, read_line=lambda: next(lines))
    assert code == 0 and "token pair stored" in text
    assert grant.access_token not in text

    code, text = await run_zalo(configured, check, clock, transport=fake.transport())
    assert code == 0, text
    assert f'OA "{OA_NAME}"' in text
    assert "webhook: OFF" in text
    assert "access token valid until 10:00 06/01/2026" in text  # 25 h on, local time

    fake.expire(grant.access_token)
    fake.refresh.clear()  # the stored refresh token is no good any more
    code, text = await run_zalo(configured, check, clock, transport=fake.transport())
    assert code == 3 and "authorise the OA" in text


async def _row(sessions: async_sessionmaker[AsyncSession], pair_id: int) -> TokenPair:
    from calllog.tables import ZaloTokenRow
    from calllog.zalo import _pair

    async with sessions() as session:
        row = await session.get(ZaloTokenRow, pair_id)
        assert row is not None
        return _pair(row)


async def test_the_console_process_takes_zalo_events_when_zalo_is_set_up(
    tmp_path: Path, clock: FakeClock
) -> None:
    from hotline.console_wiring import console_app

    settings = Settings.model_validate({
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}",
        "config": Path(__file__).parents[2] / "config" / "hotline.yaml",
        "console_secret": "s" * 32, "zalo_app_id": APP_ID,
        "zalo_oa_secret_key": OA_SECRET_KEY})
    async with console_app(settings, clock) as app:
        zalo = app.state.zalo
        assert zalo is not None
        body = event_body("user_send_text")
        async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=in_front_of(app, webhook_app(zalo.intake))),
                base_url="http://test") as client:
            response = await client.post(WEBHOOK_PATH, content=body,
                                         headers={"X-ZEvent-Signature": sign(body)})
            assert response.status_code == 200  # no CSRF token asked of Zalo
            assert (await client.get("/login")).status_code == 200
        assert await zalo.worker.run_once() == 1
    async with console_app(settings.model_copy(update={"zalo_app_id": ""}), clock) as app:
        assert app.state.zalo is None
