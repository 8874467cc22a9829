"""The report read from real SQLite and PostgreSQL databases (see conftest.py) through
`CallQueries.period_records` (the read behind `hotline report` and the console): the calls
and cases of the period come back, times converted, the figures are those of the same
records in memory (tests/unit/test_report.py spells them out), and the call backs'
results are counted."""

from __future__ import annotations

from datetime import timedelta

from calllog.followup import CallbackActions, CallbackResult
from calllog.model import Callback, Case, CaseStatus
from calllog.queries import CallQueries, PeriodRecords
from calllog.store import CallLogStore
from reports.figures import CallbackResults, compute_report
from reports.markdown import render_markdown
from reports.tables import report_tables
from tests.unit.test_report import PERIOD, SETUP, sample_calls, sample_cases

TZ = "Asia/Ho_Chi_Minh"


async def with_sample_cases(store: CallLogStore) -> None:
    """The sample's cases as operators would leave them: opened, then moved along."""
    for case in sample_cases():
        stored = await store.create_case(Case(
            id=None, call_id=None, category=case.category, opened_at=case.opened_at,
            opened_by=case.opened_by, recording=case.recording,
            agency=None if case.status is CaseStatus.FORWARDED else case.agency))
        assert stored.id is not None
        path = {CaseStatus.FORWARDED: [CaseStatus.FORWARDED],
                CaseStatus.RESOLVED: [CaseStatus.VERIFYING, CaseStatus.RESOLVED],
                CaseStatus.REJECTED: [CaseStatus.REJECTED]}.get(case.status, [])
        for status in path:
            forwarded_to = case.agency if status is CaseStatus.FORWARDED else None
            await store.update_case(stored.id, status=status, by="Tổ vận hành",
                                    at=case.opened_at, agency=forwarded_to)


async def period_records(store: CallLogStore) -> PeriodRecords:
    since, until = PERIOD.bounds(TZ)
    return await CallQueries(store._sessionmaker).period_records(since=since, until=until)


async def test_the_figures_from_the_database_are_those_in_memory(store: CallLogStore) -> None:
    await store.apply(sample_calls())
    await with_sample_cases(store)
    records = await period_records(store)
    assert sorted(c.call_id for c in records.calls) == sorted(
        ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13"])
    from_db = compute_report(records.calls, records.cases, SETUP, PERIOD)
    in_memory = compute_report(sample_calls(), sample_cases(), SETUP, PERIOD)
    assert from_db.calls == in_memory.calls
    assert render_markdown(from_db, report_tables(from_db)) == render_markdown(
        in_memory, report_tables(in_memory))
    assert sorted(c.opened_at for c in records.cases) == sorted(
        c.opened_at for c in sample_cases()[:3])


async def test_the_period_records_come_oldest_first_with_the_call_back_figures(
    store: CallLogStore,
) -> None:
    await store.apply(sample_calls())
    records = await period_records(store)
    starts = [c.started_at for c in records.calls]
    assert starts == sorted(starts)
    in_memory = compute_report(sample_calls(), None, SETUP, PERIOD).callbacks
    assert (records.callbacks.needed, records.callbacks.done, records.callbacks.pending) == (
        in_memory.needed, in_memory.done, in_memory.pending)


async def test_the_report_shows_what_staff_call_backs_achieved(store: CallLogStore) -> None:
    calls = sample_calls()
    await store.apply(calls)
    pending = [c for c in calls if c.callback == Callback.PENDING]
    assert len(pending) >= 2
    actions = CallbackActions(store._sessionmaker)
    first, second = pending[0], pending[1]
    await actions.record(first.call_id, at=first.started_at + timedelta(hours=1), by="an",
                         result=CallbackResult.NOT_REACHED)
    await actions.record(first.call_id, at=first.started_at + timedelta(hours=3), by="an",
                         result=CallbackResult.REACHED)
    await actions.record(second.call_id, at=second.started_at + timedelta(hours=5), by="an",
                         result=CallbackResult.WRONG_NUMBER)
    records = await period_records(store)
    results = compute_report(records.calls, records.cases, SETUP, PERIOD,
                             records.callbacks).callbacks.results
    assert results == CallbackResults(reached=1, wrong_number=1, attempts=3,
                                      median_seconds=5 * 3600, by_result={
                                          "reached": 1, "not_reached": 0, "wrong_number": 1})
