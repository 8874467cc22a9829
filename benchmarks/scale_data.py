"""A generated year of calls for `benchmarks.console_scale`: rows made by the synthetic
month's generator (`scripts/synthetic_month.py`: the same calls, outcomes, call backs and
cases, at `per_day` calls every day), with a timeline of events per call, written in
bulk: `executemany` in one transaction on SQLite, `COPY` on PostgreSQL.

The schema comes from the migrations (`upgrade_async`), so the indexes measured are the
ones a real database has. Cases get a code and a deadline five days after opening
(calendar days: the benchmark does not need the YAML's working days).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from calllog.model import Callback, CallRecord, CaseStatus, Outcome
from calllog.tables import CallRow
from routing.config import HotlineConfig
from scripts.synthetic_month import (
    CASE_SHARE,
    WORKDAY_HOURS,
    _call,
    _case,
    _maybe_called_back,
)

CALL_COLUMNS = tuple(c.name for c in CallRow.__table__.columns)
EVENT_COLUMNS = ("call_id", "at", "kind", "detail")
CASE_COLUMNS = ("id", "call_id", "recording", "category", "status", "agency", "opened_at",
                "opened_by", "code", "due_at", "key")
CHANGE_COLUMNS = ("case_id", "at", "by", "status", "agency", "note")
CASE_DEADLINE = timedelta(days=5)
BATCH_DAYS = 7


@dataclass
class Batch:
    """A few days of rows, each a dict of column values (Python values, aware UTC)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Counter:
    calls: int = 0
    events: int = 0
    cases: int = 0
    changes: int = 0
    codes: dict[int, int] = field(default_factory=dict)

    def add(self, batch: Batch) -> None:
        self.calls += len(batch.calls)
        self.events += len(batch.events)
        self.cases += len(batch.cases)
        self.changes += len(batch.changes)


def generate(
    config: HotlineConfig, first: date, days: int, per_day: int, seed: int
) -> Iterator[Batch]:
    """The period's rows, `BATCH_DAYS` days at a time, in time order."""
    rng = random.Random(seed)
    zone = ZoneInfo(config.hours.timezone)
    end = datetime.combine(first + timedelta(days=days), time(), zone)
    hours, weights = list(WORKDAY_HOURS), list(WORKDAY_HOURS.values())
    serial, case_id = 0, 0
    codes: dict[int, int] = {}
    for week in range(0, days, BATCH_DAYS):
        batch = Batch()
        for offset in range(week, min(days, week + BATCH_DAYS)):
            day = first + timedelta(days=offset)
            starts = sorted(
                datetime.combine(day, time(h, rng.randrange(60), rng.randrange(60)), zone)
                for h in rng.choices(hours, weights=weights, k=per_day))
            for start in starts:
                serial += 1
                call = _call(rng, config, start, serial)
                _maybe_called_back(rng, call, end)
                batch.calls.append(_call_row(call))
                batch.events += _timeline(call)
                if call.outcome == Outcome.CONNECTED and rng.random() < CASE_SHARE:
                    case_id += 1
                    _add_case(batch, _case(rng, config, call), case_id, codes, zone)
        yield batch


def _call_row(call: CallRecord) -> dict[str, Any]:
    row = {name: getattr(call, name, None) for name in CALL_COLUMNS}
    row["callback_attempts"] = 0
    if call.callback == Callback.DONE:
        row.update(callback_by="Tổ vận hành", callback_result="reached", callback_attempts=1,
                   callback_last_at=call.callback_done_at)
    return row


def _timeline(call: CallRecord) -> list[dict[str, Any]]:
    """What the call flow notes for such a call: answered, greeting, digit, branch, desk
    dialled and its result or the bridge, message, survey, end."""
    start, cid = call.started_at, call.call_id
    events = [(start + timedelta(seconds=1), "answered", {}),
              (start + timedelta(seconds=1), "prompt", {"playback": f"{cid}-p1",
                                                       "prompt": "greeting"})]
    if call.branch_key is not None:
        at = start + timedelta(seconds=9)
        events += [(at, "prompt_end", {"playback": f"{cid}-p1", "reason": "digit"}),
                   (at, "digit", {"digit": str(call.branch_key), "attempt": 1}),
                   (at, "branch", {"key": call.branch_key, "agency": call.agency}),
                   (at, "desk_dial", {"desk": (call.desk_dialled or "").split(",")[0],
                                      "channel": f"{cid}-d1", "timeout": 20})]
        if call.bridged_at is not None:
            events.append((call.bridged_at, "bridged", {"desk": call.desk_answered,
                                                        "bridge": f"{cid}-b"}))
        elif call.outcome == Outcome.DESK_UNREACHABLE:
            events.append((at, "desk_result", {"desk": call.desk_dialled,
                                               "dialstatus": "NOANSWER", "cause": 19}))
    if call.recording:
        events.append((call.ended_at or start, "recorded",
                       {"name": call.recording, "seconds": call.recording_seconds}))
    if call.survey is not None:
        events.append((call.ended_at or start, "survey", {"result": call.survey.value}))
    outcome = call.outcome.value if call.outcome else None
    events.append((call.ended_at or start, "ended", {"outcome": outcome}))
    return [{"call_id": cid, "at": at, "kind": kind, "detail": detail}
            for at, kind, detail in events]


def _add_case(batch: Batch, synthetic: Any, case_id: int, codes: dict[int, int],
              zone: ZoneInfo) -> None:
    case, steps = synthetic.case, synthetic.steps
    year = case.opened_at.astimezone(zone).year
    codes[year] = codes.get(year, 0) + 1
    status = steps[-1].status if steps else CaseStatus.RECEIVED
    batch.cases.append({
        "id": case_id, "call_id": case.call_id, "recording": None, "category": case.category,
        "status": status, "agency": case.agency, "opened_at": case.opened_at,
        "opened_by": case.opened_by, "code": f"PA-{year}-{codes[year]:05d}",
        "due_at": case.opened_at + CASE_DEADLINE, "key": case.key})
    batch.changes.append({"case_id": case_id, "at": case.opened_at, "by": case.opened_by,
                          "status": CaseStatus.RECEIVED, "agency": case.agency, "note": ""})
    batch.changes += [{"case_id": case_id, "at": s.at, "by": "Tổ vận hành", "status": s.status,
                       "agency": s.agency, "note": s.note} for s in steps]


# --- writing ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _sqlite_value(value: Any) -> Any:
    """As SQLAlchemy stores it on SQLite: naive UTC text, enums by value, JSON as text."""
    value = _plain(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _pg_value(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _tables(batch: Batch) -> list[tuple[str, tuple[str, ...], list[dict[str, Any]]]]:
    return [("calls", CALL_COLUMNS, batch.calls), ("call_events", EVENT_COLUMNS, batch.events),
            ("cases", CASE_COLUMNS, batch.cases),
            ("case_changes", CHANGE_COLUMNS, batch.changes)]


def write_sqlite(path: str, batches: Iterator[Batch]) -> Counter:
    """Every batch into the (migrated) SQLite file at `path`, one transaction each."""
    counter = Counter()
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        for batch in batches:
            with db:
                for table, columns, rows in _tables(batch):
                    marks = ", ".join("?" for _ in columns)
                    db.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                        [tuple(_sqlite_value(r[c]) for c in columns) for r in rows])
            counter.add(batch)
        with db:
            _write_codes_sqlite(db)
    finally:
        db.close()
    return counter


def _write_codes_sqlite(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO case_codes (year, last) SELECT CAST(substr(code, 4, 4) AS INTEGER),"
               " COUNT(*) FROM cases GROUP BY 1")


async def write_postgres(dsn: str, batches: Iterator[Batch]) -> Counter:
    """Every batch into the (migrated) PostgreSQL database by COPY, then ANALYZE (what
    autovacuum would do soon after such a load)."""
    counter = Counter()
    connection = await asyncpg.connect(dsn)
    try:
        for batch in batches:
            async with connection.transaction():
                for table, columns, rows in _tables(batch):
                    if rows:
                        await connection.copy_records_to_table(
                            table, columns=list(columns),
                            records=[tuple(_pg_value(r[c]) for c in columns) for r in rows])
            counter.add(batch)
        await connection.execute(
            "INSERT INTO case_codes (year, last) SELECT CAST(substr(code, 4, 4) AS INTEGER),"
            " COUNT(*) FROM cases GROUP BY 1")
        await connection.execute(
            "SELECT setval(pg_get_serial_sequence('cases', 'id'), "
            "(SELECT COALESCE(MAX(id), 1) FROM cases))")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return counter
