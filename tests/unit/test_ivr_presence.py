"""Desk presence and repeat callers in the call flow, with the fake ARI of
`test_ivr_call_flow`: paused desks are passed over, a call's end starts the desk's
wrap-up (kept in the store), a repeat caller is shown as such on the desk's display."""

from __future__ import annotations

from datetime import timedelta

from calllog.model import CallRecord
from calllog.presence import DeskStatus, InMemoryPresenceStore
from ivr.presence import DeskBoard, parse_feature_args
from routing.config import HotlineConfig
from tests.clock import TickingClock
from tests.unit.test_ivr_call_flow import (
    CALLER_NUMBER,
    CONFIG,
    MONDAY_9AM,
    connect_to_desk,
    finished,
    new_call,
)


def with_wrap_up(config: HotlineConfig, seconds: int) -> HotlineConfig:
    branches = [b.model_copy(update={"wrap_up_seconds": seconds}) if b.key == 4 else b
                for b in config.branches]
    return config.model_copy(update={"branches": branches})


async def test_paused_desk_is_passed_over_and_the_call_goes_to_the_next_desk() -> None:
    call = new_call()
    board = DeskBoard(None, call.ctx.clock)
    await board.toggle("1401", "pause", "2")
    call.ctx.desks = board
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    assert call.ari.dialled() == ["PJSIP/1402"]
    assert await call.details("desk_away") == [{"desk": "1401", "reason": "paused"}]
    assert (await call.record()).desk_answered == "1402"


async def test_the_end_of_a_call_puts_the_desk_in_wrap_up_and_stores_it() -> None:
    call = new_call(with_wrap_up(CONFIG, 30))
    store = InMemoryPresenceStore()
    call.ctx.desks = board = DeskBoard(store, call.ctx.clock)
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    await board.flushed()
    state = board.get("1401")
    assert state is not None and state.calls_today == 1
    assert state.last_call_ended_at is not None and state.wrap_up_until is not None
    assert state.wrap_up_until - state.last_call_ended_at == timedelta(seconds=30)
    stored = store.rows["1401"]
    assert (stored.calls_today, stored.wrap_up_until) == (1, state.wrap_up_until)


async def test_desk_in_wrap_up_is_not_rung_by_the_next_call() -> None:
    first = new_call(with_wrap_up(CONFIG, 30))
    board = DeskBoard(None, first.ctx.clock)
    await board.call_ended("1401", 30)
    first.ctx.desks = board
    task = await connect_to_desk(first, "4")
    first.ari.caller_hangs_up()
    await finished(task)
    assert first.ari.dialled() == ["PJSIP/1402"]
    assert await first.details("desk_away") == [{"desk": "1401", "reason": "wrap_up"}]


async def test_third_call_in_a_week_shows_lan_3_on_the_desk_display() -> None:
    call = new_call()
    for n, days_ago in enumerate([1, 6, 8]):  # the one 8 days ago is out of the window
        await call.calllog.save(CallRecord(
            call_id=f"earlier-{n}", caller_number=CALLER_NUMBER, caller_name="",
            started_at=MONDAY_9AM - timedelta(days=days_ago)))
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)

    (originate,) = call.ari.called("originate")
    assert originate.args["caller_id"] == (
        f'"4. Cải cách thủ tục hành chính (lần 3)" <{CALLER_NUMBER}>')


async def test_first_call_shows_no_repeat_count() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    call.ari.caller_hangs_up()
    await finished(task)
    (originate,) = call.ari.called("originate")
    assert "lần" not in originate.args["caller_id"]


async def test_board_loads_the_stored_states_and_keeps_them_when_the_store_fails() -> None:
    store = InMemoryPresenceStore()
    store.rows["1401"] = DeskStatus("1401", logged_in=False)
    board = DeskBoard(store, TickingClock(MONDAY_9AM))
    await board.refresh()
    state = board.get("1401")
    assert state is not None and not state.logged_in

    async def down() -> list[DeskStatus]:
        raise OSError("database unreachable")

    store.all = down  # type: ignore[method-assign]
    await board.refresh()
    assert board.get("1401") == state


async def test_feature_codes_toggle_and_write_through() -> None:
    store = InMemoryPresenceStore()
    board = DeskBoard(store, TickingClock(MONDAY_9AM))
    assert await board.toggle("1401", "login", None) == "logged_out"
    assert await board.toggle("1401", "pause", "3") == "paused"
    assert await board.toggle("1401", "login", None) == "logged_in"
    await board.flushed()
    row = store.rows["1401"]
    assert (row.logged_in, row.paused, row.changed_by) == (True, False, "desk")


def test_feature_code_args_are_read_strictly() -> None:
    assert parse_feature_args(["presence", "login"]) == ("login", None)
    assert parse_feature_args(["presence", "pause", "4"]) == ("pause", "4")
    assert parse_feature_args(["presence", "pause", "44"]) == ("pause", None)
    assert parse_feature_args(["presence", "dial", "0900"]) is None
    assert parse_feature_args(["desk", "x"]) is None
