"""The period report's figures by channel (phone, Zalo), counted in SQL: the tallies
`reports.figures.channel_stats` makes its figures from (the definitions are there).

    received        Zalo: citizens' messages to the OA (`user_send_*` webhook events)
                    received in the period (the phone's, its calls, are the period's
                    hour tallies: `calllog.period`, never a second read of `calls`)
    cases           opened in the period, by channel, and how many of them were resolved
                    by their deadline (their first change to `resolved` at or before
                    `due_at`)
    ratings         Zalo: the rating template's answers given in the period about a call
                    or a case (the phone's keypad scores are in the hour tallies too;
                    campaign answers are counted apart, by agency and procedure)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import CaseStatus, as_utc
from calllog.tables import (
    CampaignEntryRow,
    CaseChangeRow,
    CaseRow,
    RatingRow,
    ZaloInboxRow,
)

PHONE, ZALO = "phone", "zalo"
CHANNELS = (PHONE, ZALO)


def case_channel() -> Any:
    """A case's channel, as one SQL expression (the one place it is decided): the
    `cases.channel` column (revision 0014), phone for anything but Zalo."""
    return case((CaseRow.channel == ZALO, literal(ZALO)), else_=literal(PHONE))


@dataclass(frozen=True)
class CaseTally:
    opened: int
    resolved_in_time: int


@dataclass(frozen=True)
class CampaignRatingTally:
    agency: str
    procedure: str
    score: int
    ratings: int


@dataclass(frozen=True)
class ChannelTallies:
    cases: Mapping[str, CaseTally]
    """Channel (every one of `CHANNELS`) -> its cases opened in the period."""
    zalo_received: int
    zalo_ratings: Mapping[int, int]
    """Score -> Zalo rating template answers about a call or a case (1..5)."""
    campaigns: tuple[CampaignRatingTally, ...]


async def channel_tallies(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, until: datetime
) -> ChannelTallies:
    since, until = as_utc(since, "since"), as_utc(until, "until")
    n = func.count().label("n")
    channel = case_channel().label("channel")
    # Per case, off the (case_id, id) index: only the period's cases are looked at.
    resolved_at = (select(func.min(CaseChangeRow.at))
                   .where(CaseChangeRow.case_id == CaseRow.id,
                          CaseChangeRow.status == CaseStatus.RESOLVED.value)
                   .correlate(CaseRow).scalar_subquery())
    in_time = func.count().filter(and_(CaseRow.due_at.is_not(None),
                                       resolved_at <= CaseRow.due_at)).label("in_time")

    async def read(query: Executable) -> Sequence[Any]:
        async with sessionmaker() as session:
            return (await session.execute(query)).all()

    messages, cases, zalo_scores, campaigns = await asyncio.gather(
        read(select(n).select_from(ZaloInboxRow)
             .where(ZaloInboxRow.event_at >= since, ZaloInboxRow.event_at < until,
                    ZaloInboxRow.event_name.like("user_send_%"))),
        read(select(channel, n, in_time).select_from(CaseRow)
             .where(CaseRow.opened_at >= since, CaseRow.opened_at < until)
             .group_by(channel)),
        read(select(RatingRow.score, n)
             .where(RatingRow.rated_at >= since, RatingRow.rated_at < until,
                    RatingRow.entry_id.is_(None))
             .group_by(RatingRow.score)),
        read(select(CampaignEntryRow.agency, CampaignEntryRow.procedure, RatingRow.score, n)
             .join(CampaignEntryRow, CampaignEntryRow.id == RatingRow.entry_id)
             .where(RatingRow.rated_at >= since, RatingRow.rated_at < until)
             .group_by(CampaignEntryRow.agency, CampaignEntryRow.procedure, RatingRow.score)),
    )
    opened = {r.channel: CaseTally(int(r.n), int(r.in_time)) for r in cases}
    return ChannelTallies(
        cases={c: opened.get(c, CaseTally(0, 0)) for c in CHANNELS},
        zalo_received=int(messages[0].n),
        zalo_ratings={int(r.score): int(r.n) for r in zalo_scores},
        campaigns=tuple(sorted(
            (CampaignRatingTally(r.agency, r.procedure, int(r.score), int(r.n))
             for r in campaigns), key=lambda t: (t.agency, t.procedure, t.score))),
    )
