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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calllog.model import Callback, CallEvent, CallRecord, Outcome
from routing.config import HotlineConfig

ABANDONED_GROUP_AFTER = timedelta(hours=12)
COLUMNS = (
    "AcctId, eventtype, eventtime, cidnum, cidname, context, exten, channame, appname, "
    "uniqueid, linkedid, peer, eventextra"
)


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


def read_cel(path: Path, after_id: int, limit: int = 5000) -> list[CelRow]:
    """CEL rows with id > `after_id`, oldest first (blocking: run it in a thread)."""
    if not path.is_file():
        return []
    db = _connect_read_only(path)
    try:
        rows = db.execute(
            f"SELECT {COLUMNS} FROM cel WHERE AcctId > ? ORDER BY AcctId LIMIT ?",
            (after_id, limit),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()
    return [_row(r) for r in rows]


def read_cel_after(path: Path, after_id: int, page: int = 5000) -> list[CelRow]:
    """Every CEL row with id > `after_id`, oldest first, read a page at a time
    (blocking: run it in a thread)."""
    rows: list[CelRow] = []
    while True:
        chunk = read_cel(path, rows[-1].id if rows else after_id, page)
        rows += chunk
        if len(chunk) < page:
            return rows


def cel_last_id(path: Path) -> int:
    """The newest CEL row id (0 when there is none yet)."""
    if not path.is_file():
        return 0
    db = _connect_read_only(path)
    try:
        return int(db.execute("SELECT coalesce(max(AcctId), 0) FROM cel").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


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


def _connect_read_only(path: Path) -> sqlite3.Connection:
    # as_uri() escapes "#", "%" and "?" so they stay part of the path.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)


def _row(r: tuple[object, ...]) -> CelRow:
    extra: dict[str, object] = {}
    if isinstance(r[12], str) and r[12].startswith("{"):
        try:
            extra = dict(json.loads(r[12]))
        except (ValueError, TypeError):
            extra = {}
    return CelRow(
        id=int(str(r[0])), eventtype=str(r[1]),
        at=datetime.fromtimestamp(float(str(r[2])), UTC),
        cidnum=str(r[3] or ""), cidname=str(r[4] or ""), context=str(r[5] or ""),
        exten=str(r[6] or ""), channame=str(r[7] or ""), appname=str(r[8] or ""),
        uniqueid=str(r[9] or ""), linkedid=str(r[10] or ""), peer=str(r[11] or ""),
        extra=extra,
    )


def finished_calls(
    rows: Iterable[CelRow], *, now: datetime
) -> tuple[dict[str, list[CelRow]], int | None]:
    """Group rows by call (`linkedid`); only calls whose LINKEDID_END is in `rows`.

    Also returns the id of the first row of the oldest unfinished call (reading
    must start there next time), or None when every call seen is finished. A call
    silent for `ABANDONED_GROUP_AFTER` never finishes (Asterisk crashed under it):
    it no longer holds reading back.
    """
    done, going = split_calls(rows, now=now)
    return done, first_row(going)


def split_calls(
    rows: Iterable[CelRow], *, now: datetime
) -> tuple[dict[str, list[CelRow]], list[list[CelRow]]]:
    """`rows` by call (`linkedid`): the finished calls, and the rows of each call
    still going (not abandoned, see `finished_calls`), oldest call first."""
    groups: dict[str, list[CelRow]] = {}
    for row in rows:
        groups.setdefault(row.linkedid, []).append(row)
    done = {k: g for k, g in groups.items() if any(r.eventtype == "LINKEDID_END" for r in g)}
    going = [g for k, g in groups.items()
             if k not in done and now - g[-1].at < ABANDONED_GROUP_AFTER]
    return done, sorted(going, key=lambda g: g[0].id)


def first_row(going: list[list[CelRow]]) -> int | None:
    """The id of the first row of the oldest call in `going` (None: there is none)."""
    return going[0][0].id if going else None


def summarise(rows: list[CelRow], config: HotlineConfig) -> CelSummary | None:
    """The call log's view of one finished call, or None when the trail lacks the
    start of its first channel. Calls that never reached the hotline (desk to desk)
    come back with `fallback=False`, and `CallTrail` leaves them alone."""
    linkedid = rows[0].linkedid
    caller = [r for r in rows if r.uniqueid == linkedid]
    start = next((r for r in caller if r.eventtype == "CHAN_START"), None)
    if start is None:
        return None
    user = {r.eventtype: r for r in caller if r.eventtype.startswith("hotline_")}
    hangup = next((r for r in caller if r.eventtype == "HANGUP"), None)
    end = hangup or next((r for r in rows if r.eventtype == "LINKEDID_END"), rows[-1])
    record = CallRecord(
        call_id=linkedid, caller_number=start.cidnum, caller_name=start.cidname,
        started_at=start.at, ended_at=end.at,
    )
    events: list[CallEvent] = []

    def note(row: CelRow, kind: str, **detail: str | int | None) -> None:
        events.append(CallEvent(call_id=linkedid, at=row.at, kind=kind,
                                detail={"source": "cel", **detail},
                                key=f"cel:{linkedid}:{row.id}"))

    answered = next((r for r in caller if r.eventtype == "ANSWER"), None)
    if answered is not None:
        record.answered_at = answered.at
        note(answered, "answered")
    if "hotline_fallback" in user:
        note(user["hotline_fallback"], "fallback")
    if (branch_row := user.get("hotline_branch")) is not None:
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
    if (message := user.get("hotline_message")) is not None:
        record.recording = str(message.extra.get("extra") or "") or None
        record.callback = Callback.PENDING
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
    if record.outcome in (Outcome.CLOSED, Outcome.DESK_UNREACHABLE):
        # As the service does: not served, and the number is known.
        record.callback = Callback.PENDING
    station = config.station(record.caller_number)
    record.caller_agency = station.agency if station else None
    return CelSummary(record=record, events=events, fallback="hotline_fallback" in user)


def _outcome(record: CallRecord, user: dict[str, CelRow]) -> Outcome:
    if record.bridged_at is not None:
        return Outcome.CONNECTED
    if "hotline_closed" in user:
        return Outcome.CLOSED
    if "hotline_unreachable" in user or "hotline_message" in user:
        return Outcome.DESK_UNREACHABLE
    if "hotline_no_selection" in user:
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
