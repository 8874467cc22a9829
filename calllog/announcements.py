"""The announcement override's switches in the database: every switch is one row
(who, when, what), the newest one in force. The console and the CLI write; the
service reads the newest at each call, through a short cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import as_utc
from calllog.tables import AnnouncementRow


class OverrideMode(StrEnum):
    AFTER_GREETING = "after_greeting"
    REPLACE_MENU = "replace_menu"


@dataclass(frozen=True)
class OverrideSwitch:
    """One switch of the announcement, on or off, as recorded."""

    at: datetime
    by: str
    on: bool
    mode: OverrideMode | None = None
    text: str | None = None
    media: str | None = None
    """The audio file's name (no extension) in the prompts directory Asterisk reads."""
    until: datetime | None = None


class AnnouncementStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def switch(self, switch: OverrideSwitch) -> None:
        async with self._sessions.begin() as session:
            session.add(AnnouncementRow(
                at=as_utc(switch.at, "at"), by=switch.by[:64], on=switch.on,
                mode=switch.mode.value if switch.mode else None, text=switch.text,
                media=switch.media,
                until=as_utc(switch.until, "until") if switch.until else None))

    async def latest(self) -> OverrideSwitch | None:
        found = await self.history(1)
        return found[0] if found else None

    async def history(self, limit: int = 20) -> list[OverrideSwitch]:
        """The newest switches first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AnnouncementRow).order_by(AnnouncementRow.id.desc()).limit(limit))
            return [_switch(r) for r in rows]


def _switch(row: AnnouncementRow) -> OverrideSwitch:
    return OverrideSwitch(at=row.at, by=row.by, on=row.on,
                          mode=OverrideMode(row.mode) if row.mode else None,
                          text=row.text, media=row.media, until=row.until)
