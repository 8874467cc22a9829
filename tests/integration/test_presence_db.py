"""Desk presence and repeat-caller counts in SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import CallRecord
from calllog.presence import PresenceStore
from calllog.store import CallLogStore

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_console_and_service_writes_keep_each_others_columns(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = PresenceStore(sessions)
    await store.record_call_end("1401", wrap_up_until=AT + timedelta(seconds=30),
                                calls_day=date(2026, 11, 23), calls_today=4,
                                last_call_ended_at=AT)
    await store.set_state("1401", logged_in=True, paused=True, pause_reason="2",
                          at=AT + timedelta(seconds=5), by="lan")
    await store.set_state("1402", logged_in=False, paused=False, pause_reason=None, at=AT,
                          by="desk")
    await store.record_call_end("1401", wrap_up_until=None, calls_day=date(2026, 11, 23),
                                calls_today=5, last_call_ended_at=AT + timedelta(minutes=1))

    first, second = await store.all()
    assert (first.extension, first.paused, first.pause_reason, first.changed_by) == (
        "1401", True, "2", "lan")
    assert (first.calls_today, first.wrap_up_until) == (5, None)
    assert first.last_call_ended_at == AT + timedelta(minutes=1)
    assert (second.extension, second.logged_in, second.calls_today) == ("1402", False, 0)


async def test_earlier_calls_of_a_number_are_counted_within_the_window(
    store: CallLogStore,
) -> None:
    for n, days_ago in enumerate([0, 2, 6, 9]):
        await store.save(CallRecord(call_id=f"c{n}", caller_number="0939123456",
                                    caller_name="", started_at=AT - timedelta(days=days_ago)))
    await store.save(CallRecord(call_id="other", caller_number="0911000000", caller_name="",
                                started_at=AT))
    count = await store.count_calls_from("0939123456", since=AT - timedelta(days=7),
                                         excluding="c0")
    assert count == 2
