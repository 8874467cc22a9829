"""The calls search on a year of calls reads through indexes (benchmarks/console_scale.py
found these two reading every row; docs/benchmarks.md). SQLite's plans, on a database
made by the migrations: PostgreSQL chooses its plans by the table's size and statistics,
which a test's few rows do not have (its figures are in docs/benchmarks.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.dialects import sqlite

from calllog.db import upgrade_async
from calllog.queries import CallFilter, _call_conditions, call_search_statements
from calllog.tables import CallRow


def _plans(db: Path, filters: CallFilter) -> dict[str, list[str]]:
    where = _call_conditions(filters)
    statements: dict[str, Select[tuple[object, ...]]] = {
        "page": select(CallRow.call_id).where(*where)
        .order_by(CallRow.started_at.desc(), CallRow.call_id.desc()).limit(50),
        "count": select(func.count()).select_from(CallRow).where(*where),
    }
    connection = sqlite3.connect(db)
    try:
        plans = {}
        for name, statement in statements.items():
            sql = str(statement.compile(dialect=sqlite.dialect(),
                                        compile_kwargs={"literal_binds": True}))
            plans[name] = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}")]
        return plans
    finally:
        connection.close()


async def _migrated(tmp_path: Path) -> Path:
    db = tmp_path / "plans.db"
    await upgrade_async(f"sqlite+aiosqlite:///{db}")
    return db


async def test_number_prefix_search_reads_a_range_of_the_number_index(tmp_path: Path) -> None:
    plans = _plans(await _migrated(tmp_path), CallFilter(number="0912", number_prefix=True))

    for plan in plans.values():
        assert any("ix_calls_caller_number_started_at (caller_number>? AND caller_number<?)"
                   in step for step in plan), plan


async def test_agency_search_counts_through_indexes_not_the_whole_table(
    tmp_path: Path,
) -> None:
    plans = _plans(await _migrated(tmp_path), CallFilter(agency="Sở Tư pháp"))

    assert not any(step.startswith("SCAN calls") for step in plans["count"]), plans["count"]
    assert any("ix_calls_caller_agency_started_at" in step for step in plans["count"])


def _console_plans(db: Path, filters: CallFilter) -> dict[str, list[str]]:
    """The plans of what the calls page runs: `search_calls` with the console's cap."""
    page, count = call_search_statements(filters, limit=50, offset=0, count_cap=10_000)
    connection = sqlite3.connect(db)
    try:
        plans = {}
        for name, statement in (("page", page), ("count", count)):
            sql = str(statement.compile(dialect=sqlite.dialect(),
                                        compile_kwargs={"literal_binds": True}))
            plans[name] = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}")]
        return plans
    finally:
        connection.close()


async def test_the_capped_count_reads_only_the_filters_index(tmp_path: Path) -> None:
    plans = _console_plans(await _migrated(tmp_path), CallFilter(number="0901234567"))

    assert any("COVERING INDEX ix_calls_caller_number_started_at" in step
               for step in plans["count"]), plans["count"]


async def test_an_agencys_page_is_read_off_both_indexes_newest_first(tmp_path: Path) -> None:
    plans = _console_plans(await _migrated(tmp_path), CallFilter(agency="Sở Tư pháp"))

    page = plans["page"]
    assert any("ix_calls_agency_started_at" in step for step in page), page
    assert any("ix_calls_caller_agency_started_at" in step for step in page), page
    assert not any("MULTI-INDEX OR" in step for step in page), page
