"""The Zalo channel's cases wired as the console process wires them, over a real database
and the in-process fake Zalo: webhook intake, the worker with `CaseDispatch`, replies."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.zalo import ZaloInbox, ZaloSends, ZaloTokenStore
from calllog.zalo_cases import ZaloCases
from routing.deadlines import case_deadline
from tests.clock import FakeClock
from tests.console_client import hotline_config
from tests.zalo_fake import APP_ID, APP_SECRET, OA_SECRET_KEY, FakeZalo, event_body, sign
from zalo.case_replies import CaseReplies
from zalo.cases import CATEGORY, OPENED_BY, CaseDispatch
from zalo.client import ZaloClient, ZaloCredentials, ZaloEndpoints
from zalo.models import WebhookEvent
from zalo.replies import Replier
from zalo.tokens import TokenKeeper
from zalo.webhook import Dispatch, InboxWorker, Intake, WebhookSecrets


@dataclass
class ZaloEnv:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeZalo
    store: CallLogStore
    queries: CallQueries
    cases: ZaloCases
    replies: CaseReplies
    dispatch: CaseDispatch
    intake: Intake
    worker: InboxWorker

    async def deliver(self, name: str, **changes: object) -> None:
        """A signed event through the webhook's intake, then the worker."""
        body = event_body(name, **changes)
        answer = await self.intake.receive(body, sign(body))
        assert answer.status == 200, answer
        await self.worker.run_once()

    async def received(self, name: str) -> WebhookEvent:
        """A signed event stored by the intake (not processed yet), as the worker reads it."""
        body = event_body(name)
        assert (await self.intake.receive(body, sign(body))).status == 200
        return WebhookEvent.model_validate_json(body)

    def replies_sent(self) -> list[str]:
        return [str(m["message"]["text"]) for m in self.fake.cs_messages  # type: ignore[index]
                ]


async def zalo_env(sessions: async_sessionmaker[AsyncSession], clock: FakeClock,
                   http: httpx.AsyncClient, fake: FakeZalo) -> ZaloEnv:
    await ZaloTokenStore(sessions).install(fake.grant(), clock.now())
    deadline = case_deadline(hotline_config())
    inbox = ZaloInbox(sessions)
    client = ZaloClient(http, ZaloEndpoints(), ZaloCredentials(APP_ID, APP_SECRET),
                        TokenKeeper(ZaloTokenStore(sessions), clock), clock,
                        sends=ZaloSends(sessions))
    cases = ZaloCases(sessions, category=CATEGORY, opened_by=OPENED_BY, case_deadline=deadline)
    replies = CaseReplies(cases, inbox, clock, Replier(client, inbox, clock))
    dispatch = CaseDispatch(cases, replies, others=Dispatch())
    intake = Intake(inbox, WebhookSecrets(APP_ID, OA_SECRET_KEY), clock)
    return ZaloEnv(sessions, clock, fake, CallLogStore(sessions, case_deadline=deadline),
                   CallQueries(sessions), cases, replies, dispatch, intake,
                   InboxWorker(inbox, dispatch, clock))
