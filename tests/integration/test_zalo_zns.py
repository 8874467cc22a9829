"""ZNS notifications and Zalo ratings on SQLite and PostgreSQL, against the fake Zalo:
what is owed since the switch-on (never old history), sent once per tracking id,
retried then given up, numbers that are not mobiles skipped, deliveries and ratings
from the recorded webhook events, the campaigns' counts and `/metrics`."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.campaigns import CampaignLine, Campaigns, Ratings
from calllog.model import CallRecord, Case, CaseStatus, Outcome, SurveyResult
from calllog.store import CallLogStore
from calllog.tables import ZaloSendRow
from calllog.zalo import SendStatus, ZaloTokenStore
from calllog.zns import NoticeKind, ZnsOutbox
from routing.config import ZnsConfig, ZnsNotice
from tests.clock import FakeClock
from tests.zalo_fake import APP_ID, APP_SECRET, FakeZalo, event_body
from zalo.client import Backoff, ZaloClient, ZaloCredentials, ZaloEndpoints
from zalo.feedback import ZnsEvents
from zalo.metrics import with_metrics
from zalo.models import WebhookEvent
from zalo.notify import RetryPolicy, Round, ZnsWorker
from zalo.tokens import TokenKeeper
from zalo.webhook import Dispatch

ON = ZnsConfig(case_opened=ZnsNotice(template_id="300001"),
               case_resolved=ZnsNotice(template_id="300002"),
               call_rating=ZnsNotice(template_id="300003", max_attempts=3),
               campaign_rating=ZnsNotice(template_id="300003"))
MOBILE = "0912345678"


async def worker_for(
    sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, fake: FakeZalo,
    clock: FakeClock, config: ZnsConfig = ON,
) -> ZnsWorker:
    tokens = ZaloTokenStore(sessions)
    await tokens.install(fake.grant(), clock.now())
    client = ZaloClient(http, ZaloEndpoints(), ZaloCredentials(APP_ID, APP_SECRET),
                        TokenKeeper(tokens, clock), clock, backoff=Backoff(attempts=1))
    return ZnsWorker(ZnsOutbox(sessions), client, config, clock,
                     retry=RetryPolicy(first_delay=timedelta(minutes=1)))


async def connected_call(
    store: CallLogStore, clock: FakeClock, call_id: str, number: str = MOBILE, *,
    score: int | None = None, minutes_ago: float = 5,
) -> None:
    start = clock.now() - timedelta(minutes=minutes_ago)
    await store.save(CallRecord(
        call_id=call_id, caller_number=number, started_at=start,
        answered_at=start, bridged_at=start + timedelta(seconds=20),
        ended_at=start + timedelta(minutes=3), branch_key=6, branch_name="Tài chính công",
        agency="Sở Tài chính", outcome=Outcome.CONNECTED,
        survey=SurveyResult.ANSWERED if score else SurveyResult.NO_ANSWER,
        survey_score=score))


async def resolve(store: CallLogStore, case_id: int, at: datetime, note: str) -> None:
    await store.update_case(case_id, status=CaseStatus.VERIFYING, by="lan",
                            at=at - timedelta(minutes=1))
    await store.update_case(case_id, status=CaseStatus.RESOLVED, by="lan", at=at, note=note)


async def test_a_connected_call_without_a_keypad_score_gets_the_rating_template_once(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock,
) -> None:
    worker = await worker_for(sessions, http, fake, clock,
                              ZnsConfig(call_rating=ZnsNotice(template_id="300003")))
    await worker.run_once()  # switched on now
    clock.advance(60)
    await connected_call(store, clock, "c-rated", score=5, minutes_ago=0.5)
    await connected_call(store, clock, "c-silent", minutes_ago=0.5)
    first = await worker.run_once()
    second = await worker.run_once()
    assert (first.queued, first.sent, second.queued, second.sent) == (1, 1, 0, 0)
    assert len(fake.zns_requests) == 1
    request = fake.zns_requests[0]
    assert request["phone"] == "84912345678"
    assert request["tracking_id"] == "call-rating:c-silent"
    assert request["template_id"] == "300003"
    send = await ZnsOutbox(sessions).counts()
    assert send.by_status[SendStatus.SENT] == 1


async def test_switching_on_never_sends_the_old_history(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock,
) -> None:
    await connected_call(store, clock, "old-call", minutes_ago=60 * 24 * 30)
    old = await store.create_case(Case(None, "old-call", "Tài chính công",
                                       clock.now() - timedelta(days=30), "desk"))
    assert old.id is not None
    await resolve(store, old.id, clock.now() - timedelta(days=1), "Đã trả lời")
    worker = await worker_for(sessions, http, fake, clock)
    assert await worker.run_once() == Round()
    assert await worker.run_once() == Round()
    assert fake.zns_requests == []


async def test_case_opened_and_resolved_notices_carry_the_code_and_the_result(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock,
) -> None:
    worker = await worker_for(sessions, http, fake, clock,
                              ZnsConfig(case_opened=ZnsNotice(template_id="300001"),
                                        case_resolved=ZnsNotice(template_id="300002")))
    await worker.run_once()
    clock.advance(60)
    await connected_call(store, clock, "c-case", score=4, minutes_ago=0.5)
    case = await store.create_case(Case(None, "c-case", "Tài chính công", clock.now(), "desk"))
    assert case.id is not None
    await worker.run_once()
    clock.advance(3600)
    await resolve(store, case.id, clock.now(), "Sở Tài chính đã trả lời bằng văn bản")
    await worker.run_once()
    opened, resolved = fake.zns_requests
    assert opened["tracking_id"] == f"case-opened:{case.id}"
    opened_data = opened["template_data"]
    assert isinstance(opened_data, dict) and opened_data["case_code"].startswith("PA-2026-")
    assert resolved["tracking_id"] == f"case-resolved:{case.id}"
    assert resolved["template_data"] == {
        "case_code": opened_data["case_code"], "result": "Sở Tài chính đã trả lời bằng văn bản"}
    assert [s.tracking_id for s in await ZnsOutbox(sessions).of_case(case.id)] == [
        f"case-resolved:{case.id}", f"case-opened:{case.id}"]


@pytest.mark.parametrize(("number", "reason"), [
    ("02933876543", "không phải số di động"),  # Hậu Giang landline
    ("unknown", "không phải số di động"),
    ("", "không có số điện thoại"),
])
async def test_a_landline_or_unknown_caller_is_skipped_with_the_reason(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock, number: str, reason: str,
) -> None:
    worker = await worker_for(sessions, http, fake, clock)
    await worker.run_once()
    clock.advance(60)
    await connected_call(store, clock, "c-landline", number, minutes_ago=0.5)
    done = await worker.run_once()
    assert (done.skipped, done.sent) == (1, 0)
    assert fake.zns_requests == []
    outbox = ZnsOutbox(sessions)
    assert (await outbox.counts()).by_status[SendStatus.SKIPPED] == 1
    assert await outbox.due(clock.now() + timedelta(days=1)) == []
    async with sessions() as session:
        row = await session.get(ZaloSendRow, "call-rating:c-landline")
        assert row is not None and reason in (row.error or "")


async def test_a_send_that_fails_is_retried_after_a_backoff_then_succeeds(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock,
) -> None:
    worker = await worker_for(sessions, http, fake, clock)
    await worker.run_once()
    clock.advance(60)
    await connected_call(store, clock, "c-retry", minutes_ago=0.5)
    fake.zns_failures = 1
    first = await worker.run_once()
    assert (first.retrying, first.sent) == (1, 0)
    assert (await worker.run_once()).sent == 0  # not due before its backoff
    clock.advance(61)
    assert (await worker.run_once()).sent == 1
    assert [r["tracking_id"] for r in fake.zns_requests] == ["call-rating:c-retry"] * 2
    counts = await ZnsOutbox(sessions).counts()
    assert counts.by_status[SendStatus.SENT] == 1 and counts.failed_attempts == 1


async def test_a_send_that_keeps_failing_is_given_up_as_failed_and_counted_in_metrics(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock,
) -> None:
    worker = await worker_for(sessions, http, fake, clock)  # call_rating: 3 attempts
    await worker.run_once()
    clock.advance(60)
    await connected_call(store, clock, "c-fail", minutes_ago=0.5)
    fake.zns_failures = 10
    rounds = []
    for _ in range(4):
        rounds.append(await worker.run_once())
        clock.advance(600)
    assert [r.retrying for r in rounds] == [1, 1, 0, 0]
    assert [r.failed for r in rounds] == [0, 0, 1, 0]
    outbox = ZnsOutbox(sessions)
    [failed] = await outbox.failed()
    assert failed.tracking_id == "call-rating:c-fail" and failed.attempts == 3
    app = with_metrics(_no_console, outbox)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(
            app=app, client=("127.0.0.1", 5000)), base_url="http://console") as client:
        text = (await client.get("/metrics")).text
    assert 'hotline_zns_sends{state="failed"} 1.0' in text
    assert "hotline_zns_send_failures_total 3.0" in text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(
            app=app, client=("192.0.2.7", 5000)), base_url="http://console") as client:
        assert (await client.get("/metrics")).status_code == 404


async def _no_console(scope: object, receive: object, send: object) -> None:
    raise AssertionError("only /metrics is asked for")


async def test_delivery_and_rating_events_mark_the_send_and_store_the_rating_once(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore, http: httpx.AsyncClient,
    fake: FakeZalo, clock: FakeClock,
) -> None:
    worker = await worker_for(sessions, http, fake, clock)
    await worker.run_once()
    clock.advance(60)
    await connected_call(store, clock, "c-feedback", minutes_ago=0.5)
    await worker.run_once()
    handler = ZnsEvents(ZnsOutbox(sessions), Ratings(sessions), Dispatch())
    delivered = WebhookEvent.model_validate_json(_with_tracking(
        "user_received_message", "call-rating:c-feedback"))
    feedback = WebhookEvent.model_validate_json(_with_tracking(
        "user_feedback", "call-rating:c-feedback"))
    assert await handler.handle(delivered) == "delivered"
    assert await handler.handle(feedback) == "rating"
    assert await handler.handle(feedback) == "rating"  # delivered twice: stored once
    assert (await ZnsOutbox(sessions).counts()).by_status[SendStatus.DELIVERED] == 1
    rating = await Ratings(sessions).by_key("zns:call-rating:c-feedback")
    assert rating is not None
    assert (rating.channel, rating.score, rating.call_id, rating.phone) == (
        "zalo", 5, "c-feedback", "84912345678")
    assert "Cán bộ hướng dẫn tận tình" in rating.note
    assert await handler.handle(WebhookEvent.model_validate_json(
        event_body("user_send_text"))) == "message"


async def test_a_recorded_rating_for_an_unknown_send_is_stored_unlinked(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handler = ZnsEvents(ZnsOutbox(sessions), Ratings(sessions), Dispatch())
    assert await handler.handle(WebhookEvent.model_validate_json(
        event_body("user_feedback"))) == "rating"
    rating = await Ratings(sessions).by_key("zns:survey-2026-01-0001")
    assert rating is not None and rating.call_id is None and rating.entry_id is None


async def test_campaign_entries_get_the_rating_template_once_and_are_counted(
    sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, fake: FakeZalo,
    clock: FakeClock,
) -> None:
    worker = await worker_for(sessions, http, fake, clock)
    await worker.run_once()
    campaigns = Campaigns(sessions)
    clock.advance(60)
    lines = [CampaignLine("84912345678", "Cấp phiếu lý lịch tư pháp", "Sở Tư pháp",
                          date(2026, 1, 2)),
             CampaignLine("84987654321", "Đăng ký kinh doanh", "Sở Kế hoạch và Đầu tư",
                          date(2026, 1, 2))]
    campaign = await campaigns.create("Tháng 1", "t1.csv", lines, refused=2, by="lan",
                                      at=clock.now())
    await worker.run_once()
    await worker.run_once()
    assert sorted(str(r["phone"]) for r in fake.zns_requests) == ["84912345678",
                                                                 "84987654321"]
    first = str(fake.zns_requests[0]["tracking_id"])
    handler = ZnsEvents(ZnsOutbox(sessions), Ratings(sessions), Dispatch())
    await handler.handle(WebhookEvent.model_validate_json(
        _with_tracking("user_feedback", first)))
    [summary] = await campaigns.summaries()
    assert (summary.id, summary.entries, summary.refused, summary.sent, summary.rated) == (
        campaign, 2, 2, 2, 1)


def _with_tracking(name: str, tracking_id: str) -> bytes:
    payload = json.loads(event_body(name))
    payload["message"]["tracking_id"] = tracking_id
    return json.dumps(payload).encode()


def test_notice_kinds_match_the_yaml_fields() -> None:
    assert {k.value for k in NoticeKind} == set(ZnsConfig.model_fields)
