"""Keep-your-place call-backs (`ivr.callback`) against the fake ARI of the call flow
tests: the queued caller presses 1 and is hung up keeping their place; when a desk is
free it rings first ("Gọi lại: <number>"), then the citizen through the trunk, and the
two are bridged. A planted premium or international number is never dialled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from calllog.callback_queue import InMemoryCallbackQueue, QueuedCallback
from calllog.model import CallRecord, Outcome
from ivr.ari.models import PlaybackFinished, PlaybackStarted
from ivr.callback import DESK_LEFT_TEXT, Callbacks
from ivr.context import CallContext
from ivr.prompts import Prompt
from ivr.queue import QueueRoom
from ivr.session import CallSession
from routing.config import CallbackConfig
from tests.unit.test_ivr_call_flow import (
    CALLER_ID,
    CALLER_NUMBER,
    CONFIG,
    PROMPTS,
    Call,
    FakeAri,
    ari_event,
    finished,
    new_call,
)

TRUNK_CONFIG = CONFIG.model_copy(update={"callback": CallbackConfig(trunk="pstn")})


@dataclass(repr=False)
class RoutedAri(FakeAri):
    """The fake ARI, with events about a leg a call back dialled going to the call
    back's session (as `HotlineApp` routes them), the rest to the caller's."""

    routes: dict[str, CallSession] = field(default_factory=dict)

    def _deliver(self, event_type: str, **fields: Any) -> None:
        event = ari_event(event_type, **fields)
        about = set(event.channel_ids())
        if isinstance(event, PlaybackStarted | PlaybackFinished):
            about.add(event.playback.target_uri.removeprefix("channel:"))
        owner = next((self.routes[c] for c in about if c in self.routes), self.session)
        owner.deliver(event)


@dataclass
class Attempts:
    """`CallbackActions`, remembering what was recorded."""

    made: list[dict[str, Any]] = field(default_factory=list)

    async def record(self, call_id: str, *, at: datetime, by: str, result: str,
                     note: str = "") -> bool:
        self.made.append({"call_id": call_id, "by": by, "result": str(result), "note": note})
        return True


def with_callbacks(call: Call, room: QueueRoom) -> tuple[Callbacks, InMemoryCallbackQueue,
                                                          Attempts, RoutedAri]:
    ari = RoutedAri(call.ctx.session, menu=call.ari.menu)
    call.ari = call.ctx.ari = ari  # type: ignore[assignment]
    store, attempts = InMemoryCallbackQueue(), Attempts()

    def context(session: CallSession, record: CallRecord) -> CallContext:
        return CallContext(ari=ari, session=session, record=record,  # type: ignore[arg-type]
                           calllog=call.calllog, config=call.ctx.config, prompts=PROMPTS,
                           clock=call.ctx.clock, log=structlog.get_logger("ivr.callback"),
                           queue=room)

    callbacks = Callbacks(store=store, actions=attempts,  # type: ignore[arg-type]
                          room=room, clock=call.ctx.clock, context=context, routes=ari.routes)
    call.ctx.callbacks = callbacks
    return callbacks, store, attempts, ari


async def kept_place(call: Call, store: InMemoryCallbackQueue) -> datetime:
    """The call's row saved as the call left it, and its kept place stored (joined now)."""
    await call.ctx.save()
    now = call.ctx.clock.now()
    await store.add(QueuedCallback(call_id=CALLER_ID, number=CALLER_NUMBER, branch=4,
                                   joined_at=now, requested_by="caller", requested_at=now))
    return now


async def test_pressing_1_keeps_the_place_then_the_desk_and_the_citizen_are_bridged() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    ari.menu = ["4"]
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        task = await call.run()
        await call.calllog.until_noted("queue_position")
        await ari.until("play", 2)
        assert PROMPTS.media(Prompt.CALLBACK_OFFER) in ari.played()[-1]
        ari.press("1")
        await finished(task)
        assert [e.call_id for e in await store.waiting()] == [CALLER_ID]
        assert room.queues.waiting(4) == [CALLER_ID], "the place is kept"
        assert ari.dialled() == []
    record = await call.record()
    assert (record.outcome, record.callback) == (Outcome.DESK_UNREACHABLE, "pending")
    assert CALLER_ID in ari.hung_up()
    assert PROMPTS.media(Prompt.CALLBACK_CONFIRMED) in ari.played()[-1]
    assert (await call.details("queue_left"))[0]["reason"] == "callback"

    await call.calllog.until_noted("callback_bridged")
    assert ari.dialled() == ["PJSIP/1401", f"PJSIP/{CALLER_NUMBER}@pstn"]
    desk, citizen = (c.args for c in ari.called("originate"))
    assert desk["caller_id"] == f'"Gọi lại: {CALLER_NUMBER}" <{CALLER_NUMBER}>'
    assert citizen["caller_id"].endswith(f"<{CONFIG.hotline.number}>")
    assert ari.index("play", channel_id=desk["channel_id"], media="tone:ring") < ari.index(
        "originate", endpoint=f"PJSIP/{CALLER_NUMBER}@pstn")
    bridged = ari.called("add_channel")[-1].args["channel_ids"]
    assert bridged == [desk["channel_id"], citizen["channel_id"]]
    assert room.queues.taken() == frozenset({"1401"})

    # Reached as soon as the citizen answers (a restart while they talk must not call
    # them again): recorded, and off the service's list.
    await call.calllog.until_noted("callback_done")
    assert attempts.made == [{"call_id": CALLER_ID, "by": "tổng đài (tự động)",
                              "result": "reached", "note": ""}]
    assert await store.waiting() == []
    ari.desk_hangs_up(desk["channel_id"])
    await call.calllog.until_noted("callback_ended")
    await asyncio.sleep(0.01)
    assert room.queues.taken() == frozenset() and room.queues.waiting(4) == []
    kinds = await call.kinds()
    assert kinds.index("callback_chosen") < kinds.index("callback_queued") < kinds.index(
        "callback_desk_dial") < kinds.index("callback_dial") < kinds.index("callback_bridged")
    callbacks.stop()


async def test_a_citizen_who_does_not_answer_is_retried_then_left_on_the_list() -> None:
    config = CONFIG.model_copy(update={"callback": CallbackConfig(
        trunk="pstn", attempts=2, retry_seconds=5)})
    call = new_call(config)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    ari.desks[f"{CALLER_NUMBER}@pstn"] = "busy"
    await call.ctx.save()  # the call's row, as the call left it
    now = call.ctx.clock.now()
    await store.add(QueuedCallback(call_id=CALLER_ID, number=CALLER_NUMBER, branch=4,
                                    joined_at=now, requested_by="caller", requested_at=now,
                                    attempts=1, next_at=None))
    await callbacks.resume()
    await call.calllog.until_noted("callback_done")
    assert ari.dialled() == ["PJSIP/1401", f"PJSIP/{CALLER_NUMBER}@pstn"]
    assert attempts.made[0]["result"] == "not_reached"
    assert attempts.made[0]["note"] == "Máy bận sau 2 lần gọi lại tự động"
    desk = ari.called("originate")[0].args["channel_id"]
    told = [c.args for c in ari.called("play") if c.args["channel_id"] == desk]
    assert told[-1]["media"] == [PROMPTS.media(Prompt.CALLBACK_NOT_REACHED)]
    assert await store.waiting() == []
    callbacks.stop()


async def test_a_planted_premium_or_international_caller_id_is_never_dialled() -> None:
    for planted in ("19001080", "+447911123456", "0084912345678", "1900 1080"):
        call = new_call(TRUNK_CONFIG)
        room = call.ctx.queue = QueueRoom()
        callbacks, store, attempts, ari = with_callbacks(call, room)
        call.ctx.record.caller_number = planted
        ari.menu = ["4"]
        with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
            task = await call.run()
            await call.calllog.until_noted("queue_position")
            await ari.until("play", 2)
            assert PROMPTS.media(Prompt.CALLBACK_OFFER) not in ari.played()[-1]
            ari.press("1")  # not offered: the caller keeps waiting, nothing is dialled
            await asyncio.sleep(0.05)
            assert not task.done() and await store.waiting() == []
            ari.caller_hangs_up()
            await finished(task)
        # Even stored (e.g. by an operator), the number is refused before any desk rings.
        now = call.ctx.clock.now()
        await store.add(QueuedCallback(call_id=CALLER_ID, number=planted, branch=4,
                                        joined_at=now, requested_by="caller",
                                        requested_at=now))
        await callbacks.resume()
        await call.calllog.until_noted("callback_refused")
        await asyncio.sleep(0.01)
        assert ari.dialled() == [], planted
        assert store.refused[CALLER_ID], "the operator is told why"
        assert attempts.made == []
        callbacks.stop()


async def test_an_operator_request_rings_their_desk_first_then_the_citizen() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    await call.ctx.save()
    now = call.ctx.clock.now()
    assert await store.request(QueuedCallback(
        call_id=CALLER_ID, number=CALLER_NUMBER, branch=None, joined_at=now,
        requested_by="vanhanh1", requested_at=now, desk="1901"))
    await callbacks.poll_requests()
    await call.calllog.until_noted("callback_bridged")
    assert ari.dialled() == ["PJSIP/1901", f"PJSIP/{CALLER_NUMBER}@pstn"]
    desk = ari.called("originate")[0].args["channel_id"]
    await call.calllog.until_noted("callback_done")
    assert attempts.made == [{"call_id": CALLER_ID, "by": "vanhanh1", "result": "reached",
                              "note": ""}]
    ari.desk_hangs_up(desk)
    await call.calllog.until_noted("callback_ended")
    await callbacks.poll_requests()  # taken once
    assert len(ari.dialled()) == 2
    callbacks.stop()


async def test_a_desk_hanging_up_while_the_citizen_rings_ends_that_leg_and_keeps_the_place(
) -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    ari.desks[f"{CALLER_NUMBER}@pstn"] = "ring"
    await kept_place(call, store)
    with room.desk_in_use("other-b", "1402"):
        await callbacks.resume()
        await ari.until("originate", 2)
        desk, citizen = (c.args["channel_id"] for c in ari.called("originate"))
        ari.desk_hangs_up(desk)
        await call.calllog.until_noted("callback_desk_left")
        await call.calllog.until_noted("callback_queued", 2)  # back in its place
        assert citizen in ari.hung_up()
        assert [a["note"] for a in attempts.made] == [DESK_LEFT_TEXT], "the citizen was dialled"
        assert [(e.call_id, e.attempts) for e in await store.waiting()] == [(CALLER_ID, 1)]
    callbacks.stop()


async def test_a_desk_hanging_up_again_and_again_does_not_redial_the_citizen_unbounded(
) -> None:
    config = CONFIG.model_copy(update={"callback": CallbackConfig(trunk="pstn", attempts=2)})
    call = new_call(config)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    ari.desks[f"{CALLER_NUMBER}@pstn"] = "ring"
    await kept_place(call, store)
    with room.desk_in_use("other-b", "1402"):
        await callbacks.resume()
        for n in (1, 2):
            await ari.until("originate", 2 * n)
            ari.desk_hangs_up(ari.called("originate")[-2].args["channel_id"])
            await call.calllog.until_noted("callback_desk_left", n)
        await call.calllog.until_noted("callback_done")
        await asyncio.sleep(0.05)
    assert [d for d in ari.dialled() if d.endswith("@pstn")] == [
        f"PJSIP/{CALLER_NUMBER}@pstn"] * 2
    assert len(attempts.made) == 2 and await store.waiting() == []
    callbacks.stop()


async def test_a_kept_place_refused_later_does_not_hold_up_the_queue() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, _store, _attempts, ari = with_callbacks(call, room)
    await call.ctx.save()
    now = call.ctx.clock.now()
    room.queues.join(4, CALLER_ID, now)  # the place its call kept
    room.queues.join(4, "behind", now)
    await callbacks.keep(QueuedCallback(call_id=CALLER_ID, number="19001080", branch=4,
                                        joined_at=now, requested_by="caller",
                                        requested_at=now))
    await call.calllog.until_noted("callback_refused")
    await asyncio.sleep(0.01)
    assert room.queues.waiting(4) == ["behind"]
    assert ari.dialled() == []


async def test_a_kept_place_comes_back_after_a_restart_ahead_of_later_callers() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()  # the new process's queues
    callbacks, store, _attempts, _ari = with_callbacks(call, room)
    await call.ctx.save()
    joined = call.ctx.clock.now()
    await store.add(QueuedCallback(call_id=CALLER_ID, number=CALLER_NUMBER, branch=4,
                                   joined_at=joined, requested_by="caller",
                                   requested_at=joined))
    room.queues.join(4, "later", joined + timedelta(seconds=30))  # put back before it
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        await callbacks.resume()
        await call.calllog.until_noted("callback_queued")
        assert room.queues.waiting(4) == [CALLER_ID, "later"]
        assert (await call.details("callback_queued"))[0]["position"] == 1
    callbacks.stop()


async def test_a_kept_place_taken_over_by_an_operator_is_not_called_twice() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, _attempts, ari = with_callbacks(call, room)
    await call.ctx.save()
    now = call.ctx.clock.now()
    kept = QueuedCallback(call_id=CALLER_ID, number=CALLER_NUMBER, branch=4, joined_at=now,
                          requested_by="caller", requested_at=now)
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        await callbacks.keep(kept)
        await call.calllog.until_noted("callback_queued")
        # An operator presses "Gọi lại" meanwhile (the console's request row).
        assert await store.request(QueuedCallback(
            call_id=CALLER_ID, number=CALLER_NUMBER, branch=4, joined_at=now,
            requested_by="vanhanh1", requested_at=now, desk="1901"))
    await call.calllog.until_noted("callback_taken_over")
    assert ari.dialled() == [] and room.queues.waiting(4) == []
    callbacks.stop()


async def test_an_operator_request_for_a_desk_not_in_the_config_is_refused() -> None:
    for desk in ("0900123456@vnpt", "9999"):
        call = new_call(TRUNK_CONFIG)
        room = call.ctx.queue = QueueRoom()
        callbacks, store, attempts, ari = with_callbacks(call, room)
        await call.ctx.save()
        now = call.ctx.clock.now()
        assert await store.request(QueuedCallback(
            call_id=CALLER_ID, number=CALLER_NUMBER, branch=None, joined_at=now,
            requested_by="vanhanh1", requested_at=now, desk=desk))
        await callbacks.poll_requests()
        await call.calllog.until_noted("callback_refused")
        await asyncio.sleep(0.01)
        assert ari.dialled() == [], desk
        assert "Bàn trực" in store.refused[CALLER_ID] and attempts.made == []
        callbacks.stop()


async def test_a_reload_that_narrows_the_allow_list_stops_a_waiting_call_back() -> None:
    current = {"config": TRUNK_CONFIG}
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    callbacks.config = lambda: current["config"]
    await kept_place(call, store)
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        await callbacks.resume()
        await call.calllog.until_noted("callback_queued")
        current["config"] = CONFIG.model_copy(update={"callback": CallbackConfig(
            trunk="pstn", allowed=[r"02[0-9]{9}"])})  # landlines only now
    await call.calllog.until_noted("callback_refused")
    await asyncio.sleep(0.05)
    assert ari.dialled() == ["PJSIP/1401"], "the desk rang, the citizen was not dialled"
    desk = ari.called("originate")[0].args["channel_id"]
    assert desk in ari.hung_up()
    told = [c.args for c in ari.called("play") if c.args["channel_id"] == desk]
    assert told[-1]["media"] == [PROMPTS.media(Prompt.CALLBACK_NOT_REACHED)]
    assert store.refused[CALLER_ID] and await store.waiting() == []
    assert room.queues.waiting(4) == [] and attempts.made == []
    callbacks.stop()


async def test_a_reload_that_removes_the_trunk_stops_a_waiting_call_back() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, _attempts, ari = with_callbacks(call, room)
    callbacks.config = lambda: CONFIG  # no trunk any more
    await kept_place(call, store)
    await callbacks.resume()
    await call.calllog.until_noted("callback_refused")
    await asyncio.sleep(0.01)
    assert not any(d.endswith("@pstn") for d in ari.dialled())
    assert "trunk" in store.refused[CALLER_ID]
    callbacks.stop()


async def test_one_kept_place_per_number_and_a_second_keep_is_refused() -> None:
    call = new_call(TRUNK_CONFIG)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, _attempts, ari = with_callbacks(call, room)
    now = call.ctx.clock.now()
    for planted in ("planted-0", "planted-1"):
        await call.calllog.save(CallRecord(call_id=planted, caller_number=CALLER_NUMBER,
                                           caller_name="", started_at=now))
    with room.desk_in_use("other-a", "1401"), room.desk_in_use("other-b", "1402"):
        assert await callbacks.keep(QueuedCallback(
            call_id="planted-0", number=CALLER_NUMBER, branch=4, joined_at=now,
            requested_by="caller", requested_at=now))
        assert callbacks.keeps(CALLER_NUMBER)
        assert not await callbacks.keep(QueuedCallback(
            call_id="planted-1", number=CALLER_NUMBER, branch=4, joined_at=now,
            requested_by="caller", requested_at=now))
        assert [e.call_id for e in await store.waiting()] == ["planted-0"]
        assert "planted-1" in store.refused

        # A caller with the same number waiting in the queue is not offered the key.
        ari.menu = ["4"]
        task = await call.run()
        await call.calllog.until_noted("queue_position")
        await ari.until("play", 2)
        assert PROMPTS.media(Prompt.CALLBACK_OFFER) not in ari.played()[-1]
        ari.press("1")
        await asyncio.sleep(0.05)
        assert not task.done() and CALLER_ID not in store.entries
        ari.caller_hangs_up()
        await finished(task)
    callbacks.stop()
    await asyncio.sleep(0.01)
    assert not callbacks.keeps(CALLER_NUMBER), "free again once that call back ends"


async def test_a_number_tried_too_often_today_is_refused_and_left_to_the_operators() -> None:
    config = CONFIG.model_copy(update={"callback": CallbackConfig(
        trunk="pstn", max_tries_per_number_per_day=2)})
    call = new_call(config)
    room = call.ctx.queue = QueueRoom()
    callbacks, store, attempts, ari = with_callbacks(call, room)
    await call.ctx.save()
    now = call.ctx.clock.now()
    store.tries = [(CALLER_NUMBER, now - timedelta(hours=25), "tổng đài (tự động)"),
                   (CALLER_NUMBER, now - timedelta(hours=3), "tổng đài (tự động)"),
                   (CALLER_NUMBER, now - timedelta(hours=2), "vanhanh1"),
                   ("0912345678", now - timedelta(hours=1), "tổng đài (tự động)")]
    await store.add(QueuedCallback(call_id=CALLER_ID, number=CALLER_NUMBER, branch=4,
                                   joined_at=now, requested_by="caller", requested_at=now))
    await callbacks.resume()
    await call.calllog.until_noted("callback_bridged")  # 1 try in 24 h: dialled
    callbacks.stop()

    store.tries.append((CALLER_NUMBER, now - timedelta(minutes=5), "tổng đài (tự động)"))
    call = new_call(config)
    room = call.ctx.queue = QueueRoom()
    callbacks, store2, attempts, ari = with_callbacks(call, room)
    store2.tries = store.tries
    await call.ctx.save()
    await store2.add(QueuedCallback(call_id=CALLER_ID, number=CALLER_NUMBER, branch=4,
                                    joined_at=now, requested_by="caller", requested_at=now))
    await callbacks.resume()
    await call.calllog.until_noted("callback_refused")
    await asyncio.sleep(0.01)
    assert ari.dialled() == [], "not even a desk rings for it"
    assert "2 lần trong 24 giờ" in store2.refused[CALLER_ID]
    assert attempts.made == []
    callbacks.stop()
