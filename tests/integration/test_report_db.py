"""The report read from real SQLite and PostgreSQL databases (see conftest.py): the calls
and cases of the period come back, times converted, and the figures are those of the
same records in memory (tests/unit/test_report.py spells them out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from calllog.model import CallRecord, Case, CaseStatus
from calllog.store import CallLogStore
from hotline import report as report_module
from hotline.report import CaseSource, fetch_records
from reports.figures import compute_report
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


async def test_the_figures_from_the_database_are_those_in_memory(store: CallLogStore) -> None:
    await store.apply(sample_calls())
    if isinstance(store, CaseSource):
        await with_sample_cases(store)
    calls, cases = await fetch_records(store, PERIOD, TZ)
    assert sorted(c.call_id for c in calls) == sorted(
        ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13"])
    from_db = compute_report(calls, cases, SETUP, PERIOD)
    in_memory = compute_report(sample_calls(), sample_cases() if cases is not None else None,
                               SETUP, PERIOD)
    assert from_db.calls == in_memory.calls
    assert render_markdown(from_db, report_tables(from_db)) == render_markdown(
        in_memory, report_tables(in_memory))
    if cases is not None:
        assert sorted(c.opened_at for c in cases) == sorted(
            c.opened_at for c in sample_cases()[:3])


async def test_a_long_period_is_read_whole(
    store: CallLogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "FETCH_PAGE", 3)  # the store answers at most `limit`
    await store.apply(sample_calls())
    calls, _ = await fetch_records(store, PERIOD, TZ)
    assert len(calls) == 14


class CallsOnly:
    """A call log from before cases were stored: it has no `list_cases`."""

    def __init__(self, store: CallLogStore) -> None:
        self.store = store

    async def list_calls(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
    ) -> Sequence[CallRecord]:
        return await self.store.list_calls(since=since, until=until, limit=limit)


async def test_a_log_without_cases_gives_no_case_figures(store: CallLogStore) -> None:
    await store.apply(sample_calls())
    calls, cases = await fetch_records(CallsOnly(store), PERIOD, TZ)
    assert (len(calls), cases) == (14, None)
