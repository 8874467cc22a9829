"""`CallTrail`: closes the call-log rows nobody else will, from Asterisk's CEL trail.

Calls handed to the fallback dialplan, calls that ended while our process was down,
and calls the fallback IVR took alone (no row at all) are read from CEL (`ivr.cel`);
a watched row CEL says nothing about is closed once its channel is gone, with the
time it was found gone.

The trail is read a page at a time (`CallTrail.cel_page` rows): each page is read and
grouped in a thread, its calls written, and the mark moved on before the next page,
so a whole file read again (a lost mark, a first start against a busy PBX) holds one
page in memory and never stalls the event loop. The mark (`cel.mark`) is the id to
read on from after a restart; it is replaced atomically and fsync'd, created 0600,
and a symlink planted at its path is refused, not followed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
from collections.abc import Callable
from pathlib import Path

import structlog

from calllog.callers import callback_for
from calllog.model import CallEvent, CallRecord, Outcome
from calllog.store import CallLog
from ivr.ari.client import AriClient
from ivr.ari.errors import ChannelGone, NotFound
from ivr.cel import CelRow, CelSummary, cel_last_id, is_fallback_call, read_page, summarise, use_wal
from routing.clock import Clock
from routing.config import HotlineConfig

log = structlog.get_logger(__name__)


class CallTrail:
    """Closes the rows of calls the service no longer handles (see module docstring).

    `watch(call_id)`: a row left open (handed to the fallback, or found open after
    a restart). Calls the fallback IVR took alone (no row at all) are found in CEL.
    """

    def __init__(
        self,
        *,
        ari: AriClient,
        calllog: CallLog,
        config: Callable[[], HotlineConfig],
        cel_db: Path | None,
        mark_file: Path,
        is_active: Callable[[str], bool],
        clock: Clock,
    ) -> None:
        self._ari = ari
        self._calllog = calllog
        self._config = config
        self._cel_db = cel_db
        self._mark_file = mark_file
        self._is_active = is_active
        self._clock = clock
        self.watched: set[str] = set()
        self.imported = 0
        self._grace: set[str] = set()
        # CEL is read only once `recover` has said which open rows to watch: a call that
        # ended while we were down must not be passed over as "handled by the service".
        self.recovered = asyncio.Event()
        self._cel_in_wal = False
        self._read_to: int | None = None
        self.cel_page = 5000
        """CEL rows read per query (a pass reads every new row, a page at a time)."""
        self._carried: list[CelRow] = []

    def watch(self, call_id: str) -> None:
        self.watched.add(call_id)

    async def run(self, interval: float = 5.0) -> None:
        await self.recovered.wait()
        while True:
            try:
                await self.sweep()
            except Exception:  # the database may be down, CEL locked: next round
                log.warning("call trail sweep failed; retrying", exc_info=True)
            await asyncio.sleep(interval)

    async def sweep(self) -> None:
        if self._cel_db is not None and self.recovered.is_set():
            await self.import_cel()
        await self._close_gone_without_cel()

    async def import_cel(self) -> int:
        """Every new CEL row, a page at a time; returns how many calls were written."""
        assert self._cel_db is not None
        if not self._cel_in_wal and self._cel_db.is_file():
            self._cel_in_wal = await asyncio.to_thread(use_wal, self._cel_db)
        start = self._read_to if self._read_to is not None else await self._read_mark()
        written = 0
        first = True
        while True:
            page = await asyncio.to_thread(
                read_page, self._cel_db, start, page=self.cel_page, carried=self._carried,
                now=self._clock.now(),
            )
            log.debug("CEL page read", rows=page.rows, after=start, ended=len(page.ended),
                      going=len(page.going))
            if first and not page.rows and start and (
                await asyncio.to_thread(cel_last_id, self._cel_db) < start
            ):
                log.warning("Asterisk's CEL file was reset: reading it from the start")
                await self._write_mark(0)
                self._read_to, self._carried = None, []
                return written
            first = False
            # Calls still going are carried to the next page (and pass) in memory, so
            # reading goes on past them: rereading from the oldest call still going each
            # pass stalled the import once one call lived longer than a read.
            for linkedid, rows in page.ended:
                if self._is_active(linkedid) or not (
                    linkedid in self.watched or is_fallback_call(rows)
                ):
                    continue  # the service logged it itself: not worth summarising
                summary = summarise(rows, self._config())
                if summary is not None and await self._apply(summary):
                    written += 1
                    self.imported += 1
            self._carried = page.going
            if page.last_id is None:
                return written
            self._read_to = start = page.last_id
            # Restart-safe: a new process rereads from the oldest call still going.
            await self._write_mark(page.resume_at - 1 if page.resume_at is not None
                                   else page.last_id)
            if page.rows < self.cel_page:
                return written

    async def _apply(self, summary: CelSummary) -> bool:
        call_id = summary.record.call_id
        existing = await self._calllog.get(call_id)
        if existing is not None and existing.ended_at is not None:
            self.watched.discard(call_id)
            return False
        if existing is None:
            record = summary.record
            events = summary.events
        else:
            record = closed_from_cel(existing, summary)
            # What the service saw itself, CEL's events would say twice.
            seen = {kind for kind, at in (("bridged", existing.bridged_at),
                                          ("answered", existing.answered_at)) if at}
            events = [*(e for e in summary.events if e.kind not in seen), CallEvent(
                call_id=call_id, at=self._clock.now(), kind="reconciled",
                detail={"source": "cel", "outcome": str(record.outcome)},
                key=f"cel:{call_id}:reconciled",
            )]
        await self._calllog.close_if_open(record)
        for event in events:
            await self._calllog.append_event(event)
        self.watched.discard(call_id)
        log.info("call closed from Asterisk's CEL", call_id=call_id, outcome=str(record.outcome),
                 fallback=summary.fallback, incomplete=summary.incomplete)
        return True

    async def _close_gone_without_cel(self) -> None:
        """Watched calls whose channel is gone and that CEL did not close."""
        for call_id in sorted(self.watched):
            if self._is_active(call_id):
                self.watched.discard(call_id)
                continue
            try:
                await self._ari.get_channel(call_id)
                continue  # still up (talking in the fallback dialplan)
            except (ChannelGone, NotFound):
                pass
            cel_may_know = self._cel_db is not None and self._cel_db.is_file()
            if cel_may_know and call_id not in self._grace:
                # Give CEL one more sweep: its rows are written as the call ends.
                self._grace.add(call_id)
                continue
            existing = await self._calllog.get(call_id)
            self.watched.discard(call_id)
            self._grace.discard(call_id)
            if existing is None or existing.ended_at is not None:
                continue
            record = dataclasses.replace(
                existing, ended_at=self._clock.now(),
                outcome=Outcome.CONNECTED if existing.bridged_at else Outcome.FAILED,
                hangup_by=existing.hangup_by or "system",
                # Not known to have been served (shed, or handed to the fallback): a call back.
                callback=existing.callback or (
                    None if existing.bridged_at else callback_for(existing.caller_number)),
            )
            await self._calllog.close_if_open(record)
            await self._calllog.append_event(CallEvent(
                call_id=call_id, at=self._clock.now(), kind="reconciled",
                detail={"source": "ari", "note": "ended while the service was down; "
                        "end time is when it was found gone"},
                key=f"ari:{call_id}:reconciled",
            ))
            log.warning("call closed without its end time", call_id=call_id)

    async def _read_mark(self) -> int:
        try:
            return await asyncio.to_thread(read_mark, self._mark_file)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            log.error("cel.mark is a symlink: refused; reading CEL from the start",
                      path=str(self._mark_file))
            return 0

    async def _write_mark(self, mark: int) -> None:
        await asyncio.to_thread(write_mark, self._mark_file, mark)


def read_mark(path: Path) -> int:
    """The id CEL reading goes on after (0: none yet, or unreadable). A symlink at
    `path` is not followed: OSError(ELOOP). Blocking: run it in a thread."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    with os.fdopen(fd, "rb") as file:
        try:
            return int(file.read(64).strip() or 0)
        except ValueError:
            return 0


def write_mark(path: Path, mark: int) -> None:
    """Replace the mark atomically and durably: a new file (0600 from its creation,
    never through a symlink), fsync'd, renamed over the old one, directory fsync'd.
    Blocking: run it in a thread."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover, or a planted symlink (removed, not followed)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        os.write(fd, f"{mark}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)  # rename replaces a symlink at `path` itself, never its target
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def closed_from_cel(existing: CallRecord, summary: CelSummary) -> CallRecord:
    """An open row closed with what CEL says about the call's end."""
    cel = summary.record
    record = dataclasses.replace(
        existing, ended_at=cel.ended_at, hangup_cause=cel.hangup_cause,
        hangup_by=cel.hangup_by,
    )
    if summary.fallback:
        # The fallback dialplan served the caller: what it did is the outcome.
        for name in ("branch_key", "branch_name", "agency", "desk_dialled", "desk_answered",
                     "bridged_at", "recording", "callback"):
            value = getattr(cel, name)
            if value is not None:
                setattr(record, name, value)
        record.outcome = cel.outcome
    elif record.bridged_at is not None:
        record.outcome = Outcome.CONNECTED
    else:
        # Our process died before the caller was served.
        record.outcome = Outcome.FAILED
    return record
