"""The console's query side (`calllog.queries`), call-back results (`calllog.followup`)
and case codes, on real SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.followup import CallbackActions, CallbackResult
from calllog.model import CallEvent, CallRecord, Case, CaseStatus, ConfigReload, Outcome
from calllog.queries import CallFilter, CallQueries, CaseFilter
from calllog.store import CallLogStore

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam


def call(call_id: str, minutes: int, number: str = "0901234567", **fields: object) -> CallRecord:
    record = CallRecord(call_id=call_id, caller_number=number,
                        started_at=T0 + timedelta(minutes=minutes))
    for name, value in fields.items():
        setattr(record, name, value)
    return record


async def saved(sessions: async_sessionmaker[AsyncSession], *calls: CallRecord) -> CallLogStore:
    store = CallLogStore(sessions, case_deadline=lambda at: at + timedelta(days=14))
    for c in calls:
        await store.save(c)
    return store


async def test_calls_search_counts_no_further_than_the_cap_asked_for(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await saved(sessions, *(call(f"n{i}", i, agency="Sở Tư pháp") for i in range(6)))
    queries = CallQueries(sessions)
    capped = await queries.search_calls(limit=2, count_cap=4)
    assert (capped.total, capped.capped) == (4, True)
    assert [v.call.call_id for v in capped.items] == ["n5", "n4"]
    assert [v.call.call_id for v in (await queries.search_calls(
        limit=2, offset=4, count_cap=4)).items] == ["n1", "n0"]
    exact = await queries.search_calls(CallFilter(agency="Sở Tư pháp"), count_cap=6)
    assert (exact.total, exact.capped) == (6, False)
    uncapped = await queries.search_calls(limit=2)
    assert (uncapped.total, uncapped.capped) == (6, False)


async def test_an_agencys_calls_page_by_page_both_to_it_and_from_its_stations(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tp = "Sở Tư pháp"
    await saved(sessions, *(
        call(f"t{i}", i, **({"agency": tp} if i % 3 == 0 else {"caller_agency": tp}
                           if i % 3 == 1 else {"agency": tp, "caller_agency": tp}))
        for i in range(9)), call("other", 4, agency="Sở Tài chính"),
        call("same-minute", 4, agency=tp, outcome=Outcome.CONNECTED))
    queries = CallQueries(sessions)
    pages = [[v.call.call_id for v in (await queries.search_calls(
        CallFilter(agency=tp), limit=3, offset=offset)).items] for offset in (0, 3, 6, 9)]
    assert pages == [["t8", "t7", "t6"], ["t5", "t4", "same-minute"], ["t3", "t2", "t1"],
                     ["t0"]]
    connected = await queries.search_calls(CallFilter(agency=tp, outcome="connected"))
    assert [v.call.call_id for v in connected.items] == ["same-minute"]
    assert connected.total == 1


async def test_calls_search_filters_pages_and_counts_newest_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await saved(
        sessions,
        call("a", 0, "0901111111", branch_key=4, agency="Văn phòng UBND tỉnh",
             outcome=Outcome.CONNECTED),
        call("b", 10, "0901222222", branch_key=4, agency="Văn phòng UBND tỉnh",
             outcome=Outcome.DESK_UNREACHABLE),
        call("c", 20, "0912333333", branch_key=6, agency="Sở Tài chính",
             outcome=Outcome.CONNECTED),
        call("d", 30, "0901_44444", caller_agency="UBND xã Vị Tân", outcome=Outcome.CLOSED),
    )
    queries = CallQueries(sessions)

    page = await queries.search_calls(limit=2)
    assert [v.call.call_id for v in page.items] == ["d", "c"] and page.total == 4
    second = await queries.search_calls(limit=2, offset=2)
    assert [v.call.call_id for v in second.items] == ["b", "a"]

    async def ids(**filters: object) -> list[str]:
        found = await queries.search_calls(CallFilter(**filters))  # type: ignore[arg-type]
        assert found.total == len(found.items)
        return [v.call.call_id for v in found.items]

    assert await ids(number="0901", number_prefix=True) == ["d", "b", "a"]
    assert await ids(number="0901_", number_prefix=True) == ["d"]  # LIKE wildcard as typed
    assert await ids(number="0901") == []
    assert await ids(number="0912333333") == ["c"]
    assert await ids(branch_key=4) == ["b", "a"]
    assert await ids(agency="Sở Tài chính") == ["c"]
    assert await ids(agency="UBND xã Vị Tân") == ["d"]
    assert await ids(outcome="connected") == ["c", "a"]
    assert await ids(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30)) == [
        "c", "b"]


async def test_a_calls_page_has_its_timeline_call_backs_cases_and_earlier_calls(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = await saved(sessions, call("old", -600), call("other", -300, "0987654321"),
                        call("now", 0, callback="pending"), call("later", 60))
    await store.append_event(CallEvent("now", T0, "answered"))
    await store.append_event(CallEvent("now", T0 + timedelta(seconds=3), "digit",
                                       {"digit": "4"}))
    await store.create_case(Case(None, "now", "Cải cách thủ tục hành chính", T0, "lan"))
    await CallbackActions(sessions).record("now", at=T0 + timedelta(hours=1), by="lan",
                                           result="not_reached", note="máy bận")
    queries = CallQueries(sessions)

    detail = await queries.call("now")
    assert detail is not None
    assert [e.kind for e in detail.events] == ["answered", "digit"]
    assert [(a.by, a.result, a.note) for a in detail.attempts] == [
        ("lan", "not_reached", "máy bận")]
    assert detail.view.followup.attempts == 1
    assert [c.code for c in detail.cases] == ["PA-2026-00001"]
    assert await queries.call("nope") is None
    assert [c.call_id for c in await queries.earlier_calls("now")] == ["old"]


async def test_not_reached_keeps_a_call_back_pending_and_reached_closes_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await saved(sessions, call("x", 0, callback="pending"), call("y", 5, callback="pending"),
                call("z", 7))
    actions, queries = CallbackActions(sessions), CallQueries(sessions)

    assert await actions.record("x", at=T0 + timedelta(hours=2), by="lan",
                                result=CallbackResult.NOT_REACHED)
    pending = await queries.pending_callbacks(now=T0 + timedelta(hours=3))
    assert [p.view.call.call_id for p in pending.items] == ["x", "y"]
    assert pending.items[0].view.followup.result == "not_reached"
    assert pending.items[0].age == timedelta(hours=3)

    assert await actions.record("x", at=T0 + timedelta(hours=4), by="mai", result="reached",
                                note="đã hướng dẫn")
    assert await actions.record("y", at=T0 + timedelta(hours=5), by="mai",
                                result="wrong_number")
    assert not await actions.record("x", at=T0 + timedelta(hours=6), by="mai", result="reached")
    assert not await actions.record("z", at=T0, by="mai", result="reached")  # never needed
    assert (await queries.pending_callbacks(now=T0)).total == 0

    handled = await queries.handled_callbacks()
    assert [v.call.call_id for v in handled.items] == ["y", "x"]
    x = handled.items[1]
    assert (x.followup.by, x.followup.attempts, x.call.callback_note) == ("mai", 2, "đã hướng dẫn")
    assert x.time_to_callback == timedelta(hours=4)


async def test_pending_call_backs_past_the_limit_are_overdue(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await saved(sessions, call("early", 0, callback="pending"),
                call("late", 120, callback="pending"))
    queries = CallQueries(sessions)
    policy = lambda started: started + timedelta(hours=8)  # noqa: E731

    now = T0 + timedelta(hours=9)
    page = await queries.pending_callbacks(now=now, overdue_at=policy)
    assert [(p.view.call.call_id, p.overdue) for p in page.items] == [
        ("early", True), ("late", False)]
    assert page.items[0].overdue_at == T0 + timedelta(hours=8)
    assert await queries.count_overdue_callbacks(now=now, overdue_at=policy) == 1


async def test_call_back_figures_give_the_time_from_call_to_call_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await saved(sessions, *(call(f"c{i}", i, callback="pending") for i in range(4)),
                call("outside", 60 * 24 * 40, callback="pending"))
    actions = CallbackActions(sessions)
    await actions.record("c0", at=T0 + timedelta(hours=1), by="lan", result="reached")
    await actions.record("c1", at=T0 + timedelta(hours=3, minutes=1), by="lan",
                         result="wrong_number")
    await actions.record("c2", at=T0 + timedelta(hours=1), by="lan", result="not_reached")

    figures = await CallQueries(sessions).callback_figures(since=T0, until=T0 + timedelta(days=1))
    assert (figures.needed, figures.pending, figures.done) == (4, 2, 2)
    assert (figures.reached, figures.wrong_number, figures.attempts) == (1, 1, 3)
    assert figures.times_to_callback == [timedelta(hours=1), timedelta(hours=3)]
    assert figures.median_time_to_callback == timedelta(hours=2)


async def test_cases_get_codes_in_order_per_local_year_and_their_deadline(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = await saved(sessions, call("a", 0))
    # 31 Dec 2026 23:30 in Vietnam is still 2026; 00:30 on 1 Jan is 2027.
    new_years_eve = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    first = await store.create_case(Case(None, "a", "Chung", T0, "lan"))
    await store.open_case(Case(None, "a", "Chung", new_years_eve, "desk 1101", key="flag:a"))
    await store.create_case(Case(None, "a", "Chung", new_years_eve + timedelta(hours=1), "lan"))
    await store.open_case(Case(None, "a", "Chung", T0, "desk 1101", key="flag:a"))  # replay
    queries = CallQueries(sessions)

    page = await queries.cases(limit=10)
    assert sorted(c.code or "" for c in page.items) == [
        "PA-2026-00001", "PA-2026-00002", "PA-2027-00001"]
    assert first.id is not None
    view = await queries.case(first.id)
    assert view is not None and view.code == "PA-2026-00001"
    assert view.due_at == T0 + timedelta(days=14)
    assert await queries.case_by_code("pa-2027-00001") is not None


async def test_case_codes_stay_unique_when_opened_concurrently(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = await saved(sessions, call("a", 0))
    await asyncio.gather(*(store.create_case(Case(None, "a", "Chung", T0, f"op{i}"))
                           for i in range(12)))
    codes = [c.code for c in (await CallQueries(sessions).cases()).items]
    assert sorted(codes) == [f"PA-2026-{n:05d}" for n in range(1, 13)]  # type: ignore[type-var]


async def test_case_list_filters_by_status_agency_and_overdue_with_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = await saved(sessions, call("a", 0))
    one = await store.create_case(Case(None, "a", "Chung", T0, "lan"))
    two = await store.create_case(Case(None, "a", "Chung", T0 + timedelta(days=1), "lan"))
    await store.create_case(Case(None, "a", "Chung", T0 + timedelta(days=2), "lan"))
    assert one.id is not None and two.id is not None
    await store.update_case(one.id, status="forwarded", agency="Sở Tư pháp", by="lan",
                            at=T0 + timedelta(hours=1))
    await store.update_case(two.id, status="rejected", by="lan", at=T0 + timedelta(days=1),
                            note="trùng")
    queries = CallQueries(sessions)

    forwarded = await queries.cases(CaseFilter(status="forwarded"))
    assert [c.id for c in forwarded.items] == [one.id]
    assert (await queries.cases(CaseFilter(agency="Sở Tư pháp"))).total == 1
    # Deadlines are opened_at + 14 days; at T0 + 15 days only the first open case is late
    # (the second is rejected, the third not yet due).
    late = await queries.cases(CaseFilter(overdue_at=T0 + timedelta(days=15)))
    assert [c.id for c in late.items] == [one.id]
    assert late.items[0].overdue(T0 + timedelta(days=15))
    view = await queries.case(one.id)
    assert view is not None
    assert [h.status for h in view.history] == [CaseStatus.RECEIVED, CaseStatus.FORWARDED]


async def test_forwarding_a_case_without_an_agency_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = await saved(sessions, call("a", 0))
    case = await store.create_case(Case(None, "a", "Chung", T0, "lan"))
    assert case.id is not None
    with pytest.raises(ValueError, match="agency"):
        await store.update_case(case.id, status="forwarded", by="lan", at=T0)


async def test_recent_reloads_come_newest_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = await saved(sessions)
    for i, status in enumerate(("applied", "refused", "applied")):
        await store.record_reload(ConfigReload(at=T0 + timedelta(minutes=i), file="h.yaml",
                                               sha256=f"{i}" * 64, status=status,
                                               problems="line 3: bad" if i == 1 else ""))
    reloads = await CallQueries(sessions).recent_reloads(limit=2)
    assert [(r.status, r.problems) for r in reloads] == [("applied", ""),
                                                         ("refused", "line 3: bad")]


async def test_migration_numbers_existing_cases_per_year(db_url: str) -> None:
    await downgrade_async(db_url, "0008")
    engine = make_engine(db_url)
    try:
        sessions = make_sessionmaker(engine)
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO calls (call_id, caller_number, caller_name, started_at) "
                "VALUES ('a', '0901', '', '2026-01-01 00:00:00+00')")
            for i, opened in enumerate(("2026-06-01 00:00:00+00", "2025-12-31 18:00:00+00",
                                        "2026-02-01 00:00:00+00")):
                await connection.exec_driver_sql(
                    "INSERT INTO cases (call_id, category, status, opened_at, opened_by) "
                    f"VALUES ('a', 'Chung', 'received', '{opened}', 'op{i}')")
        await engine.dispose()
        await upgrade_async(db_url)
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        codes = {c.opened_by: c.code for c in (await CallQueries(sessions).cases()).items}
        assert codes == {"op1": "PA-2026-00001", "op2": "PA-2026-00002",
                         "op0": "PA-2026-00003"}
        store = CallLogStore(sessions)
        new = await store.create_case(Case(None, "a", "Chung", T0, "lan"))
        assert new.id is not None
        view = await CallQueries(sessions).case(new.id)
        assert view is not None and view.code == "PA-2026-00004"
    finally:
        await engine.dispose()
