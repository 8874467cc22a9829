"""The spool directory's files, for `SpooledCallLog` (see calllog/spool.py for the layout).

Blocking: only called from the spool's one thread. Every file is opened with
`O_NOFOLLOW` and created 0600: a symbolic link planted in the directory is refused
(`SpoolFileRefusedError`), never followed. The journal is read in chunks, never whole:
a day of outage (tens of MB) replays in bounded memory.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import structlog

from calllog.errors import SpoolFileRefusedError
from calllog.spool_codec import Entry, decode, describe, line_seq

log = structlog.get_logger(__name__)

JOURNAL_NAME: Final = "journal.jsonl"
MARKER_NAME: Final = "applied.json"
REJECTED_NAME: Final = "rejected.jsonl"
LOCK_NAME: Final = "lock"
MARKER_FORMAT: Final = 1
READ_CHUNK: Final = 64 * 1024
COPY_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Recovered:
    spool_id: str
    applied_seq: int
    last_seq: int
    pending_from: int
    """Journal offset of the first entry after `applied_seq`."""
    pending_lines: int
    """Lines from `pending_from` on (entries to replay, and unreadable lines)."""
    journal_bytes: int
    rejected_at_start: int
    """Lines rejected.jsonl held before this start."""
    set_aside: int
    """Unreadable lines moved to rejected.jsonl while recovering."""


@dataclass(slots=True)
class Read:
    entries: list[tuple[Entry, int]] = field(default_factory=list)
    """Entries read, each with the journal offset just after its line."""
    size: int = 0
    """Bytes read (entries and unreadable lines)."""
    lines: int = 0
    set_aside: int = 0
    """Unreadable lines moved to rejected.jsonl."""


class SpoolFiles:
    def __init__(self, directory: Path, now: Callable[[], datetime]) -> None:
        self.directory = directory
        self._now = now
        self.journal = directory / JOURNAL_NAME
        self.marker = directory / MARKER_NAME
        self.rejected = directory / REJECTED_NAME
        self._journal_fd = -1
        self._journal_size = 0
        self._lock_fd = -1

    def open(self) -> Recovered:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock()
        try:
            return self._recover()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        fd = open_private(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"the call log spool {self.directory} is in use by another process"
            ) from None
        self._lock_fd = fd

    def _recover(self) -> Recovered:
        rejected_at_start = self._count_rejected()
        spool_id, applied_seq = self._read_marker()
        self._journal_fd = fd = open_private(self.journal, os.O_RDWR | os.O_CREAT)
        last_seq, offset, set_aside = applied_seq, 0, 0
        pending_from: int | None = None
        pending_lines = 0
        tail = b""
        with os.fdopen(os.dup(fd), "rb") as lines:  # streamed, never read whole
            for raw in lines:
                if not raw.endswith(b"\n"):
                    tail = raw
                    break
                try:
                    seq = line_seq(raw)
                except ValueError as exc:
                    if pending_from is None:
                        self._set_aside_unreadable(raw, exc)
                        set_aside += 1
                    else:  # the writer sets it aside when it reads that far
                        pending_lines += 1
                    offset += len(raw)
                    continue
                last_seq = max(last_seq, seq)
                if seq > applied_seq and pending_from is None:
                    pending_from = offset
                if pending_from is not None:
                    pending_lines += 1
                offset += len(raw)
        if tail:
            log.warning(
                "torn last line of the call log journal ignored (a crash while writing "
                "it; it was never acknowledged)",
                journal=str(self.journal),
                line=tail[:200].decode(errors="replace"),
            )
            os.ftruncate(fd, offset)
            os.fsync(fd)
        self._journal_size = offset
        if not self.marker.exists():
            self.write_marker(spool_id, applied_seq)  # before any entry gets its key
        fsync_directory(self.directory)
        return Recovered(
            spool_id, applied_seq, last_seq, offset if pending_from is None else pending_from,
            pending_lines, offset, rejected_at_start, set_aside,
        )

    def _count_rejected(self) -> int:
        try:
            fd = open_private(self.rejected, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        count = 0
        with os.fdopen(fd, "rb") as rejected:
            while chunk := rejected.read(READ_CHUNK):
                count += chunk.count(b"\n")
        return count

    def _read_marker(self) -> tuple[str, int]:
        try:
            with os.fdopen(open_private(self.marker, os.O_RDONLY), "rb") as marker:
                body = json.loads(marker.read(READ_CHUNK))
            spool_id, applied_seq = body["spool_id"], body["applied_seq"]
            if body["format"] != MARKER_FORMAT:
                raise ValueError(f"unknown marker format {body['format']!r}")
            if not isinstance(spool_id, str) or not spool_id:
                raise ValueError(f"bad spool_id {spool_id!r}")
            if not isinstance(applied_seq, int) or applied_seq < 0:
                raise ValueError(f"bad applied_seq {applied_seq!r}")
        except FileNotFoundError:
            return uuid.uuid4().hex, 0
        except (ValueError, TypeError, KeyError) as exc:
            # Safe to start afresh: events keep the keys they were journaled with, so
            # replaying the whole journal duplicates nothing, and a new spool id keeps
            # new keys apart from the old ones.
            log.error(
                "unreadable call log spool marker: replaying the whole journal",
                marker=str(self.marker),
                error=describe(exc),
            )
            self.marker.unlink()
            return uuid.uuid4().hex, 0
        return spool_id, applied_seq

    def _set_aside_unreadable(self, line: bytes, exc: Exception) -> None:
        log.error(
            "unreadable call log journal line, moved to rejected.jsonl",
            journal=str(self.journal),
            error=describe(exc),
        )
        record = {
            "rejected_at": self._now().isoformat(),
            "error": f"unreadable journal line: {type(exc).__name__}: {exc}",
            "line": line.decode(errors="replace"),
        }
        self.append_rejected(
            (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        )

    def read(self, start: int, end: int, max_entries: int) -> Read:
        """Entries of the journal's bytes [start, end) (whole lines), at most
        `max_entries`; unreadable lines are moved to rejected.jsonl on the way."""
        read = Read()
        buffer, pos = b"", 0
        offset = start  # of buffer[pos] in the file
        buffer_end = start  # of the end of buffer in the file
        while len(read.entries) < max_entries and offset < end:
            newline = buffer.find(b"\n", pos)
            if newline < 0:
                more = os.pread(self._journal_fd, min(READ_CHUNK, end - buffer_end), buffer_end)
                if not more:
                    raise OSError(errno.EIO, f"{self.journal}: no whole line at {offset}")
                buffer, pos = buffer[pos:] + more, 0
                buffer_end += len(more)
                continue
            line = buffer[pos:newline + 1]
            pos, offset = newline + 1, offset + len(line)
            read.lines += 1
            try:
                read.entries.append((decode(line), offset))
            except (ValueError, TypeError, KeyError) as exc:
                self._set_aside_unreadable(line, exc)
                read.set_aside += 1
        read.size = offset - start
        return read

    def append(self, data: bytes) -> None:
        """Append `data` at the end of the journal and fsync; on failure cut the journal
        back, so that no torn line is left before the next entries."""
        size = self._journal_size
        try:
            write_all(self._journal_fd, data, size)
            os.fsync(self._journal_fd)
        except BaseException:
            try:
                os.ftruncate(self._journal_fd, size)
            except OSError as exc:
                log.error("could not cut back the call log journal", error=describe(exc))
            raise
        self._journal_size = size + len(data)

    def rewrite(self, keep_from: int) -> None:
        """Replace the journal, atomically, by its bytes from `keep_from` on (the entries
        not applied yet), copied in chunks."""
        tmp = self.journal.with_name(JOURNAL_NAME + ".tmp")
        fd = open_private(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        size = self._journal_size - keep_from
        try:
            copied = 0
            while copied < size:
                chunk = os.pread(self._journal_fd, min(COPY_CHUNK, size - copied),
                                 keep_from + copied)
                if not chunk:
                    raise OSError(errno.EIO, f"{self.journal} shorter than expected")
                write_all(fd, chunk, copied)
                copied += len(chunk)
            os.fsync(fd)
            os.replace(tmp, self.journal)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        # The old file is unlinked now: the journal is the new one, whatever follows.
        old, self._journal_fd, self._journal_size = self._journal_fd, fd, size
        os.close(old)
        fsync_directory(self.directory)

    def write_marker(self, spool_id: str, applied_seq: int) -> None:
        body = {"format": MARKER_FORMAT, "spool_id": spool_id, "applied_seq": applied_seq}
        tmp = self.marker.with_name(MARKER_NAME + ".tmp")
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, (json.dumps(body) + "\n").encode(), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.marker)
        fsync_directory(self.directory)

    def append_rejected(self, data: bytes) -> None:
        fd = open_private(self.rejected, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_directory(self.directory)

    def close(self) -> None:
        for fd in (self._journal_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)  # closing the lock's file releases the flock
        self._journal_fd = self._lock_fd = -1


def open_private(path: Path, flags: int) -> int:
    """`os.open` of a spool file: created 0600, never through a symbolic link, and only
    a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SpoolFileRefusedError(
                errno.ELOOP,
                f"{path} is a symbolic link: refused (the call log spool's files must be "
                "its own regular files; remove the link)",
            ) from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SpoolFileRefusedError(errno.EINVAL, f"{path} is not a regular file: refused")
    return fd


def write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
