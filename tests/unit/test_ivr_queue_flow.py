"""The call flow with the branch queue (`ivr.queue`), against the fake ARI of the call
flow tests: a caller finding every desk of the branch talking waits in the queue,
hears their place, and is put through when a desk is freed; one hanging up while
waiting is logged as abandoned while waiting for a desk."""

from __future__ import annotations

import asyncio
import time

from calllog.model import Outcome
from ivr.queue import QueueOffer, QueueRoom
from ivr.queue_prompts import QUEUE_MUSIC, QUEUE_POSITION, clip
from routing.trail import QUEUE_VARIABLE
from tests.clock import FakeClock
from tests.unit.test_ivr_call_flow import CALLER_ID, CONFIG, PROMPTS, finished, new_call


async def test_a_caller_finding_every_desk_talking_waits_and_gets_the_first_desk_freed() -> None:
    call = new_call()
    room = call.ctx.queue = QueueRoom()
    call.ari.menu = ["4"]
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        task = await call.run()
        await call.calllog.until_noted("queue_position")
        await call.ari.until("play", 2)
        assert call.ari.dialled() == []  # busy desks are not rung
        assert room.queues.waiting(4) == [call.ctx.record.call_id]
        announcement = call.ari.played()[-1]
        assert announcement[:3] == [clip(PROMPTS, "queue_joined"), clip(PROMPTS, QUEUE_POSITION),
                                    clip(PROMPTS, "number_nhat")]
        assert clip(PROMPTS, QUEUE_MUSIC) in announcement
        assert clip(PROMPTS, "queue_wait") not in announcement  # no history yet
    await call.calllog.until_noted("bridged")
    assert call.ari.dialled() == ["PJSIP/1401"]
    call.ari.caller_hangs_up()
    await finished(task)

    record = await call.record()
    assert (record.outcome, record.desk_answered) == (Outcome.CONNECTED, "1401")
    joined = (await call.details("queue_joined"))[0]
    assert (joined["branch"], joined["position"]) == (4, 1)
    assert (await call.details("queue_left"))[0]["reason"] == "answered"
    # the wait is on the row for the figures, up to the desk's answer
    assert record.queue_result == "answered" and record.queue_joined_at is not None
    assert record.queue_joined_at <= record.queue_left_at <= record.bridged_at  # type: ignore[operator]
    assert call.ari.variables[(CALLER_ID, QUEUE_VARIABLE)] == ""  # no longer marked queued
    assert room.queues.waiting(4) == [] and room.queues.taken() == frozenset()
    assert room.queues.expected_seconds(4, 1) is not None  # its wait is history now


async def test_a_caller_hanging_up_in_the_queue_is_abandoned_while_waiting() -> None:
    call = new_call()
    room = call.ctx.queue = QueueRoom()
    call.ari.menu = ["4"]
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        task = await call.run()
        await call.calllog.until_noted("queue_position")
        call.ari.caller_hangs_up()
        await finished(task)

    record = await call.record()
    assert record.outcome is Outcome.ABANDONED_WHILE_RINGING
    assert (await call.details("queue_left"))[0]["reason"] == "abandoned"
    assert record.queue_result == "abandoned" and record.queue_left_at is not None
    assert room.queues.waiting(4) == []


async def test_a_new_caller_waits_behind_the_queue_even_with_a_desk_free() -> None:
    call = new_call()
    room = call.ctx.queue = QueueRoom()
    room.queues.join(4, "ahead", call.ctx.clock.now())
    call.ari.menu = ["4"]
    task = await call.run()
    await call.calllog.until_noted("queue_position")
    assert call.ari.dialled() == []
    assert (await call.details("queue_joined"))[0]["position"] == 2
    call.ari.caller_hangs_up()
    await finished(task)
    await asyncio.sleep(0)
    assert room.queues.waiting(4) == ["ahead"]


async def test_waiting_past_max_wait_leads_to_the_message_and_call_back() -> None:
    call = new_call()
    room = call.ctx.queue = QueueRoom()
    call.ari.menu = ["4"]
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        task = await call.run()
        await call.calllog.until_noted("queue_position")
        await call.ari.until("play", 2)
        await asyncio.sleep(0.05)  # the flow waits for its next announcement
        clock = call.ctx.clock
        assert isinstance(clock, FakeClock)
        # The next reading of the clock, when the wait wakes up, is past its limit.
        clock.script(time.monotonic() + CONFIG.branch(4).queue.max_wait_seconds)  # type: ignore[union-attr]
        call.ctx.session.deliver(QueueOffer(type="QueueOffer", branch=4))  # wake it
        await call.calllog.until_noted("recording")
        call.ari.caller_hangs_up()
        await finished(task)

    record = await call.record()
    assert (record.outcome, record.callback) == (Outcome.DESK_UNREACHABLE, "pending")
    assert (await call.details("queue_left"))[0]["reason"] == "max_wait"
    assert record.queue_result == "max_wait" and record.queue_left_at is not None
    assert call.ari.dialled() == []
    assert room.queues.waiting(4) == []
