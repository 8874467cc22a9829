"""The ZNS parts the console process runs: the outbox, the campaigns' store, and the
worker that sends the notifications the YAML switches on (`zalo.notify`)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.campaigns import Campaigns
from calllog.zalo import ZaloTokenStore
from calllog.zns import ZnsOutbox
from hotline.settings import Settings
from hotline.zalo import credentials, endpoints
from routing.clock import Clock
from routing.config import HotlineConfig
from zalo.client import Backoff, ZaloClient
from zalo.notify import ZnsWorker, notices_on
from zalo.tokens import TokenKeeper


@dataclass(frozen=True)
class ZnsParts:
    outbox: ZnsOutbox
    campaigns: Campaigns
    worker: ZnsWorker | None
    """None while no notification is switched on or Zalo's app is not set up."""


def zns_parts(
    settings: Settings, config: HotlineConfig, sessions: async_sessionmaker[AsyncSession],
    clock: Clock, http: httpx.AsyncClient,
) -> ZnsParts:
    outbox = ZnsOutbox(sessions)
    creds = credentials(settings)
    worker = None
    if creds is not None and notices_on(config.zalo.zns):
        # One try per round: the outbox spaces the retries (`zalo.notify.RetryPolicy`).
        client = ZaloClient(http, endpoints(settings), creds,
                            TokenKeeper(ZaloTokenStore(sessions), clock), clock,
                            backoff=Backoff(attempts=1))
        worker = ZnsWorker(outbox, client, config.zalo.zns, clock)
    return ZnsParts(outbox, Campaigns(sessions), worker)
