"""`callback_queue` (revision 0020) on real SQLite and PostgreSQL: keep-your-place call
backs survive a restart in the order of their places, an operator's request is taken
once, and a refused call back stays on the list with its reason."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.callback_queue import CallbackQueueStore, QueuedCallback
from calllog.followup import CallbackActions
from calllog.store import CallLogStore
from tests.calllog_contract import T0, new_call


def entry(call_id: str, minutes: int = 0, desk: str | None = None) -> QueuedCallback:
    at = T0 + timedelta(minutes=minutes)
    return QueuedCallback(call_id=call_id, number="0901234567", branch=4, joined_at=at,
                           requested_by="caller" if desk is None else "vanhanh1",
                           requested_at=at, desk=desk)


async def test_kept_places_come_back_oldest_first_with_their_tries(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    queue = CallbackQueueStore(sessions)
    await queue.add(entry("b", 5))
    await queue.add(entry("a", 1))
    await queue.attempted("a", 2, T0 + timedelta(minutes=9))
    waiting = await queue.waiting()
    assert [(e.call_id, e.joined_at, e.attempts) for e in waiting] == [
        ("a", T0 + timedelta(minutes=1), 2), ("b", T0 + timedelta(minutes=5), 0)]
    assert waiting[0].next_at == T0 + timedelta(minutes=9)
    await queue.remove("a")
    assert [e.call_id for e in await queue.waiting()] == ["b"]


async def test_an_operators_request_is_taken_once_and_only_for_a_pending_call_back(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore,
) -> None:
    await store.save(new_call("pending-call", callback="pending"))
    await store.save(new_call("done-call", callback="done"))
    queue = CallbackQueueStore(sessions)
    assert await queue.request(entry("pending-call", desk="1901"))
    assert not await queue.request(entry("done-call", desk="1901"))
    taken = await asyncio.gather(queue.take_requests(T0), queue.take_requests(T0))
    assert sorted(len(t) for t in taken) == [0, 1]
    assert [e.desk for e in taken[0] + taken[1]] == ["1901"]
    await queue.release_taken()  # the service stopped before making it
    assert [e.call_id for e in await queue.take_requests(T0)] == ["pending-call"]
    assert await queue.waiting() == []  # not a kept place


async def test_a_refused_call_back_stays_pending_with_the_reason(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore,
) -> None:
    await store.save(new_call("planted", callback="pending"))
    queue = CallbackQueueStore(sessions)
    await queue.add(entry("planted"))
    await queue.refuse("planted", "Số quốc tế: không gọi lại")
    assert await queue.waiting() == []
    call = await store.get("planted")
    assert call is not None and call.callback == "pending"
    assert call.callback_note == "Số quốc tế: không gọi lại"


async def test_a_kept_place_is_no_longer_kept_once_an_operator_takes_it_over(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore,
) -> None:
    await store.save(new_call("x", callback="pending"))
    queue = CallbackQueueStore(sessions)
    assert not await queue.kept("x")
    await queue.add(entry("x"))
    assert await queue.kept("x")
    assert await queue.request(entry("x", desk="1901"))
    assert not await queue.kept("x")


async def test_a_numbers_service_tries_are_counted_across_its_calls_for_24_hours(
    sessions: async_sessionmaker[AsyncSession], store: CallLogStore,
) -> None:
    service = "tổng đài (tự động)"
    for call_id, caller in (("one", "0901234567"), ("two", "+84901234567"),
                            ("other", "0912345678")):
        call = new_call(call_id, callback="pending")
        call.caller_number = caller
        await store.save(call)
    actions = CallbackActions(sessions)
    for call_id, hours, by in (("one", 0, service), ("one", 2, service), ("two", 3, service),
                               ("two", 4, "vanhanh1"), ("other", 5, service)):
        assert await actions.record(call_id, at=T0 + timedelta(hours=hours), by=by,
                                    result="not_reached")
    queue = CallbackQueueStore(sessions)
    assert await queue.tries_since("0901234567", T0, service) == 3
    assert await queue.tries_since("0901234567", T0 + timedelta(hours=1), service) == 2
    assert await queue.tries_since("0912345678", T0, service) == 1
    assert await queue.tries_since("0987654321", T0, service) == 0
