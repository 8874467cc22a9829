"""Quality-review recordings on disk: their use (for `/metrics`) and their purge once
older than the YAML's `recording.retention_days`, by the service on a timer.

A recording's age is its file's modification time (Asterisk writes it until the call
ends) against the injected clock. Each purge is logged (structlog) and noted in its
call's timeline (`review_recording_purged`), so the call's page says where it went.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from calllog.model import CallEvent
from calllog.store import CallLog
from ivr.review import REVIEW_PREFIX
from routing.clock import Clock
from routing.override import StoredRecording, expired_recordings

log = structlog.get_logger(__name__)

SWEEP_SECONDS = 600.0
_CALL_OF = re.compile(re.escape(REVIEW_PREFIX) + r"([0-9]+)-([0-9]+)")


@dataclass(frozen=True)
class RecordingUse:
    files: int = 0
    bytes: int = 0


class ReviewRecordings:
    def __init__(self, spool: Path, calllog: CallLog, clock: Clock,
                 retention_days: Callable[[], int]) -> None:
        self.spool = spool
        self._calllog = calllog
        self._clock = clock
        self._retention_days = retention_days
        self.use = RecordingUse()
        self.purged = 0

    def stored(self) -> list[StoredRecording]:
        found = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.spool) as entries:
            for entry in entries:
                if entry.name.startswith(REVIEW_PREFIX) and entry.is_file():
                    stat = entry.stat()
                    found.append(StoredRecording(
                        entry.name, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size))
        return found

    async def sweep(self) -> list[StoredRecording]:
        """Delete the recordings past retention; returns them."""
        stored = self.stored()
        days = self._retention_days()
        expired = expired_recordings(stored, self._clock.now(), days)
        gone = []
        for recording in expired:
            try:
                (self.spool / recording.name).unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("review recording not purged", name=recording.name, error=str(exc))
                continue
            gone.append(recording)
            self.purged += 1
            log.info("review recording purged", name=recording.name, bytes=recording.size,
                     recorded_at=recording.recorded_at.isoformat(), retention_days=days)
            await self._note(recording, days)
        left = [r for r in stored if r not in gone]
        self.use = RecordingUse(len(left), sum(r.size for r in left))
        return gone

    async def _note(self, recording: StoredRecording, days: int) -> None:
        match = _CALL_OF.match(recording.name)
        if match is None:
            return
        call_id = f"{match[1]}.{match[2]}"
        try:
            await self._calllog.append_event(CallEvent(
                call_id=call_id, at=self._clock.now(), kind="review_recording_purged",
                detail={"name": Path(recording.name).stem, "retention_days": days}))
        except Exception:
            log.warning("purge not noted in the call's timeline", call_id=call_id,
                        exc_info=True)

    async def run(self, every: float = SWEEP_SECONDS) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("review recordings sweep failed")
            await asyncio.sleep(every)
