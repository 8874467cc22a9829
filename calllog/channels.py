"""The period report's figures by channel (phone, Zalo), counted in SQL: the tallies
`reports.figures.channel_stats` makes its figures from (the definitions are there).

    received        phone: calls started in the period; Zalo: citizens' messages to the
                    OA (`user_send_*` webhook events) received in the period
    cases           opened in the period, by channel, and how many of them were resolved
                    by their deadline (their first change to `resolved` at or before
                    `due_at`)
    ratings         phone: the keypad survey's scores of the period's calls; Zalo: the
                    rating template's answers given in the period about a call or a case
                    (campaign answers are counted apart, by agency and procedure)
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
    CallRow,
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
class ChannelTally:
    channel: str
    received: int
    cases_opened: int
    resolved_in_time: int
    ratings: Mapping[int, int]
    """Score -> answers (phone: `survey_score` as recorded; Zalo: 1..5)."""


@dataclass(frozen=True)
class CampaignRatingTally:
    agency: str
    procedure: str
    score: int
    ratings: int


@dataclass(frozen=True)
class ChannelTallies:
    channels: tuple[ChannelTally, ...]
    campaigns: tuple[CampaignRatingTally, ...]


async def channel_tallies(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, until: datetime
) -> ChannelTallies:
    since, until = as_utc(since, "since"), as_utc(until, "until")
    n = func.count().label("n")
    channel = case_channel().label("channel")
    resolved_at = (select(CaseChangeRow.case_id, func.min(CaseChangeRow.at).label("at"))
                   .where(CaseChangeRow.status == CaseStatus.RESOLVED.value)
                   .group_by(CaseChangeRow.case_id).subquery())
    in_time = func.count().filter(and_(CaseRow.due_at.is_not(None),
                                       resolved_at.c.at <= CaseRow.due_at)).label("in_time")

    async def read(query: Executable) -> Sequence[Any]:
        async with sessionmaker() as session:
            return (await session.execute(query)).all()

    calls, messages, cases, phone_scores, zalo_scores, campaigns = await asyncio.gather(
        read(select(n).select_from(CallRow)
             .where(CallRow.started_at >= since, CallRow.started_at < until)),
        read(select(n).select_from(ZaloInboxRow)
             .where(ZaloInboxRow.event_at >= since, ZaloInboxRow.event_at < until,
                    ZaloInboxRow.event_name.like("user_send_%"))),
        read(select(channel, n, in_time).select_from(CaseRow)
             .outerjoin(resolved_at, resolved_at.c.case_id == CaseRow.id)
             .where(CaseRow.opened_at >= since, CaseRow.opened_at < until)
             .group_by(channel)),
        read(select(CallRow.survey_score, n)
             .where(CallRow.started_at >= since, CallRow.started_at < until,
                    CallRow.survey_score.is_not(None))
             .group_by(CallRow.survey_score)),
        read(select(RatingRow.score, n)
             .where(RatingRow.rated_at >= since, RatingRow.rated_at < until,
                    RatingRow.entry_id.is_(None))
             .group_by(RatingRow.score)),
        read(select(CampaignEntryRow.agency, CampaignEntryRow.procedure, RatingRow.score, n)
             .join(CampaignEntryRow, CampaignEntryRow.id == RatingRow.entry_id)
             .where(RatingRow.rated_at >= since, RatingRow.rated_at < until)
             .group_by(CampaignEntryRow.agency, CampaignEntryRow.procedure, RatingRow.score)),
    )
    opened = {r.channel: (int(r.n), int(r.in_time)) for r in cases}
    received = {PHONE: int(calls[0].n), ZALO: int(messages[0].n)}
    scores = {PHONE: {int(r.survey_score): int(r.n) for r in phone_scores},
              ZALO: {int(r.score): int(r.n) for r in zalo_scores}}
    return ChannelTallies(
        channels=tuple(ChannelTally(
            channel=c, received=received[c], cases_opened=opened.get(c, (0, 0))[0],
            resolved_in_time=opened.get(c, (0, 0))[1], ratings=scores[c]) for c in CHANNELS),
        campaigns=tuple(sorted(
            (CampaignRatingTally(r.agency, r.procedure, int(r.score), int(r.n))
             for r in campaigns), key=lambda t: (t.agency, t.procedure, t.score))),
    )
