"""The report from the tallies the database counts (`CallQueries.period_data`, what
`hotline report` and the console read) is the report of the same calls counted one by
one from their records (`reports.compute_report`), on SQLite and on PostgreSQL: the
synthetic September plus the cases where counting in SQL could go wrong (local midnight,
microseconds that decide a whole second, branches gone from the configuration, scores
off the scale, calls in progress, call backs and cases).

The tallies are kept per UTC hour (`calllog.rollup`, revision 0016): a second report
recounts only the hours written since, whichever writer wrote them, and an unchanged
month is read from the stored hours alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

import calllog.rollup
import calllog.tables
from calllog.db import downgrade_async, upgrade_async
from calllog.followup import CallbackActions, CallbackResult
from calllog.model import Callback, CallRecord, Case, CaseStatus, CloseIfOpen, Outcome, SurveyResult
from calllog.presence import PresenceStore
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.tables import CaseRow, ReportHourRow
from reports import DETAILED, FORMATS, PeriodReport, ReportPeriod, build, build_from_data, render
from scripts import synthetic_month
from tests.console_client import hotline_config

ICT = ZoneInfo("Asia/Ho_Chi_Minh")
SEPTEMBER = ReportPeriod(date(2026, 9, 1), date(2026, 9, 30))


def at(text: str) -> datetime:
    """A local time, "2026-09-10 00:00:00.000000"."""
    return datetime.fromisoformat(text).replace(tzinfo=ICT)


def tricky(n: int, start: str, outcome: Outcome | None, branch: int | None = 4,
           **fields: object) -> CallRecord:
    record = CallRecord(call_id=f"tricky-{n:02}", caller_number=f"09110000{n:02}",
                        started_at=at(start), outcome=outcome, branch_key=branch,
                        branch_name=None if branch is None else "Tên lúc gọi")
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def tricky_calls() -> list[CallRecord]:
    s = timedelta(seconds=1)
    return [
        # local midnight: the first instant of a day, the last microsecond of the one before
        tricky(1, "2026-09-10 00:00:00.000000", Outcome.CLOSED, None),
        tricky(2, "2026-09-09 23:59:59.999999", Outcome.CONNECTED,
               bridged_at=at("2026-09-10 00:00:01.000000"),
               ended_at=at("2026-09-10 00:10:00.5")),
        # spanning midnight, and the first and last instants of the period
        tricky(3, "2026-09-30 23:59:00", Outcome.CONNECTED, bridged_at=at("2026-09-30 23:59:30"),
               talk_ended_at=at("2026-10-01 00:05:00"), ended_at=at("2026-10-01 00:06:00")),
        tricky(4, "2026-09-01 00:00:00", Outcome.ABANDONED_IN_MENU, None),
        # where flooring decides: 10.9 -> 12.1 is 1 s, 0.000001 short of 2 s is 1 s,
        # exactly 2 s is 2 s, a bridge before the start is 0 s
        tricky(5, "2026-09-15 09:00:10.900000", Outcome.CONNECTED,
               bridged_at=at("2026-09-15 09:00:12.100000"),
               ended_at=at("2026-09-15 09:01:12.099999")),
        tricky(6, "2026-09-15 09:00:00.000001", Outcome.CONNECTED,
               bridged_at=at("2026-09-15 09:00:02.000000"),
               talk_ended_at=at("2026-09-15 09:00:04.000001")),
        tricky(7, "2026-09-15 09:00:00.500000", Outcome.CONNECTED,
               bridged_at=at("2026-09-15 09:00:02.500000"),
               ended_at=at("2026-09-15 09:00:02.500000") + 59 * s),
        tricky(8, "2026-09-15 09:00:05", Outcome.CONNECTED,
               bridged_at=at("2026-09-15 09:00:04.2"), ended_at=at("2026-09-15 09:00:03")),
        # connected but no bridge time, or no end yet: left out of the durations
        tricky(9, "2026-09-15 10:00:00", Outcome.CONNECTED),
        tricky(10, "2026-09-15 10:00:00", Outcome.CONNECTED,
               bridged_at=at("2026-09-15 10:00:07.3")),
        # a branch key gone from the configuration, with and without the name recorded;
        # a known branch whose call recorded no agency, another an agency of its own
        tricky(11, "2026-09-16 08:00:00", Outcome.DESK_UNREACHABLE, 42, callback="pending"),
        tricky(12, "2026-09-16 08:00:00", Outcome.CONNECTED, 43, branch_name=None,
               agency="Sở cũ", bridged_at=at("2026-09-16 08:00:09.999999"),
               ended_at=at("2026-09-16 08:01:00")),
        tricky(13, "2026-09-16 08:05:00", Outcome.FAILED, 1, agency=None),
        tricky(14, "2026-09-16 08:06:00", Outcome.ABANDONED_WHILE_RINGING, 2,
               agency="Một cơ quan khác"),
        # survey scores off the scale, and a score without a survey result
        tricky(15, "2026-09-17 08:00:00", Outcome.CONNECTED, survey=SurveyResult.ANSWERED,
               survey_score=0, bridged_at=at("2026-09-17 08:00:20"),
               ended_at=at("2026-09-17 08:02:00")),
        tricky(16, "2026-09-17 08:00:00", Outcome.CONNECTED, survey=SurveyResult.ANSWERED,
               survey_score=6, bridged_at=at("2026-09-17 08:00:20"),
               ended_at=at("2026-09-17 08:02:00")),
        tricky(17, "2026-09-17 08:00:00", Outcome.CONNECTED, survey_score=3,
               bridged_at=at("2026-09-17 08:00:20"), ended_at=at("2026-09-17 08:02:00")),
        # still in progress: no outcome, no end
        tricky(18, "2026-09-30 23:59:59.999999", None),
        tricky(19, "2026-09-18 11:00:00", None, bridged_at=at("2026-09-18 11:00:10")),
        # just outside the period
        tricky(20, "2026-08-31 23:59:59.999999", Outcome.CONNECTED,
               bridged_at=at("2026-09-01 00:00:10"), ended_at=at("2026-09-01 00:01:00")),
        tricky(21, "2026-10-01 00:00:00", Outcome.CLOSED, None, callback="pending"),
        # call backs: done with microseconds that decide the median's second, done long
        # after, done "before" the call (a clock step): 0 s
        tricky(22, "2026-09-20 08:00:00.700000", Outcome.DESK_UNREACHABLE,
               callback="done", callback_done_at=at("2026-09-20 10:00:00.699999")),
        tricky(23, "2026-09-20 08:00:00", Outcome.CLOSED, None, callback="done",
               callback_done_at=at("2026-09-25 08:00:00")),
        tricky(24, "2026-09-20 08:00:00", Outcome.CLOSED, None, callback="done",
               callback_done_at=at("2026-09-20 07:59:00")),
        tricky(25, "2026-09-20 08:00:00", Outcome.CLOSED, None, callback="no_number"),
        # the queue: answered after exactly 20 s, 20.999999 s (20 whole), 21 s and 30 s;
        # abandoned and out of patience; a wait "before" it began (a clock step): 0 s;
        # still waiting (no left time); a reason a newer service writes
        *(queued(26 + i, wait, Outcome.CONNECTED, "answered", desk="1401")
          for i, wait in enumerate((20.0, 20.999999, 21.0, 30.0))),
        queued(30, 45.5, Outcome.ABANDONED_WHILE_RINGING, "abandoned"),
        queued(31, 120.0, Outcome.DESK_UNREACHABLE, "max_wait"),
        queued(32, -3.0, Outcome.CONNECTED, "answered", desk="1402"),
        queued(33, None, None, None),
        queued(34, 7.25, Outcome.ABANDONED_WHILE_RINGING, "callback_requested"),
    ]


def queued(n: int, wait: float | None, outcome: Outcome | None, result: str | None,
           desk: str | None = None) -> CallRecord:
    joined = at("2026-09-22 09:00:10.500000") + timedelta(minutes=n)
    left = None if wait is None else joined + timedelta(seconds=wait)
    call = tricky(n, "2026-09-22 09:00:00", outcome, queue_joined_at=joined,
                  queue_left_at=left, queue_result=result)
    if outcome == Outcome.CONNECTED:
        call.desk_answered, call.bridged_at = desk, left
        call.ended_at = None if left is None else left + timedelta(seconds=61.5)
    return call


def tricky_cases() -> list[Case]:
    def case(n: int, opened: str, agency: str | None) -> Case:
        return Case(id=None, call_id=None, category="Khác", opened_at=at(opened),
                    opened_by="desk 1401", agency=agency, recording=f"vm-{n}",
                    key=f"tricky-case-{n}")
    return [case(1, "2026-09-10 00:00:00", None), case(2, "2026-09-30 23:59:59.999999", ""),
            case(3, "2026-09-12 09:00:00", "Cơ quan không còn cấu hình"),
            case(4, "2026-08-31 23:59:59.999999", "Sở Nội vụ"),
            case(5, "2026-10-01 00:00:00", "Sở Nội vụ")]


async def stored_september(store: CallLogStore) -> None:
    calls, cases = synthetic_month.synthetic_month(
        hotline_config(), SEPTEMBER.first, SEPTEMBER.last, seed=7)
    await store.apply([replace(c, callback=Callback.PENDING, callback_done_at=None)
                       if c.callback == Callback.DONE else c for c in calls])
    await synthetic_month._call_backs(CallbackActions(store._sessionmaker), calls)
    for synthetic in cases:
        stored = await store.create_case(synthetic.case)
        assert stored.id is not None
        for step in synthetic.steps:
            await store.update_case(stored.id, status=step.status, by="Tổ vận hành",
                                    at=step.at, agency=step.agency, note=step.note)
    odd = tricky_calls()
    await store.apply([replace(c, callback=Callback.PENDING, callback_done_at=None)
                       if c.callback == Callback.DONE else c for c in odd])
    actions = CallbackActions(store._sessionmaker)
    for c in odd:
        if c.callback == Callback.DONE and c.callback_done_at is not None:
            await actions.record(c.call_id, at=c.callback_done_at - timedelta(minutes=1),
                                 by="Tổ vận hành", result=CallbackResult.NOT_REACHED)
            await actions.record(c.call_id, at=c.callback_done_at, by="Tổ vận hành",
                                 result=CallbackResult.WRONG_NUMBER
                                 if c.call_id.endswith("3") else CallbackResult.REACHED)
    for case in tricky_cases():
        await store.create_case(case)
    presence = PresenceStore(store._sessionmaker)
    for extension, when, paused, logged_in in PAUSES:
        await presence.set_state(extension, logged_in=logged_in, paused=paused,
                                 pause_reason="1" if paused else None, at=at(when), by="desk")


PAUSES = (
    # paused before the period, resumed in it: counts from its start (30 min)
    ("1401", "2026-08-31 23:00:00", True, True), ("1401", "2026-09-01 00:30:00", False, True),
    # 15 min 30.5 s, then logged out while paused (the pause ends), then 10 min
    ("1402", "2026-09-12 09:00:00", True, True), ("1402", "2026-09-12 09:15:30.5", True, False),
    ("1402", "2026-09-20 10:00:00", True, True), ("1402", "2026-09-20 10:10:00", False, True),
    # paused at the period's end: counts to it (60 s)
    ("1403", "2026-09-30 23:59:00", True, True),
)


@pytest.fixture
async def queries(store: CallLogStore) -> CallQueries:
    await stored_september(store)
    return CallQueries(store._sessionmaker)


async def test_the_tallied_report_is_the_report_of_the_records(queries: CallQueries) -> None:
    tallied = await assert_tallied_report_is_the_records_report(queries)

    figures = tallied.figures
    facts = {f.call_id: f for f in figures.calls}
    assert "tricky-20" not in facts and "tricky-21" not in facts
    assert facts["tricky-01"].day == date(2026, 9, 10)
    assert facts["tricky-02"].day == date(2026, 9, 9)
    assert [facts[f"tricky-0{n}"].wait_seconds for n in (5, 6, 7, 8)] == [1, 1, 2, 0]
    assert [facts[f"tricky-0{n}"].talk_seconds for n in (5, 6, 7, 8)] == [59, 2, 59, 0]
    assert figures.callbacks.results is not None
    assert figures.cases is not None and figures.cases.total > 3
    queue = figures.queue
    assert queue is not None
    assert queue.by_result["abandoned"] == queue.abandoned == 1
    assert queue.by_result["callback_requested"] == 1
    assert queue.queued == 8  # the one still waiting has no wait yet
    late = {20: 2, 30: 0}  # of the connected calls that queued: 21 s and 30 s; 30 s
    for level in queue.service_levels:
        assert level.within == queue.answered - late[level.seconds]
        assert level.offered > level.within
    desks = {d.extension: d for d in figures.desks}
    assert desks["1402"].calls >= 1 and desks["1401"].talk_seconds >= 4 * 61
    assert {e: desks[e].pause_seconds for e in ("1401", "1402", "1403")} == {
        "1401": 30 * 60, "1402": 15 * 60 + 30 + 10 * 60, "1403": 60}


async def test_without_details_the_figures_are_the_same_and_no_call_is_read(
    queries: CallQueries,
) -> None:
    config = hotline_config()
    since, until = SEPTEMBER.bounds("Asia/Ho_Chi_Minh")
    data = await queries.period_data(since=since, until=until)
    assert data.calls is None and data.cases is None
    figures_only = build_from_data(data, SEPTEMBER, config)
    detailed = build_from_data(await queries.period_data(since=since, until=until,
                                                         details=True), SEPTEMBER, config)
    assert not figures_only.figures.details and figures_only.figures.calls == ()
    assert figures_only.tables == detailed.tables
    for fmt in set(FORMATS) - DETAILED:
        assert render(figures_only, fmt) == render(detailed, fmt), fmt
    with pytest.raises(ValueError, match="without its details"):
        render(figures_only, "details")


async def assert_tallied_report_is_the_records_report(queries: CallQueries) -> PeriodReport:
    """September from the stored tallies and from every record: the same figures, tables
    and files. The tallied one is returned."""
    config = hotline_config()
    since, until = SEPTEMBER.bounds("Asia/Ho_Chi_Minh")
    records = await queries.period_records(since=since, until=until)
    from_records = build(records.calls, records.cases, SEPTEMBER, config, records.callbacks,
                         records.channels, records.presence)
    tallied = build_from_data(await queries.period_data(since=since, until=until,
                                                        details=True), SEPTEMBER, config)
    assert tallied.figures == from_records.figures
    assert tallied.tables == from_records.tables
    for fmt in FORMATS:
        assert render(tallied, fmt) == render(from_records, fmt), fmt
    return tallied


async def stale_hours(store: CallLogStore) -> list[str]:
    """September's hours written since they were counted (or never counted)."""
    since, until = (t.astimezone(UTC).strftime("%Y-%m-%d %H")
                    for t in SEPTEMBER.bounds("Asia/Ho_Chi_Minh"))
    async with store._sessionmaker() as session:
        return list(await session.scalars(
            select(ReportHourRow.hour).where(
                ReportHourRow.counted.is_distinct_from(ReportHourRow.version),
                ReportHourRow.hour >= since, ReportHourRow.hour < until)
            .order_by(ReportHourRow.hour)))


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_changes_by_every_writer_after_a_report_are_in_the_next_report(
    queries: CallQueries, store: CallLogStore,
) -> None:
    await assert_tallied_report_is_the_records_report(queries)
    assert await stale_hours(store) == []
    calls = {c.call_id: c for c in await store.list_calls(limit=10_000)}
    synthetic = sorted((c for c in calls.values() if not c.call_id.startswith("tricky")),
                       key=lambda c: c.started_at)
    pending = [c for c in synthetic if c.callback == Callback.PENDING]

    # the service's store: an outcome, a survey, a new call in an hour already counted
    await store.save(replace(calls["tricky-19"], outcome=Outcome.CONNECTED,
                             ended_at=at("2026-09-18 11:05:00")))
    await store.save(replace(calls["tricky-09"], survey=SurveyResult.ANSWERED, survey_score=5))
    # the queue's columns and the desk that answered
    await store.save(replace(calls["tricky-27"], queue_left_at=calls["tricky-27"].queue_left_at
                             + timedelta(seconds=40)))
    await store.save(replace(calls["tricky-30"], queue_result="max_wait"))
    await store.save(replace(calls["tricky-26"], desk_answered="1403"))
    await store.save(replace(calls["tricky-05"], call_id="new-in-a-counted-hour",
                             started_at=calls["tricky-05"].started_at + timedelta(seconds=30)))
    # a call moved to another hour (a corrected start)
    await store.save(replace(calls["tricky-10"], started_at=at("2026-09-21 15:30:00")))
    # the spool's replay and the CEL import / recovery, in one batch
    await store.apply([replace(synthetic[0], outcome=Outcome.FAILED),
                       CloseIfOpen(replace(calls["tricky-18"], outcome=Outcome.ABANDONED_IN_MENU,
                                           ended_at=at("2026-10-01 00:00:30")))])
    # the console's call back, and the CLI's
    assert await CallbackActions(store._sessionmaker).record(
        pending[0].call_id, at=at("2026-10-02 09:00:00"), by="Tổ vận hành",
        result=CallbackResult.REACHED)
    assert await store.mark_callback_done(pending[-1].call_id, at=at("2026-10-02 09:30:00"))
    # a case moved to an agency
    async with store._sessionmaker() as session:
        case_id = await session.scalar(select(CaseRow.id).where(CaseRow.key == "tricky-case-1"))
    assert case_id is not None
    await store.update_case(case_id, status=CaseStatus.FORWARDED, by="Tổ vận hành",
                            at=at("2026-10-02 10:00:00"), agency="Sở Tư pháp")
    # nothing in the product deletes a call; the triggers count a delete all the same
    async with store._sessionmaker.begin() as session:
        await session.execute(delete(calllog.tables.CallRow)
                              .where(calllog.tables.CallRow.call_id == "tricky-16"))

    stale = await stale_hours(store)
    assert len(stale) >= 9
    await assert_tallied_report_is_the_records_report(queries)
    assert await stale_hours(store) == []


async def test_an_unchanged_month_is_read_from_the_stored_hours_alone(
    queries: CallQueries, store: CallLogStore,
) -> None:
    since, until = SEPTEMBER.bounds("Asia/Ho_Chi_Minh")
    config = hotline_config()
    engine = store._sessionmaker.kw["bind"]
    with statements(engine) as first_time:
        first = build_from_data(await queries.period_data(since=since, until=until),
                                SEPTEMBER, config)
    with statements(engine) as second_time:
        second = build_from_data(await queries.period_data(since=since, until=until),
                                 SEPTEMBER, config)

    def reads_calls(sql: list[str]) -> bool:
        # The figures by channel read the period's cases (a month: a few thousand rows)
        # and Zalo's tables; the calls, never twice.
        return any(re.search(r"\bFROM calls\b", s) for s in sql)

    assert reads_calls(first_time)
    assert not reads_calls(second_time)
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                   for s in second_time)
    assert second.figures == first.figures
    async with store._sessionmaker() as session:
        counted = await session.scalar(select(func.count()).select_from(ReportHourRow).where(
            ReportHourRow.counted == ReportHourRow.version))
    assert counted is not None and counted >= 30 * 24


async def test_a_write_during_the_recount_leaves_its_hour_to_the_next_report(
    queries: CallQueries, store: CallLogStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await assert_tallied_report_is_the_records_report(queries)
    call = await store.get("tricky-15")
    assert call is not None
    count_hours = calllog.rollup.count_hours

    async def count_then_write(*args: Any, **kwargs: Any) -> Any:
        counted = await count_hours(*args, **kwargs)
        await store.save(replace(call, survey_score=2))  # lands after the count
        return counted

    await store.save(replace(call, survey_score=4))
    monkeypatch.setattr(calllog.rollup, "count_hours", count_then_write)
    since, until = SEPTEMBER.bounds("Asia/Ho_Chi_Minh")
    await queries.period_data(since=since, until=until)
    monkeypatch.undo()

    assert await stale_hours(store) == ["2026-09-17 01"]
    await assert_tallied_report_is_the_records_report(queries)
    assert await stale_hours(store) == []


async def test_periods_off_whole_hours_are_counted_from_the_calls(
    queries: CallQueries,
) -> None:
    since, until = at("2026-09-15 09:00:05"), at("2026-09-20 08:00:00.5")
    tallies = (await queries.period_data(since=since, until=until)).tallies
    records = (await queries.period_records(since=since, until=until)).calls
    assert sum(t.calls for t in tallies.hours) == len(records)
    assert sum(tallies.wait.values()) == sum(
        r.outcome == Outcome.CONNECTED and r.bridged_at is not None for r in records)


async def test_down_to_0015_drops_the_triggers_and_up_again_counts_afresh(
    db_url: str, queries: CallQueries, store: CallLogStore,
) -> None:
    await assert_tallied_report_is_the_records_report(queries)
    await downgrade_async(db_url, "0015")
    async with store._sessionmaker.begin() as session:  # no trigger left to fail
        await session.execute(update(calllog.tables.CallRow).where(
            calllog.tables.CallRow.call_id == "tricky-17").values(survey_score=1))
    await upgrade_async(db_url)
    assert await stale_hours(store) == []  # nothing counted yet: no hour known
    await assert_tallied_report_is_the_records_report(queries)
