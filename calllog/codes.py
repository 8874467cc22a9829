"""Case codes a citizen can be told, e.g. "PA-2026-00042": prefix, year of opening in
Asia/Ho_Chi_Minh, and that year's next number.

The number comes from `case_codes` (one row per year) with one INSERT .. ON CONFLICT DO
UPDATE .. RETURNING in the transaction that opens the case: PostgreSQL locks the year's
row until that transaction ends, SQLite holds its one write lock, so two cases opened at
once never get the same number, and a rolled-back opening gives its number back. The
unique index on `cases.code` stands behind it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from calllog.model import as_utc
from calllog.tables import CaseCodeRow

CODE_PREFIX = "PA"
"""Phản ánh (kiến nghị)."""
CODE_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
CODE_PATTERN = re.compile(r"^PA-(\d{4})-(\d{5,})$")

CaseDeadline = Callable[[datetime], datetime]
"""A case's deadline from the aware instant it was opened (`routing.workdays`)."""


def format_case_code(year: int, number: int) -> str:
    return f"{CODE_PREFIX}-{year}-{number:05d}"


def code_year(opened_at: datetime) -> int:
    """The year a case opened at `opened_at` is numbered in (local time: a case opened
    on 31 December at 23:30 in Vietnam belongs to that year, not the next)."""
    return as_utc(opened_at, "opened_at").astimezone(CODE_ZONE).year


async def next_case_code(session: AsyncSession, dialect: str, opened_at: datetime) -> str:
    """Take the next number of `opened_at`'s year, in `session`'s transaction."""
    year = code_year(opened_at)
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(CaseCodeRow).values(year=year, last=1)
        upsert = stmt.on_conflict_do_update(
            index_elements=[CaseCodeRow.year], set_={"last": CaseCodeRow.last + 1}
        ).returning(CaseCodeRow.last)
        number = (await session.execute(upsert)).scalar_one()
    else:  # any other backend: increment, or start the year
        bumped = (await session.execute(
            update(CaseCodeRow).where(CaseCodeRow.year == year)
            .values(last=CaseCodeRow.last + 1).returning(CaseCodeRow.last)
        )).scalar_one_or_none()
        if bumped is None:
            session.add(CaseCodeRow(year=year, last=1))
            await session.flush()
            bumped = 1
        number = bumped
    return format_case_code(year, int(number))
