"""A desk flags the call in progress as a complaint with its code (`complaints.desk_code`,
"*9" by default): `ivr.desk.talk` watches the desk's keys and `flag_complaint` opens one
case per call and beeps to the desk. Driven through `handle_call` / `resume_call` with
the `FakeAri` of test_ivr_call_flow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from calllog.model import Case, CaseChange, CaseStatus, Outcome
from ivr.desk import DESK_BEEP, _DeskKeys
from routing.config import HotlineConfig
from tests.clock import FakeClock
from tests.unit.test_ivr_call_flow import (
    ADOPTED_DESK,
    CALLER_ID,
    CONFIG,
    Call,
    WatchedCallLog,
    adopt,
    connect_to_desk,
    finished,
    new_call,
)

BRANCH_4 = "Cải cách thủ tục hành chính"


def with_desk_code(code: str, config: HotlineConfig = CONFIG) -> HotlineConfig:
    complaints = config.complaints.model_copy(update={"desk_code": code})
    return config.model_copy(update={"complaints": complaints})


async def until_flagged(call: Call, times: int) -> None:
    """Wait (at most a second) until the timeline has `times` complaint_flagged steps."""
    await call.calllog.until_noted("complaint_flagged", times)


async def caller_hangs_up(call: Call, task: asyncio.Task[None]) -> None:
    """End the call from the caller's side: by then `talk` has seen every earlier key."""
    call.ari.caller_hangs_up(cause=16)
    await finished(task)


def beeps(call: Call) -> list[str]:
    """The channels the beep was played to."""
    return [c.args["channel_id"] for c in call.ari.called("play") if c.args["media"] == [DESK_BEEP]]


async def cases(call: Call) -> list[Case]:
    return await call.calllog.cases_for_call(CALLER_ID)


# --- the desk's code -------------------------------------------------------------------


async def test_desk_code_opens_one_case_and_beeps_to_the_desk_even_when_pressed_twice() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    desk = call.desk_channel_id("1401")
    call.ari.desk_presses(desk, "*9")
    await until_flagged(call, 1)
    call.ari.desk_presses(desk, "*9")
    await until_flagged(call, 2)
    await caller_hangs_up(call, task)

    (listed,) = await cases(call)
    assert listed.id is not None
    case = await call.calllog.get_case(listed.id)
    assert case is not None
    assert case.key == f"desk-flag:{CALLER_ID}"
    assert case.call_id == CALLER_ID
    assert case.category == BRANCH_4
    assert case.opened_by == "desk 1401"
    assert case.status is CaseStatus.RECEIVED
    assert case.agency is None and case.recording is None
    assert case.history == (
        CaseChange(at=case.opened_at, by="desk 1401", status=CaseStatus.RECEIVED,
                   note="flagged by the desk during the call"),
    )
    record = await call.record()
    assert record.bridged_at is not None and record.ended_at is not None
    assert record.bridged_at < case.opened_at < record.ended_at

    assert await call.details("complaint_flagged") == [{"desk": "1401"}, {"desk": "1401"}]
    assert beeps(call) == [desk, desk]  # the desk alone hears it, each time
    beep_ids = [c.args["playback_id"] for c in call.ari.called("play")
                if c.args["media"] == [DESK_BEEP]]
    assert len(set(beep_ids)) == 2

    # The call goes on as before: the caller is not disturbed and ends it.
    assert record.outcome is Outcome.CONNECTED and record.hangup_by == "caller"
    assert call.ari.hung_up() == [desk]
    kinds = await call.kinds()
    assert kinds[kinds.index("bridged"):] == [
        "bridged", "complaint_flagged", "complaint_flagged", "ended",
    ]


async def test_desk_code_among_other_desk_keys_still_flags() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    call.ari.desk_presses(call.desk_channel_id("1401"), "12**9")
    await until_flagged(call, 1)
    await caller_hangs_up(call, task)

    assert len(await cases(call)) == 1


@pytest.mark.parametrize("keys", ["9*", "*", "9", "*19", "*8", "#9"])
async def test_other_desk_keys_do_not_flag(keys: str) -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    desk = call.desk_channel_id("1401")
    call.ari.desk_presses(desk, keys)
    await caller_hangs_up(call, task)

    assert await cases(call) == []
    assert await call.details("complaint_flagged") == []
    assert beeps(call) == []
    assert (await call.record()).outcome is Outcome.CONNECTED


async def test_caller_pressing_the_code_does_not_flag() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    call.ari.press("*")
    call.ari.press("9")
    call.ari.desk_presses(call.desk_channel_id("1401"), "*")
    call.ari.press("9")  # the desk's "*" and the caller's "9" are not the desk's code
    await caller_hangs_up(call, task)

    assert await cases(call) == []
    assert await call.details("complaint_flagged") == []
    assert beeps(call) == []
    record = await call.record()
    assert record.outcome is Outcome.CONNECTED and record.hangup_by == "caller"


async def test_caller_keys_between_the_desks_keys_do_not_break_its_code() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    desk = call.desk_channel_id("1401")
    call.ari.desk_presses(desk, "*")
    call.ari.press("5")
    call.ari.desk_presses(desk, "9")
    await until_flagged(call, 1)
    await caller_hangs_up(call, task)

    assert len(await cases(call)) == 1


def scripted_clock(call: Call, *readings: float) -> None:
    """The call's monotonic clock reads `readings` in turn (one per desk key once the
    call is bridged: nothing else in `talk` reads it)."""
    assert isinstance(call.ctx.clock, FakeClock)
    call.ctx.clock.script(*readings)


async def test_desk_code_with_a_4_second_pause_does_not_flag() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    scripted_clock(call, 1000.0, 1004.0)
    call.ari.desk_presses(call.desk_channel_id("1401"), "*9")
    await caller_hangs_up(call, task)

    assert await cases(call) == []
    assert await call.details("complaint_flagged") == []
    assert beeps(call) == []


async def test_desk_code_within_the_3_second_window_flags() -> None:
    call = new_call()
    task = await connect_to_desk(call, "4")
    scripted_clock(call, 1000.0, 1003.0)
    call.ari.desk_presses(call.desk_channel_id("1401"), "*9")
    await until_flagged(call, 1)
    await caller_hangs_up(call, task)

    assert len(await cases(call)) == 1


async def test_a_custom_desk_code_flags_and_the_default_one_does_not() -> None:
    call = new_call(with_desk_code("#7"))
    task = await connect_to_desk(call, "4")
    desk = call.desk_channel_id("1401")
    call.ari.desk_presses(desk, "*9")
    call.ari.desk_presses(desk, "#7")
    await until_flagged(call, 1)
    await caller_hangs_up(call, task)

    (case,) = await cases(call)
    assert case.key == f"desk-flag:{CALLER_ID}"
    assert await call.details("complaint_flagged") == [{"desk": "1401"}]
    assert beeps(call) == [desk]


async def test_desk_code_in_an_adopted_call_opens_a_case() -> None:
    call = new_call()
    call.ctx.record.branch_name = BRANCH_4
    task = await adopt(call)
    call.ari.desk_presses(ADOPTED_DESK, "*9")
    await until_flagged(call, 1)
    await caller_hangs_up(call, task)

    (case,) = await cases(call)
    assert (case.opened_by, case.category) == ("desk 1401", BRANCH_4)
    assert beeps(call) == [ADOPTED_DESK]


# --- the case store failing ----------------------------------------------------------


class CaseStoreDown(WatchedCallLog):
    """The call log while opening a case fails (calls and events are still written)."""

    def __init__(self) -> None:
        super().__init__()
        self.tried = asyncio.Event()

    async def open_case(self, case: Case) -> None:
        self.tried.set()
        raise ConnectionRefusedError("case store unreachable")


async def flag_fails(calllog: CaseStoreDown) -> None:
    """Wait until the flow tried to open the case, then let it deal with the error."""
    async with asyncio.timeout(1.0):
        await calllog.tried.wait()
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_failing_case_store_does_not_end_the_call() -> None:
    calllog = CaseStoreDown()
    call = new_call(calllog=calllog)
    with capture_logs():
        task = await connect_to_desk(call, "4")
        desk = call.desk_channel_id("1401")
        call.ari.desk_presses(desk, "*9")
        await flag_fails(calllog)
        talking = not task.done() and desk not in call.ari.hung_up()
        await caller_hangs_up(call, task)

    assert talking
    assert call.ari.called("continue_in_dialplan") == []
    record = await call.record()
    assert (record.outcome, record.hangup_by) == (Outcome.CONNECTED, "caller")


async def test_a_failing_case_store_does_not_leave_an_adopted_caller_in_silence() -> None:
    calllog = CaseStoreDown()
    call = new_call(calllog=calllog)
    with capture_logs():
        task = await adopt(call)
        call.ari.desk_presses(ADOPTED_DESK, "*9")
        await flag_fails(calllog)
        ended = task.done()
        if not ended:
            await caller_hangs_up(call, task)

    caller_released = CALLER_ID in call.ari.hung_up() or bool(
        call.ari.called("continue_in_dialplan"))
    assert not ended or caller_released


# --- _DeskKeys on its own ---------------------------------------------------------------


def keys_at(code: str, presses: list[tuple[float, str]]
            ) -> list[bool]:
    """What `_DeskKeys(code).pressed` answers for each (time, digit)."""
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    clock.script(*(t for t, _ in presses))
    keys = _DeskKeys(code, clock)
    return [keys.pressed(digit) for _, digit in presses]


@pytest.mark.parametrize(
    ("code", "presses", "expected"),
    [
        ("*9", [(10.0, "*"), (11.0, "9")], [False, True]),
        ("*9", [(10.0, "*"), (14.0, "9")], [False, False]),
        ("*9", [(10.0, "*"), (13.0, "9")], [False, True]),  # 3 s exactly: still in time
        ("*9", [(10.0, "*"), (11.0, "9"), (12.0, "*"), (13.0, "9")], [False, True, False, True]),
        ("*9", [(10.0, "*"), (11.0, "9"), (12.0, "9")], [False, True, False]),  # resets
        ("*9", [(10.0, "*"), (11.0, "*"), (12.0, "9")], [False, False, True]),
        ("#7", [(10.0, "#"), (11.0, "7")], [False, True]),
        ("5", [(10.0, "5"), (11.0, "5")], [True, True]),
        ("*123", [(10.0, "*"), (11.0, "1"), (12.0, "2"), (13.0, "3")],
         [False, False, False, True]),
        ("*123", [(10.0, "*"), (11.0, "1"), (15.0, "2"), (16.0, "3")],
         [False, False, False, False]),
    ],
)
def test_desk_keys_spot_the_code_within_the_window(
    code: str, presses: list[tuple[float, str]],
    expected: list[bool],
) -> None:
    assert keys_at(code, presses) == expected


def test_desk_keys_window_is_3_seconds() -> None:
    assert _DeskKeys.WINDOW_SECONDS == 3.0
