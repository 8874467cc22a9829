"""Asterisk's own trail of a call (CEL), read back into the call log.

Asterisk writes channel events to an SQLite file (`cel_sqlite3_custom.conf`:
`<astlogdir>/cel.db`, table `cel`) whether or not this service is running. Two
kinds of call are only visible there:

* calls the fallback IVR handled alone while the service was down (`Stasis()`
  failed); the generated dialplan marks its steps with `CELGenUserEvent`
  (`hotline_fallback`, `hotline_branch`, `hotline_message`, ...);
* calls whose row was left open because our process died (SIGKILL) and the call
  ended before it came back: CEL says when and how it ended.

`summarise` is pure: one finished call's CEL rows (one `linkedid`) in, the row
and timeline the call log should hold out. Event keys derive from the CEL row,
so importing the same trail twice changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import sleep
from typing import TypeVar

from calllog.callers import callback_for, stored_caller_number
from calllog.model import CallEvent, CallRecord, Outcome
from routing.config import HotlineConfig
from routing.trail import (
    BRANCH_EVENT,
    CLOSED_EVENT,
    FALLBACK_EVENT,
    MESSAGE_EVENT,
    NO_SELECTION_EVENT,
    UNREACHABLE_EVENT,
    USER_EVENT_PREFIX,
)

ABANDONED_GROUP_AFTER = timedelta(hours=12)
"""A call with no CEL row for this long, and no LINKEDID_END, never ends: Asterisk
crashed or restarted under it. It is logged as ended at its last row (incomplete)."""
BUSY_TIMEOUT = 2.0
"""Seconds SQLite waits for Asterisk's lock on the CEL file, per attempt."""
BUSY_ATTEMPTS = 3
COLUMNS = (
    "AcctId, eventtype, eventtime, cidnum, cidname, context, exten, channame, appname, "
    "uniqueid, linkedid, peer, eventextra"
)
_T = TypeVar("_T")


class CelBusy(Exception):
    """The CEL file stayed locked ("database is locked") through every attempt: try
    again later. Never read as "no rows"."""


@dataclass(frozen=True)
class CelRow:
    id: int
    eventtype: str
    at: datetime
    cidnum: str
    cidname: str
    context: str
    exten: str
    channame: str
    appname: str
    uniqueid: str
    linkedid: str
    peer: str
    extra: dict[str, object]


@dataclass
class CelSummary:
    """What the log should say about one finished call."""

    record: CallRecord
    events: list[CallEvent] = field(default_factory=list)
    fallback: bool = False
    incomplete: bool = False
    """The trail has no LINKEDID_END (Asterisk went away under the call)."""


def read_cel(
    path: Path, after_id: int, limit: int = 5000, *, timeout: float = BUSY_TIMEOUT,
) -> list[CelRow]:
    """At most `limit` CEL rows with id > `after_id`, oldest first (blocking: run it in
    a thread). No file or no table yet: no rows. A locked file: `CelBusy`."""
    if not path.is_file():
        return []

    def query(db: sqlite3.Connection) -> list[tuple[object, ...]]:
        return db.execute(
            f"SELECT {COLUMNS} FROM cel WHERE AcctId > ? ORDER BY AcctId LIMIT ?",
            (after_id, limit),
        ).fetchall()

    no_rows: list[tuple[object, ...]] = []
    return [_row(r) for r in _retrying_busy(path, query, no_rows, timeout)]


def cel_last_id(path: Path, *, timeout: float = BUSY_TIMEOUT) -> int:
    """The newest CEL row id: 0 when there is none yet (no file, no table, no row).
    A locked file is `CelBusy`, not 0 (0 would make the import read it all again)."""
    if not path.is_file():
        return 0

    def query(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT coalesce(max(AcctId), 0) FROM cel").fetchone()[0])

    return _retrying_busy(path, query, 0, timeout)


def _retrying_busy(
    path: Path, query: Callable[[sqlite3.Connection], _T], no_table: _T, timeout: float,
) -> _T:
    """`query` on the file read-only; only "no such table" means an empty trail (the
    table is Asterisk's to create); "locked" or "busy" is tried again, then `CelBusy`."""
    for attempt in range(BUSY_ATTEMPTS):
        db = _connect_read_only(path, timeout)
        try:
            return query(db)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return no_table
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == BUSY_ATTEMPTS - 1:
                raise CelBusy(f"{path}: {exc}") from exc
        finally:
            db.close()
        sleep(timeout * (attempt + 1))  # in the reading thread, never on the loop
    raise AssertionError("unreachable")


def use_wal(path: Path) -> bool:
    """Put the CEL file in write-ahead-log mode (it stays so); True when it is.

    Asterisk commits every CEL event on its own. In SQLite's default rollback
    journal mode each commit creates, syncs and deletes a journal file, and our
    reading of the file blocks Asterisk's commits: under a burst of calls
    Asterisk's CEL queue backed up past its high water mark, which makes its SIP
    stack drop new requests. In WAL mode a commit is one append and readers do
    not block the writer. Blocking: run it in a thread."""
    db = sqlite3.connect(path, timeout=2)
    try:
        return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal"
    except sqlite3.OperationalError:
        return False  # busy or read-only: the next start tries again
    finally:
        db.close()


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    # as_uri() escapes "#", "%" and "?" so they stay part of the path.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)


def _row(r: tuple[object, ...]) -> CelRow:
    extra: dict[str, object] = {}
    eventtype = str(r[1])
    # Only these rows' extra is read (parsing every BRIDGE_ENTER's costs a re-read).
    wanted = eventtype == "HANGUP" or eventtype.startswith(USER_EVENT_PREFIX)
    if wanted and isinstance(r[12], str) and r[12].startswith("{"):
        try:
            extra = dict(json.loads(r[12]))
        except (ValueError, TypeError):
            extra = {}
    return CelRow(
        id=int(str(r[0])), eventtype=eventtype,
        at=datetime.fromtimestamp(float(str(r[2])), UTC),
        cidnum=str(r[3] or ""), cidname=str(r[4] or ""), context=str(r[5] or ""),
        exten=str(r[6] or ""), channame=str(r[7] or ""), appname=str(r[8] or ""),
        uniqueid=str(r[9] or ""), linkedid=str(r[10] or ""), peer=str(r[11] or ""),
        extra=extra,
    )


def finished_calls(
    rows: Iterable[CelRow], *, now: datetime
) -> tuple[dict[str, list[CelRow]], int | None]:
    """Group rows by call (`linkedid`): the calls that ended (see `split_calls`), and
    the id of the first row of the oldest call still going (reading must start there
    next time), or None when every call seen has ended."""
    done, going = split_calls(rows, now=now)
    return done, first_row(going)


def split_calls(
    rows: Iterable[CelRow], *, now: datetime, at_end: bool = True,
) -> tuple[dict[str, list[CelRow]], list[list[CelRow]]]:
    """`rows` (oldest first) by call (`linkedid`): the calls that ended, and the rows
    of each call still going, oldest call first.

    A call ended with its LINKEDID_END, or never will (Asterisk crashed or restarted
    under it): no row of it for `ABANDONED_GROUP_AFTER` before a later row of the
    trail, or before `now` once the trail is read to its end (`at_end`). Measured
    against the trail, a file read again from days back does not take a call whose
    end is on the next page for one that never ended."""
    groups: dict[str, list[CelRow]] = {}
    newest: datetime | None = None
    for row in rows:
        groups.setdefault(row.linkedid, []).append(row)
        newest = row.at
    done: dict[str, list[CelRow]] = {}
    going: list[list[CelRow]] = []
    for linkedid, group in groups.items():
        last = group[-1].at
        if (any(r.eventtype == "LINKEDID_END" for r in group)
                or (newest is not None and newest - last >= ABANDONED_GROUP_AFTER)
                or (at_end and now - last >= ABANDONED_GROUP_AFTER)):
            done[linkedid] = group
        else:
            going.append(group)
    return done, sorted(going, key=lambda g: g[0].id)


def first_row(going: list[list[CelRow]]) -> int | None:
    """The id of the first row of the oldest call in `going` (None: there is none)."""
    return going[0][0].id if going else None


@dataclass
class CelPage:
    """One page of the trail read (`read_page`): what the import does with it."""

    rows: int
    """Rows read from the file (at most the page size)."""
    last_id: int | None
    """The id of the last row read (None: nothing new)."""
    ended: list[tuple[str, list[CelRow]]]
    """The calls that ended (with the rows carried in), oldest first."""
    going: list[CelRow]
    """The rows of calls still going: carried to the next page."""
    resume_at: int | None
    """The first row of the oldest call still going (a restart reads from there)."""


def read_page(
    path: Path, after_id: int, *, page: int, carried: list[CelRow], now: datetime,
) -> CelPage:
    """The next page of the trail, grouped by call with the rows carried from the
    pages before (blocking: run it in a thread; the loop only awaits it)."""
    new = read_cel(path, after_id, page)
    rows = carried + new if carried else new
    done, going = split_calls(rows, now=now, at_end=len(new) < page)
    ended = sorted(done.items(), key=lambda kv: kv[1][0].id)
    return CelPage(
        rows=len(new), last_id=new[-1].id if new else None, ended=ended,
        going=sorted((r for call in going for r in call), key=lambda r: r.id),
        resume_at=first_row(going),
    )


def is_fallback_call(rows: list[CelRow]) -> bool:
    """Whether the fallback dialplan served (part of) this call."""
    return any(r.eventtype == FALLBACK_EVENT for r in rows)


def summarise(rows: list[CelRow], config: HotlineConfig) -> CelSummary | None:
    """The call log's view of one call that ended (`split_calls`), or None when the
    trail lacks the start of its first channel. Calls that never reached the hotline
    (desk to desk) come back with `fallback=False`, and `CallTrail` leaves them alone.
    A trail without LINKEDID_END is `incomplete`: the call ended at its last row."""
    linkedid = rows[0].linkedid
    caller = [r for r in rows if r.uniqueid == linkedid]
    start = next((r for r in caller if r.eventtype == "CHAN_START"), None)
    if start is None:
        return None
    user = {r.eventtype: r for r in caller if r.eventtype.startswith(USER_EVENT_PREFIX)}
    hangup = next((r for r in caller if r.eventtype == "HANGUP"), None)
    linked_end = next((r for r in rows if r.eventtype == "LINKEDID_END"), None)
    end = hangup or linked_end or rows[-1]
    record = CallRecord(
        call_id=linkedid, caller_number=stored_caller_number(start.cidnum),
        caller_name=start.cidname,
        started_at=start.at, ended_at=end.at,
    )
    events: list[CallEvent] = []

    def note(row: CelRow, kind: str, event_key: str | None = None,
             **detail: str | int | None) -> None:
        """One event, keyed by its CEL row (or `event_key`): imported twice, written once."""
        events.append(CallEvent(call_id=linkedid, at=row.at, kind=kind,
                                detail={"source": "cel", **detail},
                                key=f"cel:{linkedid}:{event_key or row.id}"))

    answered = next((r for r in caller if r.eventtype == "ANSWER"), None)
    if answered is not None:
        record.answered_at = answered.at
        note(answered, "answered")
    if FALLBACK_EVENT in user:
        note(user[FALLBACK_EVENT], "fallback")
    if (branch_row := user.get(BRANCH_EVENT)) is not None:
        key = _int(branch_row.extra.get("extra"))
        branch = config.branch(key) if key is not None else None
        record.branch_key = key
        if branch is not None:
            record.branch_name, record.agency = branch.name, branch.agency
            record.desk_dialled = ",".join(branch.desks)
        note(branch_row, "branch", key=key)
    desk = next(
        (r for r in rows if r.uniqueid != linkedid and r.eventtype == "BRIDGE_ENTER"), None
    )
    if desk is not None:
        record.desk_answered = extension_of(desk.channame)
        record.bridged_at = desk.at
        note(desk, "bridged", desk=record.desk_answered)
    if (message := user.get(MESSAGE_EVENT)) is not None:
        record.recording = str(message.extra.get("extra") or "") or None
        record.callback = callback_for(record.caller_number)
        note(message, "recording", name=record.recording)
    if hangup is not None:
        cause = _int(hangup.extra.get("hangupcause"))
        source = str(hangup.extra.get("hangupsource") or "")
        record.hangup_cause = cause
        record.hangup_by = (
            "caller" if source == start.channame
            else "desk" if source and desk is not None and source == desk.channame
            else "system"
        )
        note(hangup, "ended", cause=cause, by=record.hangup_by)
    record.outcome = _outcome(record, user)
    if linked_end is None:
        # Asterisk went away under the call: when and how it ended is not known.
        record.hangup_by = record.hangup_by or "system"
        if hangup is None and record.outcome in (Outcome.ABANDONED_IN_MENU,
                                                 Outcome.ABANDONED_WHILE_RINGING):
            record.outcome = Outcome.FAILED  # the caller did not give up: it was cut off
        note(rows[-1], "cel_incomplete", event_key="incomplete", last=rows[-1].eventtype)
    if record.outcome in (Outcome.CLOSED, Outcome.DESK_UNREACHABLE, Outcome.FAILED):
        # As the service does: not served, owed a call back if there is a number.
        record.callback = callback_for(record.caller_number)
    station = config.station(record.caller_number)
    record.caller_agency = station.agency if station else None
    return CelSummary(record=record, events=events, fallback=FALLBACK_EVENT in user,
                      incomplete=linked_end is None)


def _outcome(record: CallRecord, user: dict[str, CelRow]) -> Outcome:
    if record.bridged_at is not None:
        return Outcome.CONNECTED
    if CLOSED_EVENT in user:
        return Outcome.CLOSED
    if UNREACHABLE_EVENT in user or MESSAGE_EVENT in user:
        return Outcome.DESK_UNREACHABLE
    if NO_SELECTION_EVENT in user:
        return Outcome.NO_SELECTION
    if record.branch_key is not None:
        return Outcome.ABANDONED_WHILE_RINGING
    return Outcome.ABANDONED_IN_MENU


def extension_of(channame: str) -> str:
    """"PJSIP/1201-00000001" -> "1201"."""
    return channame.partition("/")[2].rpartition("-")[0] or channame


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
