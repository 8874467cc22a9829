"""What every `CallLog` must do: the scenarios that `InMemoryCallLog` (the fake the
call-flow unit tests trust) and `CallLogStore` (SQLite and PostgreSQL) must both pass.

Each scenario is an `async def` that takes an empty `CallLog` and asserts. They are
run by tests/unit/test_calllog_memory*.py and tests/unit/test_calllog_cases_memory.py against
the fake and by tests/integration/test_calllog_{store,callbacks,cases}.py against the
real databases, and against `SpooledCallLog` over both by
tests/unit/test_calllog_spool.py and tests/integration/test_calllog_spool_db.py; what
only one side can show (copy-safety of the fake, concurrency, migrations) stays in
those files.
`BATCH_SCENARIOS` take a `BatchCallLog` (the stores behind the spool); the spool runs
the others as `ReadsAfterFlush(spool)`, its reads being eventually consistent.

Test modules call `pytest.register_assert_rewrite(__name__ of this module)` before
importing it, so a failing assert here reports its values like one in a test module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from calllog.cases import CaseTransitionError, UnknownCaseError
from calllog.errors import UnknownCallError
from calllog.model import (
    Callback,
    CallEvent,
    CallRecord,
    Case,
    CaseChange,
    CaseStatus,
    ConfigReload,
    Outcome,
    Write,
)
from calllog.spool import SpooledCallLog
from calllog.store import BatchCallLog, CallLog

Scenario = Callable[[CallLog], Awaitable[None]]
BatchScenario = Callable[[BatchCallLog], Awaitable[None]]

ICT = timezone(timedelta(hours=7), "ICT")
T0 = datetime(2025, 3, 4, 2, 15, 30, 123456, tzinfo=UTC)


def new_call(
    call_id: str = "1741054530.42", started_at: datetime = T0, callback: str | None = None
) -> CallRecord:
    return CallRecord(
        call_id=call_id, caller_number="0901234567", started_at=started_at, callback=callback
    )


def closed_hours_call(call_id: str = "1741054530.42") -> CallRecord:
    call = new_call(call_id, callback="pending")
    call.caller_agency = "UBND xã Vị Tân"
    call.recording, call.recording_seconds = "vm-1795464328-0", 42
    call.ended_at, call.outcome = T0 + timedelta(minutes=1), Outcome.CLOSED
    return call


def without_new_fields(call: CallRecord) -> CallRecord:
    """`call` as revision 0001 could store it (without the call-back fields of 0002)."""
    return dataclasses.replace(
        call,
        caller_agency=None,
        recording=None,
        recording_seconds=None,
        callback=None,
        callback_done_at=None,
        callback_note=None,
    )


class ReadsAfterFlush:
    """The spool as the scenarios see a `CallLog`: reads wait for the writes to land."""

    def __init__(self, spool: SpooledCallLog) -> None:
        self.spool = spool

    async def _flushed(self) -> None:
        assert await self.spool.flushed(5)

    async def save(self, call: CallRecord) -> None:
        await self.spool.save(call)

    async def append_event(self, event: CallEvent) -> None:
        await self.spool.append_event(event)

    async def get(self, call_id: str) -> CallRecord | None:
        await self._flushed()
        return await self.spool.get(call_id)

    async def events(self, call_id: str) -> list[CallEvent]:
        await self._flushed()
        return await self.spool.events(call_id)

    async def list_calls(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
    ) -> list[CallRecord]:
        await self._flushed()
        return await self.spool.list_calls(since=since, until=until, limit=limit)

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500, offset: int = 0
    ) -> list[CallRecord]:
        await self._flushed()
        return await self.spool.list_callbacks(
            include_done=include_done, limit=limit, offset=offset
        )

    async def count_callbacks(self, *, include_done: bool = False) -> int:
        await self._flushed()
        return await self.spool.count_callbacks(include_done=include_done)

    async def pending_callbacks_matching(
        self, prefix: str, *, limit: int = 20
    ) -> list[CallRecord]:
        await self._flushed()
        return await self.spool.pending_callbacks_matching(prefix, limit=limit)

    async def mark_callback_done(
        self, call_id: str, *, at: datetime, note: str | None = None
    ) -> bool:
        await self._flushed()
        return await self.spool.mark_callback_done(call_id, at=at, note=note)

    async def find_call(self, prefix: str) -> list[CallRecord]:
        await self._flushed()
        return await self.spool.find_call(prefix)

    async def close_if_open(self, call: CallRecord) -> None:
        await self.spool.close_if_open(call)

    async def record_reload(self, reload: ConfigReload) -> None:
        await self.spool.record_reload(reload)

    async def list_reloads(self, *, limit: int = 100) -> list[ConfigReload]:
        await self._flushed()
        return await self.spool.list_reloads(limit=limit)

    async def open_case(self, case: Case) -> None:
        await self.spool.open_case(case)

    async def create_case(self, case: Case) -> Case:
        await self._flushed()  # its call may still be in the journal
        return await self.spool.create_case(case)

    async def update_case(
        self,
        case_id: int,
        *,
        status: CaseStatus | str,
        by: str,
        at: datetime,
        agency: str | None = None,
        note: str = "",
    ) -> Case:
        await self._flushed()
        return await self.spool.update_case(
            case_id, status=status, by=by, at=at, agency=agency, note=note
        )

    async def get_case(self, case_id: int) -> Case | None:
        await self._flushed()
        return await self.spool.get_case(case_id)

    async def list_cases(
        self,
        *,
        status: CaseStatus | str | None = None,
        agency: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[Case]:
        await self._flushed()
        return await self.spool.list_cases(
            status=status, agency=agency, category=category, since=since, until=until,
            limit=limit,
        )

    async def cases_for_call(self, call_id: str) -> list[Case]:
        await self._flushed()
        return await self.spool.cases_for_call(call_id)


def scenario_id(scenario: Scenario | BatchScenario) -> str:
    """The test id of a scenario: its function name."""
    return getattr(scenario, "__name__", repr(scenario))


# --- calls and their timelines -------------------------------------------------------


async def saving_again_at_each_milestone_updates_the_same_row(log: CallLog) -> None:
    call = new_call()
    await log.save(call)
    assert await log.get(call.call_id) == call

    call.caller_name = "Nguyễn Văn Ánh"
    call.answered_at = T0 + timedelta(seconds=1)
    call.branch_key, call.branch_name = 4, "Cải cách thủ tục hành chính"
    call.agency = "Văn phòng UBND tỉnh"
    call.desk_dialled = "2041,2042"
    await log.save(call)
    call.desk_answered, call.bridged_at = "2042", T0 + timedelta(seconds=20)
    call.ended_at = T0 + timedelta(minutes=3)
    call.outcome = Outcome.CONNECTED
    call.hangup_cause, call.hangup_cause_txt, call.hangup_by = 16, "Normal Clearing", "caller"
    await log.save(call)

    stored = await log.get(call.call_id)
    assert stored == call
    assert stored is not None and stored.outcome is Outcome.CONNECTED
    assert await log.list_calls() == [call]


async def save_overwrites_fields_that_went_back_to_none(log: CallLog) -> None:
    call = new_call()
    call.desk_dialled, call.outcome = "2041", Outcome.FAILED
    await log.save(call)
    call.desk_dialled, call.outcome = None, None
    await log.save(call)
    assert await log.get(call.call_id) == call


async def save_is_idempotent(log: CallLog) -> None:
    call = new_call()
    call.outcome = Outcome.NO_SELECTION
    for _ in range(3):
        await log.save(call)
    assert await log.list_calls() == [call]


async def times_come_back_as_aware_utc(log: CallLog) -> None:
    local_start = datetime(2025, 3, 4, 9, 15, 30, 123456, tzinfo=ICT)  # == T0
    call = new_call(started_at=local_start)
    call.answered_at = local_start + timedelta(seconds=2)
    await log.save(call)
    await log.append_event(CallEvent(call.call_id, local_start, "answered"))

    stored = await log.get(call.call_id)
    assert stored is not None
    assert stored.started_at == T0 and stored.started_at.tzinfo is UTC
    assert stored.answered_at == T0 + timedelta(seconds=2)
    assert stored.answered_at is not None and stored.answered_at.tzinfo is UTC
    [event] = await log.events(call.call_id)
    assert event.at == T0 and event.at.tzinfo is UTC


async def naive_times_are_refused(log: CallLog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.save(new_call(started_at=datetime(2025, 3, 4, 9, 0)))
    await log.save(new_call())
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.append_event(CallEvent("1741054530.42", datetime(2025, 3, 4), "answered"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.list_calls(since=datetime(2025, 3, 4))


async def ids_and_kinds_too_long_for_the_tables_are_refused(log: CallLog) -> None:
    with pytest.raises(ValueError, match="call_id"):
        await log.save(new_call("x" * 65))
    await log.save(new_call())
    with pytest.raises(ValueError, match="kind"):
        await log.append_event(CallEvent("1741054530.42", T0, "k" * 33))


async def events_come_back_in_append_order_with_their_detail(log: CallLog) -> None:
    await log.save(new_call("a"))
    await log.save(new_call("b"))
    timeline = [
        CallEvent("a", T0, "answered"),
        CallEvent("a", T0, "prompt", {"prompt": "menu-chinh", "attempt": 1}),
        CallEvent("b", T0, "answered"),
        CallEvent("a", T0 + timedelta(seconds=4), "digit", {"digit": "4"}),
        CallEvent("a", T0 + timedelta(seconds=4), "branch", {"key": 4, "name": "Cải cách TTHC"}),
        CallEvent("a", T0 + timedelta(seconds=5), "desk_dial", {"desk": "2041", "cause": None}),
    ]
    for event in timeline:
        await log.append_event(event)

    events = await log.events("a")
    assert [(e.kind, e.at, e.detail) for e in events] == [
        (e.kind, e.at, e.detail) for e in timeline if e.call_id == "a"
    ]
    seqs = [e.seq for e in events if e.seq is not None]
    assert len(seqs) == len(events)
    assert seqs == sorted(set(seqs))
    assert [e.kind for e in await log.events("b")] == ["answered"]
    assert await log.events("never-saved") == []


async def append_event_for_an_unsaved_call_raises(log: CallLog) -> None:
    with pytest.raises(UnknownCallError, match="never-saved"):
        await log.append_event(CallEvent("never-saved", T0, "answered"))


async def get_of_an_unknown_call_is_none(log: CallLog) -> None:
    assert await log.get("never-saved") is None


async def list_calls_filters_on_start_time_newest_first(log: CallLog) -> None:
    for i in range(5):
        await log.save(new_call(f"c{i}", T0 + timedelta(hours=i)))

    assert [c.call_id for c in await log.list_calls()] == ["c4", "c3", "c2", "c1", "c0"]
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    assert [c.call_id for c in await log.list_calls(since=since)] == ["c4", "c3", "c2", "c1"]
    assert [c.call_id for c in await log.list_calls(until=until)] == ["c2", "c1", "c0"]
    in_window = await log.list_calls(since=since, until=until)
    assert [c.call_id for c in in_window] == ["c2", "c1"]
    assert [c.call_id for c in await log.list_calls(limit=2)] == ["c4", "c3"]
    # Bounds in another zone mean the same instants.
    local = await log.list_calls(since=since.astimezone(ICT), until=until.astimezone(ICT))
    assert local == in_window


async def an_event_whose_key_is_in_the_log_is_not_appended_again(log: CallLog) -> None:
    await log.save(new_call("a"))
    await log.save(new_call("b"))
    await log.append_event(CallEvent("a", T0, "answered", key="spool-1:2"))
    await log.append_event(CallEvent("a", T0, "answered", key="spool-1:2"))  # replayed
    await log.append_event(CallEvent("b", T0, "answered", key="spool-1:2"))  # same key
    await log.append_event(CallEvent("a", T0, "digit", {"digit": "4"}, key="spool-1:3"))
    await log.append_event(CallEvent("a", T0, "prompt"))  # no key: always appended
    await log.append_event(CallEvent("a", T0, "prompt"))

    events = await log.events("a")
    assert [e.kind for e in events] == ["answered", "digit", "prompt", "prompt"]
    # (a spool gives unkeyed events keys of its own)
    assert [e.key for e in events[:2]] == ["spool-1:2", "spool-1:3"]
    assert await log.events("b") == []
    with pytest.raises(ValueError, match="key"):
        await log.append_event(CallEvent("a", T0, "prompt", key="k" * 81))
    with pytest.raises(ValueError, match="key"):
        await log.append_event(CallEvent("a", T0, "prompt", key=""))


async def close_if_open_fills_in_or_closes_a_row_but_never_rewrites_a_closed_one(
    log: CallLog,
) -> None:
    # No row yet (a call the fallback IVR took alone): inserted.
    fallback = dataclasses.replace(new_call("fb"), ended_at=T0 + timedelta(seconds=30),
                                   outcome=Outcome.CONNECTED, desk_answered="1201")
    await log.close_if_open(fallback)
    assert await log.get("fb") == fallback
    # An open row (the service died mid-call): closed.
    await log.save(new_call("open"))
    closed = dataclasses.replace(new_call("open"), ended_at=T0 + timedelta(seconds=9),
                                 outcome=Outcome.FAILED, hangup_by="caller")
    await log.close_if_open(closed)
    assert await log.get("open") == closed
    # A row the call's own flow closed: left exactly as it was.
    done = dataclasses.replace(new_call("done"), ended_at=T0 + timedelta(seconds=5),
                               outcome=Outcome.ABANDONED_IN_MENU, hangup_by="caller")
    await log.save(done)
    await log.close_if_open(dataclasses.replace(done, outcome=Outcome.FAILED,
                                                ended_at=T0 + timedelta(hours=1)))
    assert await log.get("done") == done
    # A caller still queued when the service stopped, gone before it came back: the
    # close (from CEL, which knows no queue) keeps the wait and says they gave up
    joined = T0 + timedelta(seconds=20)
    await log.save(dataclasses.replace(new_call("queued"), queue_joined_at=joined))
    await log.close_if_open(dataclasses.replace(
        new_call("queued"), ended_at=T0 + timedelta(seconds=80),
        outcome=Outcome.ABANDONED_WHILE_RINGING))
    row = await log.get("queued")
    assert row is not None
    assert (row.queue_joined_at, row.queue_left_at, row.queue_result) == (
        joined, T0 + timedelta(seconds=80), "abandoned")
    # Events may follow a close, as after a save.
    await log.append_event(CallEvent("fb", T0, "fallback", {"source": "cel"}, key="cel:fb:1"))
    assert [e.kind for e in await log.events("fb")] == ["fallback"]


async def reloads_are_kept_oldest_first_with_their_problems(log: CallLog) -> None:
    applied = ConfigReload(at=T0, file="config/hotline.yaml", sha256="a" * 64,
                           status="applied")
    refused = ConfigReload(at=T0.astimezone(ICT) + timedelta(minutes=1),
                           file="config/hotline.yaml", sha256="b" * 64, status="refused",
                           problems="config/hotline.yaml:42 branches[3].desks[0]: bad\nx")
    await log.record_reload(applied)
    await log.record_reload(refused)
    reloads = await log.list_reloads()
    assert [(r.sha256, r.status) for r in reloads] == [("a" * 64, "applied"), ("b" * 64, "refused")]
    assert reloads[1].problems == refused.problems
    assert reloads[1].at == T0 + timedelta(minutes=1) and reloads[1].at.tzinfo == UTC
    assert [r.sha256 for r in await log.list_reloads(limit=1)] == ["b" * 64]
    with pytest.raises(ValueError, match="status"):
        await log.record_reload(dataclasses.replace(applied, status="maybe"))


CALL_SCENARIOS: tuple[Scenario, ...] = (
    saving_again_at_each_milestone_updates_the_same_row,
    save_overwrites_fields_that_went_back_to_none,
    save_is_idempotent,
    times_come_back_as_aware_utc,
    naive_times_are_refused,
    ids_and_kinds_too_long_for_the_tables_are_refused,
    events_come_back_in_append_order_with_their_detail,
    append_event_for_an_unsaved_call_raises,
    get_of_an_unknown_call_is_none,
    list_calls_filters_on_start_time_newest_first,
    an_event_whose_key_is_in_the_log_is_not_appended_again,
    close_if_open_fills_in_or_closes_a_row_but_never_rewrites_a_closed_one,
    reloads_are_kept_oldest_first_with_their_problems,
)


# --- call backs (revision 0002) and find_call ----------------------------------------


async def new_fields_round_trip(log: CallLog) -> None:
    call = closed_hours_call()
    await log.save(call)
    stored = await log.get(call.call_id)
    assert stored == call
    assert stored is not None
    assert stored.outcome is Outcome.CLOSED and stored.callback is Callback.PENDING

    call.callback = "done"
    call.callback_done_at = datetime(2025, 3, 4, 14, 0, tzinfo=ICT)
    call.callback_note = "Đã gọi lại, hướng dẫn nộp hồ sơ trực tuyến"
    await log.save(call)
    stored = await log.get(call.call_id)
    assert stored == call
    assert stored is not None and stored.callback_done_at is not None
    assert stored.callback_done_at.tzinfo is UTC
    assert stored.callback_done_at == datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert await log.list_calls() == [call]


async def save_overwrites_new_fields_that_went_back_to_none(log: CallLog) -> None:
    call = closed_hours_call()
    await log.save(call)
    call = without_new_fields(call)
    await log.save(call)
    assert await log.get(call.call_id) == call


async def unknown_callback_states_and_naive_times_are_refused(log: CallLog) -> None:
    with pytest.raises(ValueError, match="callback"):
        await log.save(new_call(callback="later"))
    call = new_call(callback="done")
    call.callback_done_at = datetime(2025, 3, 4, 9, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.save(call)
    await log.save(new_call(callback="pending"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.mark_callback_done("1741054530.42", at=datetime(2025, 3, 4, 9, 0))
    assert [c.callback for c in await log.list_callbacks()] == ["pending"]


async def list_callbacks_is_the_pending_queue_oldest_first(log: CallLog) -> None:
    states = ["pending", None, "done", "pending", "pending", None, "done"]
    for i, state in reversed(list(enumerate(states))):  # saved out of order
        await log.save(new_call(f"c{i}", T0 + timedelta(hours=i), callback=state))
    await log.save(new_call("c4-same-time", T0 + timedelta(hours=4), callback="pending"))

    assert [c.call_id for c in await log.list_callbacks()] == ["c0", "c3", "c4", "c4-same-time"]
    # the pending ones first (the queue), then the handled ones, each oldest first
    assert [c.call_id for c in await log.list_callbacks(include_done=True)] == [
        "c0",
        "c3",
        "c4",
        "c4-same-time",
        "c2",
        "c6",
    ]
    assert [c.call_id for c in await log.list_callbacks(limit=2)] == ["c0", "c3"]
    assert await log.list_callbacks(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await log.list_callbacks(limit=-1)


async def list_callbacks_pages_with_the_pending_ones_first(log: CallLog) -> None:
    """597 handled call backs older than 3 pending ones: the first page shows the 3."""
    for i in range(597):
        await log.save(new_call(f"done-{i:03d}", T0 + timedelta(minutes=i), callback="done"))
    for i in range(3):
        await log.save(new_call(f"pending-{i}", T0 + timedelta(days=1, minutes=i),
                                callback="pending"))
    await log.save(new_call("served", T0 + timedelta(days=2)))

    assert await log.count_callbacks() == 3
    assert await log.count_callbacks(include_done=True) == 600
    first = await log.list_callbacks(include_done=True, limit=50)
    assert [c.call_id for c in first[:4]] == ["pending-0", "pending-1", "pending-2", "done-000"]
    assert len(first) == 50
    pages = [await log.list_callbacks(include_done=True, limit=50, offset=50 * page)
             for page in range(13)]
    ids = [c.call_id for page in pages for c in page]
    assert len(ids) == len(set(ids)) == 600  # every one once, none skipped
    assert [len(page) for page in pages[-2:]] == [50, 0]
    assert ids[-1] == "done-596"
    assert [c.call_id for c in await log.list_callbacks(limit=2, offset=2)] == ["pending-2"]
    with pytest.raises(ValueError, match="offset"):
        await log.list_callbacks(offset=-1)


async def pending_callbacks_matching_is_every_pending_call_with_the_prefix(
    log: CallLog,
) -> None:
    """Not only among the newest calls: 25 newer served calls share the prefix."""
    await log.save(new_call("1741054530.1", T0, callback="pending"))
    for i in range(25):
        await log.save(new_call(f"1741054530.5{i:02d}", T0 + timedelta(minutes=i + 1)))
    await log.save(new_call("1741054530.9", T0 + timedelta(hours=1), callback="pending"))
    await log.save(new_call("1741054530.8", T0 + timedelta(hours=2), callback="done"))

    matching = await log.pending_callbacks_matching("1741054530.")
    assert [c.call_id for c in matching] == ["1741054530.1", "1741054530.9"]  # oldest first
    assert [c.call_id for c in await log.pending_callbacks_matching("1741054530.1")] == [
        "1741054530.1"
    ]
    assert await log.pending_callbacks_matching("1741054530.8") == []  # done
    assert await log.pending_callbacks_matching("1741054530.5") == []  # never needed one
    assert [c.call_id for c in await log.pending_callbacks_matching("", limit=1)] == [
        "1741054530.1"
    ]
    assert await log.pending_callbacks_matching("17", limit=0) == []


async def pending_callbacks_matching_is_exact_about_case_and_like_wildcards(
    log: CallLog,
) -> None:
    for call_id in ["abc-1", "ABC-2", "a%c-3", "a_c-4", "axc-5", "a\\c-6"]:
        await log.save(new_call(call_id, callback="pending"))
    assert [c.call_id for c in await log.pending_callbacks_matching("abc")] == ["abc-1"]
    assert [c.call_id for c in await log.pending_callbacks_matching("ABC")] == ["ABC-2"]
    assert [c.call_id for c in await log.pending_callbacks_matching("a%")] == ["a%c-3"]
    assert [c.call_id for c in await log.pending_callbacks_matching("a_c")] == ["a_c-4"]
    assert [c.call_id for c in await log.pending_callbacks_matching("a\\")] == ["a\\c-6"]


async def mark_callback_done_takes_the_call_off_the_queue(log: CallLog) -> None:
    call = closed_hours_call("a")
    await log.save(call)
    await log.save(new_call("b", T0 + timedelta(minutes=5), callback="pending"))
    at = datetime(2025, 3, 4, 15, 30, tzinfo=ICT)

    assert await log.mark_callback_done("a", at=at, note="Đã gọi lại") is True

    stored = await log.get("a")
    assert stored is not None
    assert stored.callback is Callback.DONE
    assert stored.callback_done_at == at and stored.callback_done_at.tzinfo is UTC
    assert stored.callback_note == "Đã gọi lại"
    call.callback, call.callback_done_at, call.callback_note = "done", at, "Đã gọi lại"
    assert stored == call  # nothing else changed
    assert [c.call_id for c in await log.list_callbacks()] == ["b"]
    assert [c.call_id for c in await log.list_callbacks(include_done=True)] == ["b", "a"]

    assert await log.mark_callback_done("b", at=at) is True
    stored_b = await log.get("b")
    assert stored_b is not None and stored_b.callback_note is None
    assert await log.list_callbacks() == []


async def mark_callback_done_is_false_and_changes_nothing_otherwise(log: CallLog) -> None:
    first, later = T0 + timedelta(hours=8), T0 + timedelta(hours=9)
    await log.save(new_call("done", callback="pending"))
    assert await log.mark_callback_done("done", at=first, note="lần đầu") is True
    await log.save(new_call("served"))  # never needed a call back
    before = {c.call_id: c for c in await log.list_calls()}

    assert await log.mark_callback_done("done", at=later, note="lần hai") is False
    assert await log.mark_callback_done("served", at=later, note="?") is False
    assert await log.mark_callback_done("never-saved", at=later) is False
    assert await log.mark_callback_done("x" * 65, at=later) is False

    assert {c.call_id: c for c in await log.list_calls()} == before
    assert await log.get("never-saved") is None


async def find_call_by_id_prefix_newest_first(log: CallLog) -> None:
    await log.save(new_call("1741054530.42", T0))
    await log.save(new_call("1741054530.420", T0 + timedelta(seconds=1)))
    await log.save(new_call("1741054531.7", T0 + timedelta(seconds=2)))
    await log.save(new_call("1799999999.1", T0 + timedelta(seconds=3)))

    assert [c.call_id for c in await log.find_call("17410545")] == [
        "1741054531.7",
        "1741054530.420",
        "1741054530.42",
    ]
    assert [c.call_id for c in await log.find_call("1741054530.42")] == [
        "1741054530.420",
        "1741054530.42",
    ]
    assert [c.call_id for c in await log.find_call("1741054530.420")] == ["1741054530.420"]
    assert await log.find_call("2") == []
    assert await log.find_call("41054530") == []  # a prefix, not a substring
    assert [c.call_id for c in await log.find_call("")] == [
        "1799999999.1",
        "1741054531.7",
        "1741054530.420",
        "1741054530.42",
    ]
    [found] = await log.find_call("17999")
    assert found == new_call("1799999999.1", T0 + timedelta(seconds=3))


async def find_call_is_exact_about_case_and_like_wildcards(log: CallLog) -> None:
    for call_id in ["abc-1", "ABC-2", "a%c-3", "a_c-4", "axc-5"]:
        await log.save(new_call(call_id))
    assert [c.call_id for c in await log.find_call("abc")] == ["abc-1"]
    assert [c.call_id for c in await log.find_call("ABC")] == ["ABC-2"]
    assert [c.call_id for c in await log.find_call("a%")] == ["a%c-3"]
    assert [c.call_id for c in await log.find_call("a_c")] == ["a_c-4"]


async def find_call_returns_at_most_twenty(log: CallLog) -> None:
    for i in range(25):
        await log.save(new_call(f"1741054530.{i:02d}", T0 + timedelta(seconds=i)))
    found = await log.find_call("1741054530.")
    assert [c.call_id for c in found] == [f"1741054530.{i:02d}" for i in range(24, 4, -1)]


async def a_later_save_does_not_undo_a_done_call_back(log: CallLog) -> None:
    """A save replayed from the spool after staff marked the call back keeps the mark."""
    call = closed_hours_call()
    await log.save(call)
    at = datetime(2025, 3, 4, 15, 30, tzinfo=ICT)
    assert await log.mark_callback_done(call.call_id, at=at, note="Đã gọi lại") is True

    call.hangup_by = "caller"  # the (older) record still says "pending"
    await log.save(call)
    stored = await log.get(call.call_id)
    assert stored is not None
    assert (stored.callback, stored.callback_done_at, stored.callback_note) == (
        Callback.DONE,
        at,
        "Đã gọi lại",
    )
    assert stored.hangup_by == "caller"  # the rest of the row is saved as usual
    await log.save(without_new_fields(call))  # not even cleared
    stored = await log.get(call.call_id)
    assert stored is not None and stored.callback is Callback.DONE
    assert stored.recording is None
    assert [c.call_id for c in await log.list_callbacks(include_done=True)] == [call.call_id]
    assert await log.list_callbacks() == []


CALLBACK_SCENARIOS: tuple[Scenario, ...] = (
    new_fields_round_trip,
    save_overwrites_new_fields_that_went_back_to_none,
    unknown_callback_states_and_naive_times_are_refused,
    list_callbacks_is_the_pending_queue_oldest_first,
    list_callbacks_pages_with_the_pending_ones_first,
    pending_callbacks_matching_is_every_pending_call_with_the_prefix,
    pending_callbacks_matching_is_exact_about_case_and_like_wildcards,
    mark_callback_done_takes_the_call_off_the_queue,
    mark_callback_done_is_false_and_changes_nothing_otherwise,
    find_call_by_id_prefix_newest_first,
    find_call_is_exact_about_case_and_like_wildcards,
    find_call_returns_at_most_twenty,
    a_later_save_does_not_undo_a_done_call_back,
)


# --- complaint cases (revision 0006) ---------------------------------------------------

BRANCH = "Cải cách thủ tục hành chính"
FLAG_NOTE = "flagged by the desk during the call"


def desk_flag(
    call_id: str = "1741054530.42", at: datetime = T0 + timedelta(minutes=1),
    desk: str = "desk 1101",
) -> Case:
    """What the IVR opens when a desk presses the complaint code during a call."""
    return Case(
        id=None, call_id=call_id, category=BRANCH, opened_at=at, opened_by=desk,
        key=f"desk-flag:{call_id}",
        history=(CaseChange(at, desk, CaseStatus.RECEIVED, note=FLAG_NOTE),),
    )


def operator_case(
    call_id: str | None = "1741054530.42", at: datetime = T0 + timedelta(hours=1),
    category: str = "Chung", by: str = "Lan",
) -> Case:
    """What an operator opens from the CLI for a past call: no history, no key."""
    return Case(id=None, call_id=call_id, category=category, opened_at=at, opened_by=by)


async def a_desk_flag_opens_a_received_case_with_its_note(log: CallLog) -> None:
    await log.save(new_call())
    at = T0 + timedelta(minutes=1)
    flag = desk_flag(at=at.astimezone(ICT))
    await log.open_case(flag)

    [listed] = await log.cases_for_call("1741054530.42")
    assert listed.id is not None and listed.history == ()
    case = await log.get_case(listed.id)
    assert case == dataclasses.replace(
        flag, id=listed.id,
        history=(CaseChange(at, "desk 1101", CaseStatus.RECEIVED, note=FLAG_NOTE),),
    )
    assert case is not None and case.status is CaseStatus.RECEIVED
    assert case.opened_at.tzinfo is UTC and case.history[0].at.tzinfo is UTC
    assert case.history[0].status is CaseStatus.RECEIVED
    assert await log.list_cases() == [listed]
    assert listed == dataclasses.replace(case, history=())


async def a_case_is_opened_once_per_key(log: CallLog) -> None:
    await log.save(new_call("a"))
    await log.save(new_call("b"))
    await log.open_case(desk_flag("a"))
    second_press = dataclasses.replace(desk_flag("a", T0 + timedelta(minutes=2)), category="x")
    await log.open_case(second_press)  # the desk pressed *9 again, or the spool replayed
    await log.open_case(desk_flag("b"))

    [case_a] = await log.cases_for_call("a")
    assert (case_a.category, case_a.opened_at) == (BRANCH, T0 + timedelta(minutes=1))
    assert case_a.id is not None
    stored = await log.get_case(case_a.id)
    assert stored is not None and [c.note for c in stored.history] == [FLAG_NOTE]
    assert len(await log.cases_for_call("b")) == 1
    # An operator opening with a key already in the log gets that case back.
    assert await log.create_case(second_press) == stored
    # Without a key, each opening is a case of its own.
    await log.open_case(dataclasses.replace(desk_flag("a"), key=None))
    await log.create_case(operator_case("a"))
    assert len(await log.cases_for_call("a")) == 3
    assert len({c.id for c in await log.list_cases()}) == 4


async def a_case_without_history_starts_from_its_opening(log: CallLog) -> None:
    await log.save(closed_hours_call())
    opened = dataclasses.replace(
        operator_case(at=T0.astimezone(ICT)), agency="Sở Tư pháp",
        recording="vm-1795464328-0",
    )
    created = await log.create_case(opened)
    assert created.id is not None
    assert created == dataclasses.replace(
        opened, id=created.id,
        history=(CaseChange(T0, "Lan", CaseStatus.RECEIVED, agency="Sở Tư pháp"),),
    )
    assert created.opened_at.tzinfo is UTC
    assert await log.get_case(created.id) == created
    # A recorded message whose call is not in the log.
    message = await log.create_case(
        dataclasses.replace(operator_case(None), recording="vm-1795464999-0")
    )
    assert message.id not in (None, created.id)
    assert (message.call_id, message.recording) == (None, "vm-1795464999-0")
    assert await log.get_case(message.id or 0) == message
    assert [c.id for c in await log.list_cases()] == [message.id, created.id]


async def cases_that_cannot_be_opened_are_refused(log: CallLog) -> None:
    await log.save(new_call())
    with pytest.raises(UnknownCallError, match="never-saved"):
        await log.open_case(desk_flag("never-saved"))
    with pytest.raises(UnknownCallError, match="never-saved"):
        await log.create_case(operator_case("never-saved"))
    received = CaseChange(T0, "desk 1101", CaseStatus.RECEIVED)
    flag = desk_flag()
    refused = [
        ("timezone-aware", dataclasses.replace(flag, opened_at=datetime(2025, 3, 4, 9, 0))),
        ("timezone-aware", dataclasses.replace(
            flag, history=(dataclasses.replace(received, at=datetime(2025, 3, 4)),))),
        ("received", dataclasses.replace(flag, status=CaseStatus.FORWARDED)),
        ("received", dataclasses.replace(
            flag, history=(dataclasses.replace(received, status=CaseStatus.VERIFYING),))),
        ("at most one", dataclasses.replace(flag, history=(received, received))),
        ("id", dataclasses.replace(flag, id=7)),
        ("recorded message", dataclasses.replace(flag, call_id=None)),
        ("call_id", dataclasses.replace(flag, call_id="x" * 65)),
        ("key", dataclasses.replace(flag, key="k" * 81)),
        ("key", dataclasses.replace(flag, key="")),
        ("category", dataclasses.replace(flag, category=" ")),
        ("opened_by", dataclasses.replace(flag, opened_by="")),
        ("by", dataclasses.replace(flag, history=(dataclasses.replace(received, by=""),))),
        ("status", dataclasses.replace(flag, status="open")),  # type: ignore[arg-type]
    ]
    for match, case in refused:
        with pytest.raises(ValueError, match=match):
            await log.open_case(case)
        with pytest.raises(ValueError, match=match):
            await log.create_case(case)
    assert await log.list_cases() == []


async def a_case_follows_the_workflow_with_who_and_when(log: CallLog) -> None:
    await log.save(new_call())
    created = await log.create_case(operator_case())
    case_id = created.id
    assert case_id is not None
    at = [T0 + timedelta(hours=2, minutes=i) for i in range(6)]
    steps = [
        ("forwarded", "Lan", "Sở Tư pháp", "chuyển Sở Tư pháp"),
        ("verifying", "Hùng", None, ""),
        ("forwarded", "Hùng", "UBND huyện Long Mỹ", "không thuộc thẩm quyền Sở, chuyển huyện"),
        ("verifying", "Hùng", None, "huyện đang xác minh"),
        ("verifying", "Lan", None, "đã liên hệ công dân"),  # same status: a note
        ("resolved", "Lan", None, "đã giải quyết, công dân đồng ý"),
    ]
    seen = [created]
    for when, (status, by, agency, note) in zip(at, steps, strict=True):
        changed = await log.update_case(
            case_id, status=status, by=by, at=when.astimezone(ICT), agency=agency, note=note
        )
        assert changed.status is CaseStatus(status)
        assert changed.history[:-1] == seen[-1].history  # appended, nothing rewritten
        assert changed.history[-1].at == when and changed.history[-1].at.tzinfo is UTC
        seen.append(changed)

    final = seen[-1]
    assert final == await log.get_case(case_id)
    assert final.agency == "UBND huyện Long Mỹ"
    assert [(c.status, c.by, c.agency, c.note) for c in final.history] == [
        (CaseStatus.RECEIVED, "Lan", None, ""),
        (CaseStatus.FORWARDED, "Lan", "Sở Tư pháp", "chuyển Sở Tư pháp"),
        (CaseStatus.VERIFYING, "Hùng", "Sở Tư pháp", ""),
        (CaseStatus.FORWARDED, "Hùng", "UBND huyện Long Mỹ",
         "không thuộc thẩm quyền Sở, chuyển huyện"),
        (CaseStatus.VERIFYING, "Hùng", "UBND huyện Long Mỹ", "huyện đang xác minh"),
        (CaseStatus.VERIFYING, "Lan", "UBND huyện Long Mỹ", "đã liên hệ công dân"),
        (CaseStatus.RESOLVED, "Lan", "UBND huyện Long Mỹ", "đã giải quyết, công dân đồng ý"),
    ]
    assert [c.at for c in final.history] == [T0 + timedelta(hours=1), *at]
    # Lists show the case as it now is.
    assert await log.list_cases() == [dataclasses.replace(final, history=())]
    assert await log.cases_for_call("1741054530.42") == [dataclasses.replace(final, history=())]


async def changes_outside_the_workflow_are_refused_and_record_nothing(log: CallLog) -> None:
    await log.save(new_call())
    created = await log.create_case(operator_case())
    case_id = created.id
    assert case_id is not None
    at = T0 + timedelta(hours=2)

    with pytest.raises(CaseTransitionError, match="from received to resolved") as refused:
        await log.update_case(case_id, status=CaseStatus.RESOLVED, by="Lan", at=at)
    assert refused.value.case_id == case_id
    assert (refused.value.current, refused.value.wanted) == (
        CaseStatus.RECEIVED, CaseStatus.RESOLVED
    )
    assert refused.value.allowed == (
        CaseStatus.FORWARDED, CaseStatus.VERIFYING, CaseStatus.REJECTED
    )
    assert "allowed next: forwarded, verifying, rejected" in str(refused.value)
    assert isinstance(refused.value, ValueError)
    with pytest.raises(ValueError, match="agency"):
        await log.update_case(case_id, status="forwarded", by="Lan", at=at)
    with pytest.raises(ValueError, match="note"):
        await log.update_case(case_id, status="received", by="Lan", at=at)
    with pytest.raises(CaseTransitionError, match="agency"):
        await log.update_case(case_id, status="received", by="Lan", at=at, agency="Sở Y tế",
                              note="?")
    with pytest.raises(ValueError, match="status"):
        await log.update_case(case_id, status="closed", by="Lan", at=at)
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.update_case(case_id, status="verifying", by="Lan", at=datetime(2025, 3, 4))
    with pytest.raises(ValueError, match="by"):
        await log.update_case(case_id, status="verifying", by=" ", at=at)
    with pytest.raises(UnknownCaseError, match="999999"):
        await log.update_case(999_999, status="verifying", by="Lan", at=at)
    with pytest.raises(LookupError):
        await log.update_case(999_999, status="verifying", by="Lan", at=at)
    assert await log.get_case(case_id) == created

    # Resolved and rejected are final: only notes may follow.
    rejected = await log.update_case(case_id, status="rejected", by="Lan", at=at,
                                     note="không thuộc phạm vi phản ánh")
    for status in CaseStatus:
        if status is not CaseStatus.REJECTED:
            with pytest.raises(CaseTransitionError, match="rejected is final"):
                await log.update_case(case_id, status=status, by="Lan", at=at,
                                      agency="Sở Tư pháp")
    assert await log.get_case(case_id) == rejected
    noted = await log.update_case(case_id, status="rejected", by="Hùng",
                                  at=at + timedelta(days=1), note="đã báo công dân")
    assert [c.status for c in noted.history] == ["received", "rejected", "rejected"]

    other = await log.create_case(operator_case(at=T0 + timedelta(hours=3)))
    assert other.id is not None
    await log.update_case(other.id, status="verifying", by="Lan", at=at)
    resolved = await log.update_case(other.id, status="resolved", by="Lan", at=at)
    with pytest.raises(CaseTransitionError, match="resolved is final"):
        await log.update_case(other.id, status="forwarded", by="Lan", at=at, agency="Sở Y tế")
    assert await log.get_case(other.id) == resolved


async def list_cases_filters_combine_newest_first(log: CallLog) -> None:
    for i in range(5):
        await log.save(new_call(f"c{i}", T0 + timedelta(hours=i)))
    ids: list[int] = []
    for i in range(5):
        case = await log.create_case(operator_case(
            f"c{i}", T0 + timedelta(hours=i, minutes=5), category="A" if i % 2 else "B"
        ))
        assert case.id is not None
        ids.append(case.id)
    c0, c1, c2, c3, c4 = ids
    at = T0 + timedelta(days=1)
    await log.update_case(c1, status="forwarded", by="Lan", at=at, agency="Sở Tư pháp")
    await log.update_case(c2, status="forwarded", by="Lan", at=at, agency="Sở Y tế")
    await log.update_case(c3, status="rejected", by="Lan", at=at)
    await log.update_case(c4, status="forwarded", by="Lan", at=at, agency="Sở Tư pháp")
    await log.update_case(c4, status="verifying", by="Lan", at=at)

    async def found(**filters: Any) -> list[int | None]:
        return [case.id for case in await log.list_cases(**filters)]

    assert await found() == [c4, c3, c2, c1, c0]
    assert all(case.history == () for case in await log.list_cases())
    assert await found(status=CaseStatus.FORWARDED) == [c2, c1]
    assert await found(status="forwarded", agency="Sở Tư pháp") == [c1]
    assert await found(agency="Sở Tư pháp") == [c4, c1]
    assert await found(category="A") == [c3, c1]
    assert await found(category="A", status="rejected") == [c3]
    assert await found(category="B", agency="Sở Tư pháp") == [c4]
    assert await found(status="resolved") == []
    assert await found(agency="Sở") == []  # exact values, not substrings
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    assert await found(since=since) == [c4, c3, c2, c1]
    assert await found(until=until) == [c2, c1, c0]
    assert await found(since=since, until=until) == [c2, c1]
    assert await found(since=since.astimezone(ICT), until=until.astimezone(ICT)) == [c2, c1]
    assert await found(since=since, until=until, category="B") == [c2]
    assert await found(limit=2) == [c4, c3]
    assert await found(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await log.list_cases(limit=-1)
    with pytest.raises(ValueError, match="status"):
        await log.list_cases(status="open")
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.list_cases(since=datetime(2025, 3, 4))
    assert [c.call_id for c in await log.list_cases(status="forwarded")] == ["c2", "c1"]


async def unknown_cases_and_calls_without_cases(log: CallLog) -> None:
    assert await log.get_case(1) is None
    assert await log.list_cases() == []
    await log.save(new_call())
    assert await log.cases_for_call("1741054530.42") == []
    assert await log.cases_for_call("never-saved") == []


CASE_SCENARIOS: tuple[Scenario, ...] = (
    a_desk_flag_opens_a_received_case_with_its_note,
    a_case_is_opened_once_per_key,
    a_case_without_history_starts_from_its_opening,
    cases_that_cannot_be_opened_are_refused,
    a_case_follows_the_workflow_with_who_and_when,
    changes_outside_the_workflow_are_refused_and_record_nothing,
    list_cases_filters_combine_newest_first,
    unknown_cases_and_calls_without_cases,
)


# --- apply: the spool's batches (BatchCallLog) ----------------------------------------


async def apply_writes_saves_and_events_in_order(log: BatchCallLog) -> None:
    call = new_call()
    final = dataclasses.replace(call, ended_at=T0 + timedelta(minutes=1))
    final.outcome = Outcome.ABANDONED_IN_MENU
    await log.apply(
        [
            call,
            CallEvent(call.call_id, T0, "answered", key="s:2"),
            CallEvent(call.call_id, T0, "digit", {"digit": "9"}, key="s:3"),
            final,
            CallEvent(call.call_id, T0 + timedelta(minutes=1), "hangup", key="s:5"),
        ]
    )
    assert await log.get(call.call_id) == final
    assert [(e.kind, e.key) for e in await log.events(call.call_id)] == [
        ("answered", "s:2"),
        ("digit", "s:3"),
        ("hangup", "s:5"),
    ]
    await log.apply([])


async def apply_is_all_or_nothing(log: BatchCallLog) -> None:
    await log.save(new_call("a"))
    with pytest.raises(UnknownCallError, match="never-saved"):
        await log.apply(
            [
                new_call("b"),
                CallEvent("a", T0, "answered", key="s:2"),
                dataclasses.replace(new_call("a"), caller_name="changed"),
                CallEvent("never-saved", T0, "answered", key="s:4"),
            ]
        )
    assert await log.get("b") is None
    assert await log.get("a") == new_call("a")
    assert await log.events("a") == []
    # The keys of the rolled back events are free again.
    await log.apply([CallEvent("a", T0, "answered", key="s:2")])
    assert [e.key for e in await log.events("a")] == ["s:2"]


async def applying_the_same_writes_again_changes_nothing(log: BatchCallLog) -> None:
    """What a replay after a crash does: the same journal entries, once more."""
    call = closed_hours_call()
    writes: list[Write] = [
        call,
        CallEvent(call.call_id, T0, "answered", key="s:2"),
        CallEvent(call.call_id, T0, "recording", {"name": "vm-1"}, key="s:3"),
    ]
    await log.apply(writes)
    first = await log.events(call.call_id)
    await log.apply(writes)
    await log.apply(writes[1:])
    assert await log.events(call.call_id) == first
    assert await log.list_calls() == [call]


async def apply_opens_cases_once_and_all_or_nothing(log: BatchCallLog) -> None:
    """A desk's flag in the spool's batches: after its call's save, replayed, rolled back."""
    call = new_call()
    flag = desk_flag(call.call_id)
    writes: list[Write] = [call, flag, dataclasses.replace(flag, key="s:3", history=())]
    await log.apply(writes)
    await log.apply(writes)  # a replay
    cases = await log.cases_for_call(call.call_id)
    assert [c.key for c in cases] == [flag.key, "s:3"]
    assert cases[1].id is not None
    second = await log.get_case(cases[1].id)
    assert second is not None
    assert second.history == (CaseChange(flag.opened_at, "desk 1101", CaseStatus.RECEIVED),)

    with pytest.raises(UnknownCallError, match="never-saved"):
        await log.apply([
            new_call("b"), desk_flag("b"), desk_flag("never-saved"),
        ])
    assert await log.get("b") is None
    assert await log.cases_for_call("b") == []
    await log.apply([new_call("b"), desk_flag("b")])  # the key is free again
    assert [c.key for c in await log.cases_for_call("b")] == ["desk-flag:b"]


async def a_keyed_reload_is_recorded_once(log: BatchCallLog) -> None:
    """A replay of the spool's journal: the same reload (same key) again, in a batch."""
    reload = ConfigReload(at=T0, file="config/hotline.yaml", sha256="a" * 64,
                          status="applied", key="s:1")
    await log.apply([reload])
    await log.apply([reload, dataclasses.replace(reload, key="s:2", sha256="b" * 64)])
    await log.apply([reload])
    reloads = await log.list_reloads()
    assert [(r.sha256, r.key) for r in reloads] == [("a" * 64, "s:1"), ("b" * 64, "s:2")]


BATCH_SCENARIOS: tuple[BatchScenario, ...] = (
    apply_writes_saves_and_events_in_order,
    apply_is_all_or_nothing,
    applying_the_same_writes_again_changes_nothing,
    apply_opens_cases_once_and_all_or_nothing,
    a_keyed_reload_is_recorded_once,
)
