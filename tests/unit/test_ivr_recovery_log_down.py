"""`recover` while the call log cannot be read (the database is down, or the journal of
the previous process is not replayed yet): the callers Asterisk holds are served at
once, and what needs the log (adopting a bridged call with its row, watching rows left
open) waits until the log can be read, however long that takes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from calllog.memory import InMemoryCallLog
from calllog.model import CallRecord, Outcome
from ivr.recovery import recover
from tests.clock import FakeClock
from tests.unit.test_ivr_recovery import (
    APP,
    BRIDGE,
    CALLER,
    DESK,
    FALLBACK,
    NOW,
    Restart,
    caller,
    desk_leg,
    open_row,
    restart,
)


class LogDown(InMemoryCallLog):
    """The call log's database: unreachable until `up` is called (writes journaled by
    the spool are not this fake's concern: they go through `save` as usual)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.failed_reads = 0
        self.came_up = asyncio.Event()

    def up(self) -> None:
        self.down = False
        self.came_up.set()

    def _check(self) -> None:
        if self.down:
            self.failed_reads += 1
            raise ConnectionRefusedError("database unreachable")

    async def list_calls(
        self, *, since: datetime | None = None, until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        self._check()
        return await super().list_calls(since=since, until=until, limit=limit)

    async def get(self, call_id: str) -> CallRecord | None:
        self._check()
        return await super().get(call_id)


async def recovering(r: Restart, *, delays: Iterable[float] = itertools.repeat(0.001),
                     log_ready: object = None) -> asyncio.Task[None]:
    """`recover` started in the background, as the service starts it."""
    kwargs: dict[str, object] = {} if log_ready is None else {"log_ready": log_ready}
    task = asyncio.create_task(recover(
        ari=r.ari,  # type: ignore[arg-type]  # a typed fake (test_ivr_recovery)
        calllog=r.calllog, app_name=APP, hooks=r.hooks, trail=r.trail,
        fallback_context=FALLBACK, clock=FakeClock(NOW, running=False),
        retry_delays=delays, **kwargs,  # type: ignore[arg-type]
    ))
    await asyncio.sleep(0.05)  # a few rounds of retries
    return task


async def saved_while_up(calllog: LogDown, record: CallRecord) -> None:
    calllog.down = False
    await calllog.save(record)
    calllog.down = True


async def test_bridged_call_is_adopted_with_its_row_once_the_log_can_be_read(
    tmp_path: Path,
) -> None:
    log = LogDown()
    r = restart(tmp_path, calllog=log)
    row = open_row(bridged=True)
    await saved_while_up(log, row)
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    with capture_logs() as logs:
        task = await recovering(r)
        assert r.hooks.adopted == []  # not with a blank record: it would blank the row
        assert log.failed_reads > 1  # tried again, and again
        assert not r.trail.recovered.is_set()  # the CEL import waits too
        log.up()
        await asyncio.wait_for(task, 5)

    (adoption,) = r.hooks.adopted
    assert adoption.record == row  # branch, agency, desk, answer time: all kept
    assert (adoption.desk_channel.id, adoption.bridge_id) == (DESK, BRIDGE)
    assert r.ari.changes() == []  # caller and desk talked on throughout
    assert r.trail.recovered.is_set()
    assert "call log unreadable during recovery; retrying" in [e["event"] for e in logs]


async def test_waiting_caller_is_sent_to_the_fallback_without_waiting_for_the_log(
    tmp_path: Path,
) -> None:
    log = LogDown()
    r = restart(tmp_path, calllog=log)
    await saved_while_up(log, open_row())
    r.ari.has(caller())

    with capture_logs():
        task = await recovering(r)
        assert r.ari.changes() == [("continue_in_dialplan", f"{CALLER} {FALLBACK},s,1")]
        assert r.trail.watched == {CALLER}
        log.up()
        await asyncio.wait_for(task, 5)

    events = await log.events(CALLER)
    assert [(e.kind, e.detail, e.at) for e in events] == [
        ("to_fallback", {"reason": "service restarted"}, NOW)]


async def test_bridge_left_half_empty_while_the_log_is_down_is_ended_at_once(
    tmp_path: Path,
) -> None:
    log = LogDown()
    r = restart(tmp_path, calllog=log)
    await saved_while_up(log, open_row(bridged=True))
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    with capture_logs():
        task = await recovering(r)
        del r.ari.channels[DESK]  # the desk hangs up: the caller must not sit in silence
        r.ari.bridges[BRIDGE].remove(DESK)
        await asyncio.sleep(0.05)
        assert r.ari.changes() == [("hangup", CALLER), ("destroy_bridge", BRIDGE)]
        log.up()
        await asyncio.wait_for(task, 5)

    assert r.hooks.adopted == []
    assert r.trail.watched == {CALLER}


async def test_rows_of_calls_that_ended_while_the_log_was_down_are_watched(
    tmp_path: Path,
) -> None:
    log = LogDown()
    r = restart(tmp_path, calllog=log)
    await saved_while_up(log, open_row(bridged=True))  # ended while nobody watched

    with capture_logs():
        task = await recovering(r)
        assert r.trail.watched == set()
        log.up()
        await asyncio.wait_for(task, 5)

    assert r.trail.watched == {CALLER}


async def test_recovery_waits_until_the_journal_is_replayed_before_reading_rows(
    tmp_path: Path,
) -> None:
    """The database answers, but the previous process's last writes are still in the
    journal: the row read now would be stale."""
    r = restart(tmp_path)
    row = open_row(bridged=True)
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]
    replayed = asyncio.Event()

    async def journal_replayed() -> bool:
        return replayed.is_set()

    with capture_logs():
        task = await recovering(r, log_ready=journal_replayed)
        assert r.hooks.adopted == []
        await r.calllog.save(row)  # the journal reaches the database
        replayed.set()
        await asyncio.wait_for(task, 5)

    (adoption,) = r.hooks.adopted
    assert adoption.record == row


async def test_adopted_call_keeps_every_field_of_its_row_and_fills_only_the_gaps(
    tmp_path: Path,
) -> None:
    """The previous process died between bridging and saving the bridge."""
    r = restart(tmp_path)
    row = open_row(bridged=True)
    row.bridged_at = row.outcome = row.desk_answered = None
    await r.calllog.save(row)
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    await r.recover()

    (adoption,) = r.hooks.adopted
    record = adoption.record
    assert (record.branch_key, record.branch_name, record.desk_dialled) == (
        row.branch_key, row.branch_name, row.desk_dialled)
    assert (record.started_at, record.answered_at) == (row.started_at, row.answered_at)
    assert (record.desk_answered, record.bridged_at, record.outcome) == (
        "1401", NOW, Outcome.CONNECTED)


async def test_adopted_call_found_only_past_the_lookback_keeps_its_row(
    tmp_path: Path,
) -> None:
    r = restart(tmp_path)
    row = open_row(bridged=True, started_at=NOW - timedelta(days=3))  # a very long call
    await r.calllog.save(row)
    r.ari.has(caller(), desk_leg())
    r.ari.bridges[BRIDGE] = [CALLER, DESK]

    await r.recover()

    (adoption,) = r.hooks.adopted
    assert adoption.record == row
