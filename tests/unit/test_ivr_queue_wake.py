"""A desk that comes back wakes the head of its branch's queue at once (not at the next
announcement): its wrap-up ends (a timer of the desk board), it logs in or is unpaused
(its code, or the console through the stored state). And a caller finding every desk
paused queues; one finding every desk logged out leaves a message."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from calllog.presence import DeskStatus, InMemoryPresenceStore
from ivr.ari.models import Event
from ivr.presence import DeskBoard
from ivr.queue import QueueOffer, QueueRoom
from ivr.session import CallSession
from tests.clock import FakeClock
from tests.unit.test_ivr_call_flow import CONFIG, MONDAY_9AM, finished, new_call


def listening(board: DeskBoard) -> list[str]:
    told: list[str] = []
    board.on_available(told.append)
    return told


async def test_the_end_of_a_wrap_up_tells_the_listeners() -> None:
    clock = FakeClock(MONDAY_9AM)
    store = InMemoryPresenceStore()
    store.rows["1401"] = DeskStatus("1401", wrap_up_until=clock.now() + timedelta(seconds=0.2))
    board = DeskBoard(store, clock)
    told = listening(board)
    back = asyncio.Event()
    board.on_available(lambda desk: back.set())
    await board.refresh()
    assert told == []
    async with asyncio.timeout(2.0):
        await back.wait()
    assert told == ["1401"]
    assert clock.now() >= store.rows["1401"].wrap_up_until  # type: ignore[operator]


async def test_a_desk_paused_in_its_wrap_up_is_not_offered_when_the_wrap_up_ends() -> None:
    clock = FakeClock(MONDAY_9AM)
    store = InMemoryPresenceStore()
    store.rows["1401"] = DeskStatus("1401", wrap_up_until=clock.now() + timedelta(seconds=0.1))
    board = DeskBoard(store, clock)
    told = listening(board)
    await board.refresh()
    await board.toggle("1401", "pause", None)
    await asyncio.sleep(0.3)
    assert told == []
    board.close()


async def test_unpausing_and_logging_in_tell_the_listeners_pausing_does_not() -> None:
    board = DeskBoard(None, FakeClock(MONDAY_9AM))
    told = listening(board)
    await board.toggle("1401", "pause", "2")
    await board.toggle("1402", "login", None)  # logs out
    assert told == []
    await board.toggle("1401", "pause", None)
    await board.toggle("1402", "login", None)
    assert told == ["1401", "1402"]


async def test_a_desk_unpaused_from_the_console_is_told_at_the_next_reread() -> None:
    store = InMemoryPresenceStore()
    store.rows["1401"] = DeskStatus("1401", paused=True)
    board = DeskBoard(store, FakeClock(MONDAY_9AM))
    told = listening(board)
    await board.refresh()
    await board.refresh()
    assert told == []
    store.rows["1401"] = DeskStatus("1401", paused=False, changed_by="admin")
    await board.refresh()
    assert told == ["1401"]


def test_a_desk_back_is_offered_to_the_head_of_each_queue_it_serves() -> None:
    clock = FakeClock(MONDAY_9AM)
    room = QueueRoom()
    head, behind = CallSession("head", clock), CallSession("behind", clock)
    room.join(CONFIG.branch(4), head, clock.now())  # type: ignore[arg-type]
    room.join(CONFIG.branch(4), behind, clock.now() + timedelta(seconds=1))  # type: ignore[arg-type]
    offers: dict[str, list[Event]] = {"head": [], "behind": []}
    for session in (head, behind):
        session.deliver = offers[session.channel_id].append  # type: ignore[method-assign,assignment]
    room.desk_available("1401")
    assert [type(e) for e in offers["head"]] == [QueueOffer] and offers["behind"] == []
    room.desk_available("9999")  # not one of the branch's desks
    assert len(offers["head"]) == 1


async def test_a_caller_finding_every_desk_paused_queues_and_gets_the_desk_unpaused() -> None:
    call = new_call()
    room = call.ctx.queue = QueueRoom()
    board = call.ctx.desks = DeskBoard(None, call.ctx.clock)
    board.on_available(room.desk_available)
    await board.toggle("1401", "pause", None)
    await board.toggle("1402", "pause", None)
    call.ari.menu = ["4"]
    task = await call.run()
    await call.calllog.until_noted("queue_position")
    assert call.ari.dialled() == []
    await board.toggle("1402", "pause", None)  # resumed: offered to the caller at once
    await call.calllog.until_noted("bridged")
    assert call.ari.dialled() == ["PJSIP/1402"]
    call.ari.caller_hangs_up()
    await finished(task)
    assert (await call.details("queue_left"))[0]["reason"] == "answered"


async def test_a_caller_finding_every_desk_logged_out_leaves_a_message() -> None:
    call = new_call()
    call.ctx.queue = QueueRoom()
    board = call.ctx.desks = DeskBoard(None, call.ctx.clock)
    await board.toggle("1401", "login", None)
    await board.toggle("1402", "login", None)
    call.ari.menu = ["4"]
    task = await call.run()
    await call.calllog.until_noted("recording")
    call.ari.caller_hangs_up()
    await finished(task)
    kinds = await call.kinds()
    assert "queue_joined" not in kinds
    assert call.ari.dialled() == []
