"""Survey campaigns over Zalo and the ratings Zalo brings back (revision 0015).

A campaign is a list of people who completed a procedure (seed 000: "khảo sát sự hài
lòng ... tại Trung tâm Hành chính công"): one entry per number per campaign, each sent
the rating template once (`calllog.zns`). A rating (`zalo_ratings`) is the answer of a
rating template, stored once per send (its key is the send's tracking id), with what it
rates copied from the send: the call, the case or the campaign entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.tables import CampaignEntryRow, CampaignRow, RatingRow, ZaloSendRow
from calllog.zalo import SendStatus
from calllog.zns import SendView, send_view

ZALO_CHANNEL = "zalo"


@dataclass(frozen=True)
class CampaignLine:
    phone: str
    """Normalised, `84...`."""
    procedure: str
    agency: str
    done_on: date


class UnreadableFile(ValueError):
    """An uploaded list that is not a CSV or xlsx that can be read (the message is shown
    to the operator)."""


@dataclass(frozen=True)
class RefusedRow:
    line: int
    """1-based row of the file (the header counts)."""
    values: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class AcceptedRow:
    line: int
    entry: CampaignLine


@dataclass(frozen=True)
class CampaignFile:
    """An uploaded list read (`zalo.campaign_file`): the rows accepted and refused."""

    accepted: tuple[AcceptedRow, ...]
    refused: tuple[RefusedRow, ...]


ReadCampaignFile = Callable[[str, bytes], CampaignFile]
"""(file name, content) -> the rows; `UnreadableFile` when it cannot be read."""


@dataclass(frozen=True)
class CampaignSummary:
    id: int
    name: str
    file_name: str
    created_at: datetime
    created_by: str
    entries: int
    refused: int
    pending: int
    sent: int
    delivered: int
    failed: int
    skipped: int
    rated: int


@dataclass(frozen=True)
class Rating:
    key: str
    score: int
    note: str
    rated_at: datetime
    user_id: str | None
    tracking_id: str | None


class Campaigns:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, name: str, file_name: str, lines: Sequence[CampaignLine], *, refused: int,
        by: str, at: datetime,
    ) -> int:
        """A campaign with its entries (a number twice: once), in one transaction."""
        async with self._sessions() as session, session.begin():
            row = CampaignRow(name=name, file_name=file_name, created_at=at, created_by=by,
                              refused=refused)
            session.add(row)
            await session.flush()
            seen: set[str] = set()
            for line in lines:
                if line.phone in seen:
                    continue
                seen.add(line.phone)
                session.add(CampaignEntryRow(
                    campaign_id=row.id, phone=line.phone, procedure=line.procedure,
                    agency=line.agency, done_on=line.done_on, created_at=at))
            return row.id

    async def summaries(self, limit: int = 50) -> list[CampaignSummary]:
        """The latest campaigns with their sends by state and their ratings."""
        sends = (select(CampaignEntryRow.campaign_id, ZaloSendRow.status, func.count().label("n"))
                 .join(ZaloSendRow, ZaloSendRow.entry_id == CampaignEntryRow.id)
                 .group_by(CampaignEntryRow.campaign_id, ZaloSendRow.status))
        rated = (select(CampaignEntryRow.campaign_id, func.count(RatingRow.id).label("n"))
                 .join(RatingRow, RatingRow.entry_id == CampaignEntryRow.id)
                 .group_by(CampaignEntryRow.campaign_id))
        entries = (select(CampaignEntryRow.campaign_id, func.count().label("n"))
                   .group_by(CampaignEntryRow.campaign_id))
        async with self._sessions() as session:
            campaigns = list(await session.scalars(
                select(CampaignRow).order_by(CampaignRow.id.desc()).limit(limit)))
            by_status: dict[int, dict[str, int]] = {}
            for campaign_id, status, n in (await session.execute(sends)).all():
                by_status.setdefault(campaign_id, {})[status] = n
            ratings = {int(k): int(v) for k, v in (await session.execute(rated)).all()}
            counts = {int(k): int(v) for k, v in (await session.execute(entries)).all()}
        summaries = []
        for c in campaigns:
            states = by_status.get(c.id, {})
            summaries.append(CampaignSummary(
                id=c.id, name=c.name, file_name=c.file_name, created_at=c.created_at,
                created_by=c.created_by, entries=counts.get(c.id, 0), refused=c.refused,
                pending=states.get(SendStatus.PENDING.value, 0),
                sent=states.get(SendStatus.SENT.value, 0),
                delivered=states.get(SendStatus.DELIVERED.value, 0),
                failed=states.get(SendStatus.FAILED.value, 0),
                skipped=states.get(SendStatus.SKIPPED.value, 0),
                rated=ratings.get(c.id, 0)))
        return summaries

    async def failed_sends(self, campaign_id: int, limit: int = 100) -> list[SendView]:
        query = (select(ZaloSendRow)
                 .join(CampaignEntryRow, CampaignEntryRow.id == ZaloSendRow.entry_id)
                 .where(CampaignEntryRow.campaign_id == campaign_id,
                        ZaloSendRow.status == SendStatus.FAILED.value)
                 .order_by(ZaloSendRow.entry_id).limit(limit))
        async with self._sessions() as session:
            return [send_view(row) for row in await session.scalars(query)]


class Ratings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, rating: Rating) -> bool:
        """Store `rating`, linked to what its send was about; False (nothing written) if
        a rating with its key is already stored."""
        async with self._sessions() as session, session.begin():
            send = None if rating.tracking_id is None else await session.get(
                ZaloSendRow, rating.tracking_id)
            values = {
                "key": rating.key, "channel": ZALO_CHANNEL, "score": rating.score,
                "note": rating.note, "rated_at": rating.rated_at, "user_id": rating.user_id,
                "tracking_id": rating.tracking_id,
                "phone": None if send is None else send.phone,
                "call_id": None if send is None else send.call_id,
                "case_id": None if send is None else send.case_id,
                "entry_id": None if send is None else send.entry_id,
            }
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            result = await session.execute(insert(RatingRow).values(values)
                                           .on_conflict_do_nothing(index_elements=[RatingRow.key]))
            return bool(getattr(result, "rowcount", 0) == 1)

    async def by_key(self, key: str) -> RatingRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(RatingRow).where(RatingRow.key == key))
            return None if row is None else RatingRecord(
                key=row.key, channel=row.channel, score=row.score, note=row.note,
                rated_at=row.rated_at, call_id=row.call_id, case_id=row.case_id,
                entry_id=row.entry_id, phone=row.phone)


@dataclass(frozen=True)
class RatingRecord:
    key: str
    channel: str
    score: int
    note: str
    rated_at: datetime
    call_id: str | None
    case_id: int | None
    entry_id: int | None
    phone: str | None
