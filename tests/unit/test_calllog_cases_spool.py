"""Complaint cases through `SpooledCallLog` over the in-memory store: a desk's flag is
journaled like a save (op "open_case"), survives a database outage and a restart, and
is opened once however often it is replayed; the operators' actions go straight to the
store. (The shared case scenarios run through the spool in test_calllog_spool.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import CaseStatus, Write
from calllog.spool import SpooledCallLog
from tests.calllog_contract import FLAG_NOTE, T0, desk_flag, new_call, operator_case
from tests.clock import fixed_now


class OutageStore(InMemoryCallLog):
    """The in-memory store with an outage switch, and one that commits then hangs."""

    def __init__(self) -> None:
        super().__init__()
        self.down: BaseException | None = None
        self.hang_after_commit = False

    async def apply(self, writes: Sequence[Write]) -> None:
        if self.down is not None:
            raise self.down
        await super().apply(writes)
        if self.hang_after_commit:
            await asyncio.Event().wait()


def open_spool(store: OutageStore, directory: Path) -> SpooledCallLog:
    return SpooledCallLog(store, directory, retry_initial=0.005, retry_max=0.02,
                          now=fixed_now)


def journal(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "journal.jsonl").read_text().splitlines()]


async def test_a_flag_is_journaled_as_open_case_while_the_database_is_down(
    tmp_path: Path,
) -> None:
    store = OutageStore()
    store.down = ConnectionRefusedError("down")
    async with open_spool(store, tmp_path) as spool:
        await spool.save(new_call())
        await spool.open_case(desk_flag())
        entry = journal(tmp_path)[1]
        assert entry == {
            "seq": 2,
            "op": "open_case",
            "case": {
                "id": None,
                "call_id": "1741054530.42",
                "category": "Cải cách thủ tục hành chính",
                "opened_at": "2025-03-04T02:16:30.123456+00:00",
                "opened_by": "desk 1101",
                "status": "received",
                "agency": None,
                "recording": None,
                "key": "desk-flag:1741054530.42",
                "history": [{
                    "at": "2025-03-04T02:16:30.123456+00:00",
                    "by": "desk 1101",
                    "status": "received",
                    "agency": None,
                    "note": FLAG_NOTE,
                }],
            },
        }
        assert await store.list_cases() == []
        store.down = None
        assert await spool.flushed(5)
        [case] = await store.list_cases()
        assert case.key == "desk-flag:1741054530.42"


async def test_a_case_without_a_key_gets_the_spools_so_a_replay_opens_it_once(
    tmp_path: Path,
) -> None:
    store = OutageStore()
    store.hang_after_commit = True  # the batch commits; the process dies before the marker
    first = open_spool(store, tmp_path)
    await first.start()
    await first.save(new_call())
    await first.open_case(operator_case())
    await first.open_case(desk_flag())
    assert await first.close(timeout=0.1) is False
    assert [e["case"]["key"] for e in journal(tmp_path)[1:]] == [
        f"{first.spool_id}:2", "desk-flag:1741054530.42"
    ]

    store.hang_after_commit = False
    async with open_spool(store, tmp_path) as second:  # replays the whole journal
        assert await second.flushed(5)
    cases = await store.cases_for_call("1741054530.42")  # in the order opened_at
    assert [c.key for c in cases] == ["desk-flag:1741054530.42", f"{first.spool_id}:2"]
    assert [c.status for c in cases] == [CaseStatus.RECEIVED, CaseStatus.RECEIVED]


async def test_a_flag_for_a_call_unknown_to_spool_and_database_is_refused(
    tmp_path: Path,
) -> None:
    store = OutageStore()
    await store.save(new_call("left-by-a-previous-process"))
    async with open_spool(store, tmp_path) as spool:
        with pytest.raises(UnknownCallError, match="never-saved"):
            await spool.open_case(desk_flag("never-saved"))
        await spool.open_case(desk_flag("left-by-a-previous-process"))
        assert await spool.flushed(5)
        assert spool.rejected == 0
    assert len(await store.cases_for_call("left-by-a-previous-process")) == 1


async def test_operator_actions_do_not_wait_for_the_journal(tmp_path: Path) -> None:
    store = OutageStore()
    await store.save(new_call())
    async with open_spool(store, tmp_path) as spool:
        store.down = ConnectionRefusedError("journal stuck")  # apply() fails, reads work
        created = await spool.create_case(operator_case())
        assert created.id is not None
        changed = await spool.update_case(
            created.id, status="verifying", by="Lan", at=T0, note="xác minh"
        )
        assert changed.status is CaseStatus.VERIFYING
        assert await spool.get_case(created.id) == changed
        assert [c.id for c in await spool.list_cases(status="verifying")] == [created.id]
        assert [c.id for c in await spool.cases_for_call("1741054530.42")] == [created.id]
        assert spool.depth == 0
        store.down = None
