"""`InMemoryCallLog`: the call log as dictionaries, a fake for unit tests of the call flow.

Behaves like `CallLogStore` on every point a caller can observe: it keeps copies (a
record changed after `save` is not changed in the log), times come back in UTC,
events need a saved call and get an increasing `seq`, a keyed event is appended once,
a call back marked done survives later saves, and `apply` is all or nothing. Cases
are numbered from 1, opened once per key, and follow the same workflow checks (there
is nothing to race with here: a change is checked and applied without awaiting).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime

from calllog.cases import (
    CASE_LIST_LIMIT,
    UnknownCaseError,
    check_case_change,
    checked_update_args,
)
from calllog.errors import UnknownCallError
from calllog.model import (
    FIND_CALL_LIMIT,
    Callback,
    CallEvent,
    CallRecord,
    Case,
    CaseChange,
    CaseStatus,
    CloseIfOpen,
    ConfigReload,
    Write,
    as_utc,
    check_limit,
    check_offset,
    close_queue,
    normalised_case,
    normalised_event,
    normalised_record,
    normalised_write,
    parse_case_status,
)


class InMemoryCallLog:
    def __init__(self) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._events: dict[str, list[CallEvent]] = {}
        self._keys: set[str] = set()
        self._reloads: list[ConfigReload] = []
        self._seq = itertools.count(1)
        self._cases: dict[int, Case] = {}
        """Frozen dataclasses, history a tuple: safe to hand out as they are."""
        self._case_keys: dict[str, int] = {}
        self._case_ids = itertools.count(1)

    async def save(self, call: CallRecord) -> None:
        self._save(normalised_record(call))

    async def append_event(self, event: CallEvent) -> None:
        self._append(normalised_event(event))

    async def close_if_open(self, call: CallRecord) -> None:
        self._close_if_open(normalised_record(call))

    async def record_reload(self, reload: ConfigReload) -> None:
        await self.apply([reload])

    async def list_reloads(self, *, limit: int = 100) -> list[ConfigReload]:
        check_limit(limit)
        return list(self._reloads[-limit:]) if limit else []

    async def apply(self, writes: Sequence[Write]) -> None:
        normalised = [normalised_write(w) for w in writes]
        calls, keys, reloads = dict(self._calls), set(self._keys), list(self._reloads)
        events = {call_id: list(timeline) for call_id, timeline in self._events.items()}
        cases, case_keys = dict(self._cases), dict(self._case_keys)
        try:
            for write in normalised:
                if isinstance(write, CallRecord):
                    self._save(write)
                elif isinstance(write, CloseIfOpen):
                    self._close_if_open(write.call)
                elif isinstance(write, CallEvent):
                    self._append(write)
                elif isinstance(write, Case):
                    self._open_case(write)
                elif write.key is None or all(r.key != write.key for r in self._reloads):
                    self._reloads.append(write)
        except BaseException:  # a transaction rolls back
            self._calls, self._events, self._keys = calls, events, keys
            self._reloads = reloads
            self._cases, self._case_keys = cases, case_keys
            raise

    def _close_if_open(self, call: CallRecord) -> None:
        existing = self._calls.get(call.call_id)
        if existing is None:
            self._save(call)
        elif existing.ended_at is None:
            self._save(close_queue(existing, call))

    def _save(self, call: CallRecord) -> None:
        existing = self._calls.get(call.call_id)
        if existing is not None and existing.callback == Callback.DONE:
            call = dataclasses.replace(
                call,
                callback=existing.callback,
                callback_done_at=existing.callback_done_at,
                callback_note=existing.callback_note,
            )
        self._calls[call.call_id] = call

    def _append(self, stored: CallEvent) -> None:
        if stored.call_id not in self._calls:
            raise UnknownCallError(stored.call_id)
        if stored.key is not None:
            if stored.key in self._keys:
                return
            self._keys.add(stored.key)
        stored.seq = next(self._seq)
        self._events.setdefault(stored.call_id, []).append(stored)

    async def get(self, call_id: str) -> CallRecord | None:
        call = self._calls.get(call_id)
        return None if call is None else dataclasses.replace(call)

    async def events(self, call_id: str) -> list[CallEvent]:
        return [
            dataclasses.replace(event, detail=dict(event.detail))
            for event in self._events.get(call_id, [])
        ]

    async def count_calls_from(self, number: str, *, since: datetime, excluding: str) -> int:
        since = as_utc(since, "since")
        return sum(1 for c in self._calls.values()
                   if c.caller_number == number and c.started_at >= since
                   and c.call_id != excluding)

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        check_limit(limit)
        since = None if since is None else as_utc(since, "since")
        until = None if until is None else as_utc(until, "until")
        calls = [
            call
            for call in self._calls.values()
            if (since is None or call.started_at >= since)
            and (until is None or call.started_at < until)
        ]
        calls.sort(key=lambda call: (call.started_at, call.call_id), reverse=True)
        return [dataclasses.replace(call) for call in calls[:limit]]

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500, offset: int = 0
    ) -> list[CallRecord]:
        check_limit(limit)
        check_offset(offset)
        calls = self._callbacks(include_done)
        calls.sort(
            key=lambda call: (call.callback != Callback.PENDING, call.started_at, call.call_id)
        )
        return [dataclasses.replace(call) for call in calls[offset:offset + limit]]

    async def count_callbacks(self, *, include_done: bool = False) -> int:
        return len(self._callbacks(include_done))

    def _callbacks(self, include_done: bool) -> list[CallRecord]:
        wanted = {Callback.PENDING, Callback.DONE} if include_done else {Callback.PENDING}
        return [call for call in self._calls.values() if call.callback in wanted]

    async def pending_callbacks_matching(
        self, prefix: str, *, limit: int = FIND_CALL_LIMIT
    ) -> list[CallRecord]:
        check_limit(limit)
        calls = [
            call for call in self._callbacks(include_done=False)
            if call.call_id.startswith(prefix)
        ]
        calls.sort(key=lambda call: (call.started_at, call.call_id))
        return [dataclasses.replace(call) for call in calls[:limit]]

    async def mark_callback_done(
        self, call_id: str, *, at: datetime, note: str | None = None
    ) -> bool:
        at = as_utc(at, "at")
        call = self._calls.get(call_id)
        if call is None or call.callback != Callback.PENDING:
            return False
        self._calls[call_id] = dataclasses.replace(
            call, callback=Callback.DONE, callback_done_at=at, callback_note=note
        )
        return True

    async def find_call(self, prefix: str) -> list[CallRecord]:
        calls = [call for call in self._calls.values() if call.call_id.startswith(prefix)]
        calls.sort(key=lambda call: (call.started_at, call.call_id), reverse=True)
        return [dataclasses.replace(call) for call in calls[:FIND_CALL_LIMIT]]

    # --- complaint cases ------------------------------------------------------------

    async def open_case(self, case: Case) -> None:
        await self.apply([case])

    async def create_case(self, case: Case) -> Case:
        return self._cases[self._open_case(normalised_case(case))]

    def _open_case(self, case: Case) -> int:
        """Store a normalised case: its new id, or the id of the case with its key."""
        if case.call_id is not None and case.call_id not in self._calls:
            raise UnknownCallError(case.call_id)
        if case.key is not None and case.key in self._case_keys:
            return self._case_keys[case.key]
        case_id = next(self._case_ids)
        self._cases[case_id] = dataclasses.replace(case, id=case_id)
        if case.key is not None:
            self._case_keys[case.key] = case_id
        return case_id

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
        at, _ = checked_update_args(at, by, status)
        case = self._cases.get(case_id)
        if case is None:
            raise UnknownCaseError(case_id)
        new = check_case_change(
            case_id, case.status, case.agency, status=status, agency=agency, note=note
        )
        agency = case.agency if agency is None else agency
        change = CaseChange(at=at, by=by, status=new, agency=agency, note=note)
        case = dataclasses.replace(
            case, status=new, agency=agency, history=(*case.history, change)
        )
        self._cases[case_id] = case
        return case

    async def get_case(self, case_id: int) -> Case | None:
        return self._cases.get(case_id)

    async def list_cases(
        self,
        *,
        status: CaseStatus | str | None = None,
        agency: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = CASE_LIST_LIMIT,
    ) -> list[Case]:
        check_limit(limit)
        wanted = None if status is None else parse_case_status(status)
        since = None if since is None else as_utc(since, "since")
        until = None if until is None else as_utc(until, "until")
        cases = [
            case
            for case in self._cases.values()
            if (wanted is None or case.status is wanted)
            and (agency is None or case.agency == agency)
            and (category is None or case.category == category)
            and (since is None or case.opened_at >= since)
            and (until is None or case.opened_at < until)
        ]
        cases.sort(key=lambda case: (case.opened_at, case.id or 0), reverse=True)
        return [dataclasses.replace(case, history=()) for case in cases[:limit]]

    async def cases_for_call(self, call_id: str) -> list[Case]:
        cases = [case for case in self._cases.values() if case.call_id == call_id]
        cases.sort(key=lambda case: (case.opened_at, case.id or 0))
        return [dataclasses.replace(case, history=()) for case in cases]
