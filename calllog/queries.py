"""The call log's query side, for the people's pages (the console) and the CLI.

Separate from the narrow port the call flow writes through (`calllog.store.CallLog`):
`CallQueries` reads over the async sessionmaker and returns dataclasses, so route
handlers hold no SQL. Everything is paged where a list can grow (`Page`: the items, and
the total the filters match). Policies that come from the YAML (when a call back is
overdue) are passed in as callables by the wiring: this package imports nothing of ours.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.cases import CASE_LIST_LIMIT
from calllog.channels import ChannelTallies, channel_tallies
from calllog.model import (
    Callback,
    CallEvent,
    CallRecord,
    Case,
    CaseChange,
    CaseStatus,
    ConfigReload,
    Outcome,
    as_utc,
    check_limit,
    check_offset,
    parse_case_status,
)
from calllog.period import PeriodTallies
from calllog.presence import PresenceHistory, presence_changes
from calllog.rollup import period_tallies
from calllog.store import case_from_row, event_from_row, record_from_row
from calllog.tables import (
    CallbackAttemptRow,
    CallEventRow,
    CallRow,
    CaseChangeRow,
    CaseRow,
    ConfigReloadRow,
)
from calllog.today import DayCounts, OverdueAt, day_counts, overdue_callbacks
from calllog.zalo_cases import ConversationMessage, conversation

PAGE_SIZE = 50
OPEN_STATUSES = (CaseStatus.RECEIVED, CaseStatus.FORWARDED, CaseStatus.VERIFYING)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    """How many the filters match, all pages put together (at most the count cap asked
    for: see `capped`)."""
    offset: int
    limit: int
    capped: bool = False
    """More than `total` match: the count stopped at the cap."""


@dataclass(frozen=True)
class Followup:
    """Staff's call backs of a call, summed up (`calllog.followup`)."""

    result: str | None = None
    """The last result: reached, not_reached, wrong_number; None before any."""
    by: str | None = None
    last_at: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class CallView:
    call: CallRecord
    followup: Followup = Followup()

    @property
    def time_to_callback(self) -> timedelta | None:
        """From the call to the call back that closed it (None while pending)."""
        done = self.call.callback_done_at
        return None if done is None else done - self.call.started_at


@dataclass(frozen=True)
class CallbackAttempt:
    at: datetime
    by: str
    result: str
    note: str


@dataclass(frozen=True)
class CaseView:
    id: int
    code: str | None
    call_id: str | None
    category: str
    status: CaseStatus
    agency: str | None
    opened_at: datetime
    opened_by: str
    due_at: datetime | None
    recording: str | None
    history: tuple[CaseChange, ...] = ()
    channel: str = "phone"
    zalo_user_id: str | None = None
    """A Zalo case's sender, or the follower a phone case was linked to (0014)."""
    citizen_name: str | None = None
    citizen_phone: str | None = None

    def overdue(self, now: datetime) -> bool:
        """Still open past its deadline."""
        return (self.status in OPEN_STATUSES and self.due_at is not None
                and self.due_at < now)


@dataclass(frozen=True)
class CallDetail:
    """A call's page: its row, its timeline, its call backs and its cases."""

    view: CallView
    events: list[CallEvent]
    attempts: list[CallbackAttempt]
    cases: list[CaseView]


@dataclass(frozen=True)
class PendingCallback:
    view: CallView
    age: timedelta
    overdue_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class CallbackFigures:
    """The period's call backs (calls started in it), for the report."""

    needed: int
    """Calls that needed a call back (pending or done)."""
    pending: int
    done: int
    reached: int
    wrong_number: int
    attempts: int
    """Call backs made for these calls, not_reached ones included."""
    times_to_callback: list[timedelta] = field(default_factory=list)
    """Call to the call back that closed it, one per done call back, shortest first."""
    by_result: dict[str, int] = field(default_factory=dict)
    """Pending and done calls by the result of their last call back (`callback_result`:
    `calllog.followup.CallbackResult` or what the service's call-backs write); calls
    never called back yet are left out."""

    @property
    def median_time_to_callback(self) -> timedelta | None:
        times = self.times_to_callback
        if not times:
            return None
        middle = len(times) // 2
        if len(times) % 2:
            return times[middle]
        return (times[middle - 1] + times[middle]) / 2


@dataclass(frozen=True)
class PeriodRecords:
    """What the period report is made of: the calls started in it (oldest first), the
    cases opened in it (without history) and its call backs' figures."""

    calls: list[CallRecord]
    cases: list[Case]
    callbacks: CallbackFigures
    channels: ChannelTallies | None = None
    presence: PresenceHistory | None = None
    """The desks' presence changes, for their pause time."""


@dataclass(frozen=True)
class PeriodData:
    """What the period report reads: the tallies every figure comes from and, when the
    details are asked for, the calls started in the period (oldest first) and the cases
    opened in it (without history)."""

    tallies: PeriodTallies
    calls: list[CallRecord] | None = None
    cases: list[Case] | None = None
    channels: ChannelTallies | None = None
    """The figures by channel (phone, Zalo)."""
    presence: PresenceHistory | None = None
    """The desks' presence changes, for their pause time."""


@dataclass(frozen=True)
class CallerHistory:
    """What the desk's user sees while talking to a caller: the number's earlier calls
    (newest first) and its open cases (newest first)."""

    calls: list[CallRecord]
    open_cases: list[CaseView]


@dataclass(frozen=True)
class CallFilter:
    """A calls search: every filter given must match (`since <= started_at < until`)."""

    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None
    """The caller's number, exactly, or its start with `number_prefix`."""
    number_prefix: bool = False
    branch_key: int | None = None
    agency: str | None = None
    """The agency the call went to, or the agency of the station that called."""
    outcome: Outcome | str | None = None


@dataclass(frozen=True)
class CaseFilter:
    status: CaseStatus | str | None = None
    agency: str | None = None
    overdue_at: datetime | None = None
    """Only open cases whose deadline is before this instant (give "now")."""
    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    """"phone" or "zalo"."""


class CallQueries:
    """What the people's pages read of the call log."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    # --- calls -------------------------------------------------------------------------

    async def search_calls(
        self, filters: CallFilter = CallFilter(), *, limit: int = PAGE_SIZE, offset: int = 0,
        count_cap: int | None = None,
    ) -> Page[CallView]:
        """Calls matching `filters`, newest first, a page of them and how many in all;
        with `count_cap`, counted no further than that (`Page.capped` says there are
        more): counting all of an agency's year of calls took 0.5-0.8 s on SQLite
        (docs/benchmarks.md), a LIMITed count stops early."""
        check_limit(limit)
        check_offset(offset)
        if count_cap is not None:
            check_limit(count_cap)
        query, counted = call_search_statements(filters, limit=limit, offset=offset,
                                                count_cap=count_cap)
        async with self._sessionmaker() as session:
            total = int(await session.scalar(counted) or 0)
            rows = list(await session.scalars(query))
        items = [_view(r) for r in rows]
        if count_cap is not None and total > count_cap:
            return Page(items, count_cap, offset, limit, capped=True)
        return Page(items, total, offset, limit)

    async def call(self, call_id: str) -> CallDetail | None:
        """One call with its timeline (in order), its call backs and its cases."""
        async with self._sessionmaker() as session:
            row = await session.get(CallRow, call_id)
            if row is None:
                return None
            events = await session.scalars(select(CallEventRow).where(
                CallEventRow.call_id == call_id).order_by(CallEventRow.id))
            attempts = await session.scalars(select(CallbackAttemptRow).where(
                CallbackAttemptRow.call_id == call_id).order_by(CallbackAttemptRow.id))
            cases = await session.scalars(select(CaseRow).where(CaseRow.call_id == call_id)
                                          .order_by(CaseRow.opened_at, CaseRow.id))
            return CallDetail(
                view=_view(row),
                events=[event_from_row(e) for e in events],
                attempts=[CallbackAttempt(a.at, a.by, a.result, a.note) for a in attempts],
                cases=[_case_view(c, ()) for c in cases],
            )

    async def earlier_calls(self, call_id: str, *, limit: int = 20) -> list[CallRecord]:
        """The same caller's calls before this one, newest first (none for a caller
        whose number is unknown)."""
        check_limit(limit)
        async with self._sessionmaker() as session:
            row = await session.get(CallRow, call_id)
            if row is None or not row.caller_number or row.caller_number == "unknown":
                return []
            query = (select(CallRow)
                     .where(CallRow.caller_number == row.caller_number,
                            CallRow.call_id != call_id,
                            or_(CallRow.started_at < row.started_at,
                                (CallRow.started_at == row.started_at)
                                & (CallRow.call_id < call_id)))
                     .order_by(CallRow.started_at.desc(), CallRow.call_id.desc()).limit(limit))
            return [record_from_row(r) for r in await session.scalars(query)]

    # --- call backs --------------------------------------------------------------------

    async def pending_callbacks(
        self, *, now: datetime, overdue_at: OverdueAt | None = None,
        limit: int = PAGE_SIZE, offset: int = 0,
    ) -> Page[PendingCallback]:
        """Calls waiting for a call back, oldest first, with their age at `now` and
        whether they are overdue (by `overdue_at`, from the YAML's working hours)."""
        check_limit(limit)
        check_offset(offset)
        now = as_utc(now, "now")
        pending = CallRow.callback == Callback.PENDING.value
        query = (select(CallRow).where(pending)
                 .order_by(CallRow.started_at, CallRow.call_id).offset(offset).limit(limit))
        async with self._sessionmaker() as session:
            total = await session.scalar(select(func.count()).select_from(CallRow).where(pending))
            rows = list(await session.scalars(query))
        items = []
        for row in rows:
            due = None if overdue_at is None else overdue_at(row.started_at)
            items.append(PendingCallback(_view(row), now - row.started_at, due,
                                         due is not None and due <= now))
        return Page(items, int(total or 0), offset, limit)

    async def count_overdue_callbacks(self, *, now: datetime, overdue_at: OverdueAt) -> int:
        """How many pending call backs are overdue at `now` (the wallboard's count)."""
        async with self._sessionmaker() as session:
            return await overdue_callbacks(session, now, overdue_at)

    async def handled_callbacks(
        self, *, since: datetime | None = None, until: datetime | None = None,
        limit: int = PAGE_SIZE, offset: int = 0,
    ) -> Page[CallView]:
        """Call backs done (`since <= callback_done_at < until`), latest first."""
        check_limit(limit)
        check_offset(offset)
        where: list[ColumnElement[bool]] = [CallRow.callback == Callback.DONE.value]
        if since is not None:
            where.append(CallRow.callback_done_at >= as_utc(since, "since"))
        if until is not None:
            where.append(CallRow.callback_done_at < as_utc(until, "until"))
        query = (select(CallRow).where(*where)
                 .order_by(CallRow.callback_done_at.desc(), CallRow.call_id.desc())
                 .offset(offset).limit(limit))
        async with self._sessionmaker() as session:
            total = await session.scalar(select(func.count()).select_from(CallRow).where(*where))
            rows = list(await session.scalars(query))
        return Page([_view(r) for r in rows], int(total or 0), offset, limit)

    async def callback_figures(self, *, since: datetime, until: datetime) -> CallbackFigures:
        """The call backs of the calls started in `since <= started_at < until`: the one
        function the period report calls for its call-back figures."""
        wanted = CallRow.callback.in_([Callback.PENDING.value, Callback.DONE.value])
        query = select(CallRow.started_at, CallRow.callback, CallRow.callback_done_at,
                       CallRow.callback_result, CallRow.callback_attempts).where(
            wanted, CallRow.started_at >= as_utc(since, "since"),
            CallRow.started_at < as_utc(until, "until"))
        async with self._sessionmaker() as session:
            rows = (await session.execute(query)).all()
        done = [r for r in rows if r.callback == Callback.DONE.value]
        times = sorted(r.callback_done_at - r.started_at for r in done
                       if r.callback_done_at is not None)
        return CallbackFigures(
            needed=len(rows), pending=len(rows) - len(done), done=len(done),
            reached=sum(r.callback_result == "reached" for r in done),
            wrong_number=sum(r.callback_result == "wrong_number" for r in done),
            attempts=sum(r.callback_attempts or 0 for r in rows),
            times_to_callback=times,
            by_result=dict(Counter(r.callback_result for r in rows
                                   if r.callback_result is not None)),
        )

    async def period_data(
        self, *, since: datetime, until: datetime, details: bool = False,
        now: datetime | None = None,
    ) -> PeriodData:
        """What the period report of `since <= t < until` reads, the one read behind
        `hotline report` and the console's reports page: the tallies (a few GROUP BY
        queries), the desks' presence changes (a pause still running counts up to `now`),
        and with `details` every call and case of the period as well."""
        tallies, channels, presence = await asyncio.gather(
            period_tallies(self._sessionmaker, since=since, until=until),
            channel_tallies(self._sessionmaker, since=since, until=until),
            self.presence_history(since=since, until=until, now=now))
        if not details:
            return PeriodData(tallies, channels=channels, presence=presence)
        calls, cases = await self._period_calls_and_cases(since, until)
        return PeriodData(tallies, calls, cases, channels, presence)

    async def period_records(
        self, *, since: datetime, until: datetime, now: datetime | None = None,
    ) -> PeriodRecords:
        """The calls started in `since <= t < until`, the cases opened in it and its call
        backs' figures, as records (`reports.compute_report` counts them)."""
        calls, cases = await self._period_calls_and_cases(since, until)
        return PeriodRecords(calls, cases, await self.callback_figures(since=since, until=until),
                             await channel_tallies(self._sessionmaker, since=since, until=until),
                             await self.presence_history(since=since, until=until, now=now))

    async def presence_history(
        self, *, since: datetime, until: datetime, now: datetime | None = None,
    ) -> PresenceHistory:
        """The desks' presence changes of `since <= t < until` (and each desk's last one
        before), as of `now`."""
        end = until if now is None else max(since, min(until, now))
        return PresenceHistory(tuple(await presence_changes(self._sessionmaker, since, end)),
                               as_of=now)

    async def _period_calls_and_cases(
        self, since: datetime, until: datetime
    ) -> tuple[list[CallRecord], list[Case]]:
        since, until = as_utc(since, "since"), as_utc(until, "until")
        calls = (select(CallRow).where(CallRow.started_at >= since, CallRow.started_at < until)
                 .order_by(CallRow.started_at, CallRow.call_id))
        cases = (select(CaseRow).where(CaseRow.opened_at >= since, CaseRow.opened_at < until)
                 .order_by(CaseRow.opened_at, CaseRow.id))
        async with self._sessionmaker() as session:
            call_rows = [record_from_row(r) for r in await session.scalars(calls)]
            case_rows = [case_from_row(r, ()) for r in await session.scalars(cases)]
        return call_rows, case_rows

    # --- cases -------------------------------------------------------------------------

    async def cases(
        self, filters: CaseFilter = CaseFilter(), *,
        limit: int = CASE_LIST_LIMIT, offset: int = 0,
    ) -> Page[CaseView]:
        """Cases matching `filters`, newest first (overdue ones: most overdue first),
        without their history."""
        check_limit(limit)
        check_offset(offset)
        where = _case_conditions(filters)
        order: Sequence[Any] = (
            (CaseRow.due_at, CaseRow.id) if filters.overdue_at is not None
            else (CaseRow.opened_at.desc(), CaseRow.id.desc()))
        query = select(CaseRow).where(*where).order_by(*order).offset(offset).limit(limit)
        async with self._sessionmaker() as session:
            total = await session.scalar(select(func.count()).select_from(CaseRow).where(*where))
            rows = list(await session.scalars(query))
        return Page([_case_view(r, ()) for r in rows], int(total or 0), offset, limit)

    async def case(self, case_id: int) -> CaseView | None:
        """One case with its whole history, oldest first."""
        return await self._case(CaseRow.id == case_id)

    async def case_by_code(self, code: str) -> CaseView | None:
        return await self._case(CaseRow.code == code.strip().upper())

    async def _case(self, condition: ColumnElement[bool]) -> CaseView | None:
        async with self._sessionmaker() as session:
            row = await session.scalar(select(CaseRow).where(condition))
            if row is None:
                return None
            changes = await session.scalars(select(CaseChangeRow).where(
                CaseChangeRow.case_id == row.id).order_by(CaseChangeRow.id))
            return _case_view(row, tuple(
                CaseChange(at=c.at, by=c.by, status=CaseStatus(c.status), agency=c.agency,
                           note=c.note) for c in changes))

    # --- configuration -----------------------------------------------------------------

    async def recent_reloads(self, *, limit: int = 20) -> list[ConfigReload]:
        """The latest config reloads, newest first, with their status and problems."""
        check_limit(limit)
        query = select(ConfigReloadRow).order_by(ConfigReloadRow.id.desc()).limit(limit)
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [ConfigReload(at=r.at, file=r.file, sha256=r.sha256, status=r.status,
                                 problems=r.problems, pbx_error=r.pbx_error, key=r.key)
                    for r in rows]

    # --- the wallboard -----------------------------------------------------------------

    async def today_figures(self, *, since: datetime, until: datetime, now: datetime,
                            overdue_at: OverdueAt | None = None) -> DayCounts:
        """The wallboard's figures: calls started in `since <= started_at < until` by
        outcome, call backs pending (and overdue at `now` by `overdue_at`), open cases
        past their deadline at `now`."""
        return await day_counts(self._sessionmaker, since=since, until=until, now=now,
                                overdue_at=overdue_at)

    # --- a case's Zalo conversation ----------------------------------------------------

    async def conversation(self, case_id: int) -> list[ConversationMessage]:
        """The case's Zalo messages in and out, oldest first."""
        async with self._sessionmaker() as session:
            return await conversation(session, case_id)

    async def caller_history(self, call_id: str, *, since: datetime, limit: int = 10,
                             agency: str | None = None) -> CallerHistory:
        """The caller of `call_id`: their calls since `since` before this one (at most
        `limit`) and their open cases (a case of one of their calls, or naming their
        number); with `agency`, only what belongs to that agency (an agency user)."""
        check_limit(limit)
        async with self._sessionmaker() as session:
            number = await session.scalar(select(CallRow.caller_number)
                                          .where(CallRow.call_id == call_id))
            if not number or number == "unknown":
                return CallerHistory([], [])
            calls = (select(CallRow)
                     .where(*_call_conditions(CallFilter(since=since, number=number,
                                                         agency=agency)),
                            CallRow.call_id != call_id)
                     .order_by(CallRow.started_at.desc(), CallRow.call_id.desc()).limit(limit))
            theirs = select(CallRow.call_id).where(CallRow.caller_number == number)
            cases = (select(CaseRow)
                     .where(or_(CaseRow.call_id.in_(theirs), CaseRow.citizen_phone == number),
                            CaseRow.status.in_([s.value for s in OPEN_STATUSES]),
                            *([CaseRow.agency == agency] if agency is not None else []))
                     .order_by(CaseRow.opened_at.desc(), CaseRow.id.desc()).limit(limit))
            return CallerHistory(
                [record_from_row(r) for r in await session.scalars(calls)],
                [_case_view(r, ()) for r in await session.scalars(cases)])


def call_search_statements(
    filters: CallFilter, *, limit: int, offset: int, count_cap: int | None
) -> tuple[Select[CallRow], Select[int]]:
    """`search_calls`' two statements: its page and its count (tested for their plans)."""
    where = _call_conditions(filters)
    newest = (CallRow.started_at.desc(), CallRow.call_id.desc())
    page_of: ColumnElement[bool] = and_(true(), *where)
    if filters.agency is not None:
        # "to the agency OR from its stations": SQLite reads both indexes and sorts all of
        # the agency's year (0.4-0.5 s); the newest of each side, then merged, is the same
        # page from two short index reads.
        others = _call_conditions(replace(filters, agency=None))
        sides = [select(CallRow.call_id).where(*others, side).order_by(*newest)
                 .limit(offset + limit).subquery().select()
                 for side in (CallRow.agency == filters.agency,
                              CallRow.caller_agency == filters.agency)]
        page_of = CallRow.call_id.in_(union_all(*sides))
    page = select(CallRow).where(page_of).order_by(*newest).offset(offset).limit(limit)
    if count_cap is None:
        return page, select(func.count()).select_from(CallRow).where(*where)
    # a constant: the filter's index covers the count (call_id would be looked up in the
    # table for every row)
    return page, select(func.count()).select_from(
        select(literal(1)).select_from(CallRow).where(*where).limit(count_cap + 1).subquery())


def _call_conditions(filters: CallFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.since is not None:
        where.append(CallRow.started_at >= as_utc(filters.since, "since"))
    if filters.until is not None:
        where.append(CallRow.started_at < as_utc(filters.until, "until"))
    if filters.number:
        if filters.number_prefix:
            where += [CallRow.caller_number.startswith(filters.number, autoescape=True),
                      func.substr(CallRow.caller_number, 1, len(filters.number))
                      == filters.number, *_prefix_range(filters.number)]
        else:
            where.append(CallRow.caller_number == filters.number)
    if filters.branch_key is not None:
        where.append(CallRow.branch_key == filters.branch_key)
    if filters.agency is not None:
        where.append(or_(CallRow.agency == filters.agency,
                         CallRow.caller_agency == filters.agency))
    if filters.outcome is not None:
        where.append(CallRow.outcome == Outcome(filters.outcome).value)
    return where


def _prefix_range(prefix: str) -> list[ColumnElement[bool]]:
    """The same prefix as a range of the number index (SQLite uses no index for a LIKE
    whose pattern is an expression: a year of calls took 0.9 s to count, docs/benchmarks.md)."""
    where = [CallRow.caller_number >= prefix]
    if ord(prefix[-1]) < 0x10FFFF:
        where.append(CallRow.caller_number < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    return where


def _case_conditions(filters: CaseFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.status is not None:
        where.append(CaseRow.status == parse_case_status(filters.status).value)
    if filters.agency is not None:
        where.append(CaseRow.agency == filters.agency)
    if filters.overdue_at is not None:
        where += [CaseRow.status.in_([s.value for s in OPEN_STATUSES]),
                  CaseRow.due_at < as_utc(filters.overdue_at, "overdue_at")]
    if filters.since is not None:
        where.append(CaseRow.opened_at >= as_utc(filters.since, "since"))
    if filters.until is not None:
        where.append(CaseRow.opened_at < as_utc(filters.until, "until"))
    if filters.channel is not None:
        where.append(CaseRow.channel == filters.channel)
    return where


def _view(row: CallRow) -> CallView:
    return CallView(record_from_row(row), Followup(
        result=row.callback_result, by=row.callback_by, last_at=row.callback_last_at,
        attempts=row.callback_attempts or 0))


def _case_view(row: CaseRow, history: tuple[CaseChange, ...]) -> CaseView:
    return CaseView(
        id=row.id, code=row.code, call_id=row.call_id, category=row.category,
        status=CaseStatus(row.status), agency=row.agency, opened_at=row.opened_at,
        opened_by=row.opened_by, due_at=row.due_at, recording=row.recording, history=history,
        channel=row.channel, zalo_user_id=row.zalo_user_id, citizen_name=row.citizen_name,
        citizen_phone=row.citizen_phone)


