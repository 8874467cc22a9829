"""`InMemoryCallLog`: the call log as dictionaries, a fake for unit tests of the call flow.

Behaves like `CallLogStore` on every point a caller can observe: it keeps copies (a
record changed after `save` is not changed in the log), times come back in UTC,
events need a saved call and get an increasing `seq`.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime

from calllog.errors import UnknownCallError
from calllog.model import (
    FIND_CALL_LIMIT,
    Callback,
    CallEvent,
    CallRecord,
    as_utc,
    check_limit,
    normalised_event,
    normalised_record,
)


class InMemoryCallLog:
    def __init__(self) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._events: dict[str, list[CallEvent]] = {}
        self._seq = itertools.count(1)

    async def save(self, call: CallRecord) -> None:
        self._calls[call.call_id] = normalised_record(call)

    async def append_event(self, event: CallEvent) -> None:
        stored = normalised_event(event)
        if stored.call_id not in self._calls:
            raise UnknownCallError(stored.call_id)
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
        self, *, include_done: bool = False, limit: int = 500
    ) -> list[CallRecord]:
        check_limit(limit)
        wanted = {Callback.PENDING, Callback.DONE} if include_done else {Callback.PENDING}
        calls = [call for call in self._calls.values() if call.callback in wanted]
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
