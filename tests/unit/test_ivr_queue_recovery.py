"""A restart keeps everyone's place in the queues: `recover` puts callers whose
timeline shows them waiting back in their branch's queue, by their join times, with
their old prompts stopped; the app's queue (`QueueRoom`) then has them in order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from calllog.model import CallEvent
from ivr.queue import QueueRoom
from ivr.recovery import queued_since, recover
from ivr.session import CallSession
from routing.config import Branch
from routing.queue import queue_mark, read_queue_mark
from routing.trail import QUEUE_VARIABLE
from tests.clock import FakeClock
from tests.unit.test_ivr_recovery import (
    APP,
    CALLER,
    CONFIG,
    FALLBACK,
    NOW,
    caller,
    open_row,
    restart,
)

OTHER = "1795402711.40"


def joined(
    call_id: str, seconds_ago: float, branch: int = 4, *, at_seconds_ago: float | None = None,
) -> CallEvent:
    at = NOW - timedelta(seconds=seconds_ago)
    logged = NOW - timedelta(seconds=at_seconds_ago if at_seconds_ago is not None else seconds_ago)
    return CallEvent(call_id=call_id, at=logged, kind="queue_joined",
                     detail={"branch": branch, "position": 1, "joined_at": at.isoformat()})


def left(call_id: str) -> CallEvent:
    return CallEvent(call_id=call_id, at=NOW, kind="queue_left",
                     detail={"branch": 4, "reason": "answered", "waited": 3})


def test_a_timeline_joined_and_not_left_is_still_queued_since_its_first_join() -> None:
    first = joined(CALLER, 90)
    rejoined = joined(CALLER, 90, at_seconds_ago=10)  # after an earlier restart
    assert queued_since([first, rejoined]) == (4, NOW - timedelta(seconds=90))
    assert queued_since([first, left(CALLER)]) is None
    assert queued_since([]) is None


async def test_callers_waiting_in_a_queue_are_put_back_not_sent_to_the_fallback(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    for call_id, ago in ((CALLER, 60), (OTHER, 30)):
        await r.calllog.save(open_row(call_id))
        await r.calllog.append_event(joined(call_id, ago))
        await r.calllog.append_event(CallEvent(
            call_id=call_id, at=NOW - timedelta(seconds=ago), kind="prompt",
            detail={"playback": f"queue-{call_id}", "prompts": "queue_position"}))
    r.ari.has(caller(OTHER), caller(CALLER))  # Asterisk lists the later one first

    await r.recover()

    assert ("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1") not in r.ari.changes()
    assert not any(kind == "continue_in_dialplan" for kind, _ in r.ari.changes())
    assert {("stop_playback", f"queue-{CALLER}"), ("stop_playback", f"queue-{OTHER}")} <= set(
        r.ari.changes())
    put_back = {a.record.call_id: (a.branch, a.joined_at) for a in r.hooks.queued}
    assert put_back == {CALLER: (4, NOW - timedelta(seconds=60)),
                        OTHER: (4, NOW - timedelta(seconds=30))}


async def test_a_caller_who_had_left_the_queue_goes_to_the_fallback_as_before(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    await r.calllog.save(open_row())
    await r.calllog.append_event(joined(CALLER, 60))
    await r.calllog.append_event(left(CALLER))
    r.ari.has(caller())

    await r.recover()

    assert r.hooks.queued == []
    assert ("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1") in r.ari.changes()


def test_the_queue_rebuilt_in_any_order_of_adoption_keeps_the_order_of_joining() -> None:
    clock = FakeClock(NOW, running=False)
    room = QueueRoom()
    branch: Branch | None = CONFIG.branch(4)
    assert branch is not None
    later, earlier = CallSession(OTHER, clock), CallSession(CALLER, clock)
    room.join(branch, later, NOW - timedelta(seconds=30))
    room.join(branch, earlier, NOW - timedelta(seconds=60))
    assert room.queues.waiting(4) == [CALLER, OTHER]
    # A caller arriving after the restart waits behind both.
    assert room.join(branch, CallSession("new", clock), NOW) == 3


async def test_a_desk_freed_wakes_the_head_of_its_branch_queue_only() -> None:
    clock = FakeClock(NOW, running=False)
    room = QueueRoom()
    branch = CONFIG.branch(4)
    assert branch is not None
    head, second = CallSession(CALLER, clock), CallSession(OTHER, clock)
    room.join(branch, head, NOW - timedelta(seconds=60))
    room.join(branch, second, NOW - timedelta(seconds=30))
    with room.desk_in_use("talking-call", branch.desks[0]):
        assert room.queues.free_desks(branch.desks) == branch.desks[1:]
    assert head.events.qsize() == 1 and second.events.qsize() == 0
    room.leave(CALLER)  # the head answered: the next one is offered too
    assert second.events.qsize() == 1


async def test_a_caller_marked_queued_in_asterisk_waits_for_the_log_then_is_put_back(
    tmp_path: Path,
) -> None:
    """The previous process's writes are still in its journal at the first look: the
    caller marked queued on its channel is neither sent to the fallback nor lost; once
    the log is read, it is put back with the join time from Asterisk."""
    r = restart(tmp_path)
    await r.calllog.save(open_row())
    r.ari.has(caller())
    since = NOW - timedelta(seconds=45)
    r.ari.variables[(CALLER, QUEUE_VARIABLE)] = queue_mark(4, since)
    replayed = iter([False, True])

    async def log_ready() -> bool:
        return next(replayed)

    await recover(ari=r.ari,  # type: ignore[arg-type]  # a typed fake
                  calllog=r.calllog, app_name=APP, hooks=r.hooks, trail=r.trail,
                  fallback_context=FALLBACK, clock=FakeClock(NOW, running=False),
                  log_ready=log_ready, retry_delays=(0.0,))

    assert not any(kind == "continue_in_dialplan" for kind, _ in r.ari.changes())
    assert [(a.record.call_id, a.branch, a.joined_at) for a in r.hooks.queued] == [
        (CALLER, 4, since)]


def test_the_queue_mark_reads_back_what_was_written() -> None:
    assert read_queue_mark(queue_mark(4, NOW)) == (4, NOW)
    assert read_queue_mark("") is None
    assert read_queue_mark("x,y") is None
