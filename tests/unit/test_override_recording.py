"""Issue 17, items 5 and 6, the decisions and the service's parts without a PBX: the
announcement in force (expiry, cache, a database that cannot be read), the review
recordings' purge after retention on the injected clock, and their /metrics."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from calllog.announcements import OverrideMode, OverrideSwitch
from calllog.memory import InMemoryCallLog
from calllog.model import CallRecord
from hotline.announce import AnnouncementError, from_recording, parse_until
from hotline.health import HealthServer, HealthSources
from hotline.retention import ReviewRecordings
from ivr.override import OverrideSource
from routing.config import Branch, RecordingConfig
from routing.override import StoredRecording, expired_recordings, override_in_force
from tests.clock import FakeClock

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def switch(on: bool = True, until: datetime | None = None) -> OverrideSwitch:
    return OverrideSwitch(at=NOW, by="lan", on=on, mode=OverrideMode.AFTER_GREETING,
                          text="Thông báo", media="override-abc", until=until)


def test_override_is_in_force_while_on_and_before_its_expiry() -> None:
    assert override_in_force(True, NOW + timedelta(minutes=1), NOW)
    assert override_in_force(True, None, NOW)
    assert not override_in_force(True, NOW, NOW)
    assert not override_in_force(False, NOW + timedelta(hours=1), NOW)


def test_only_recordings_older_than_retention_are_purged_oldest_first() -> None:
    old = StoredRecording("review-1-1.wav", NOW - timedelta(days=31), 10)
    older = StoredRecording("review-1-2.wav", NOW - timedelta(days=40), 10)
    young = StoredRecording("review-1-3.wav", NOW - timedelta(days=29), 10)
    assert expired_recordings([old, young, older], NOW, 30) == [older, old]


def test_recording_is_off_by_default_and_kept_ninety_days() -> None:
    branch = Branch(key=1, name="Chỉ đạo", agency="Sở Nội vụ", desks=["1101"])
    assert branch.record_calls is False
    assert RecordingConfig().retention_days == 90


class Reads:
    def __init__(self, *answers: OverrideSwitch | Exception | None) -> None:
        self.answers = list(answers)
        self.count = 0

    async def __call__(self) -> OverrideSwitch | None:
        self.count += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_switch_is_read_at_most_once_per_ttl_and_expires_on_the_clock() -> None:
    clock = FakeClock(NOW, running=False)
    reads = Reads(switch(until=NOW + timedelta(seconds=30)))
    source = OverrideSource(reads, clock, ttl=2.0)
    assert (await source.current()) is not None
    assert (await source.current()) is not None
    assert reads.count == 1
    clock.advance(31)
    assert await source.current() is None
    assert reads.count == 2


async def test_switch_off_is_seen_after_the_ttl() -> None:
    clock = FakeClock(NOW, running=False)
    reads = Reads(switch(), switch(on=False))
    source = OverrideSource(reads, clock, ttl=2.0)
    assert await source.current() is not None
    clock.advance(2.5)
    assert await source.current() is None


async def test_database_unreadable_keeps_the_last_known_switch() -> None:
    clock = FakeClock(NOW, running=False)
    source = OverrideSource(Reads(switch(), OSError("db down")), clock, ttl=2.0)
    assert await source.current() is not None
    clock.advance(3)
    with capture_logs() as logs:
        assert await source.current() is not None
    assert any("announcement" in e["event"] for e in logs)


async def test_a_database_that_does_not_answer_holds_the_call_up_only_briefly() -> None:
    clock = FakeClock(NOW, running=False)
    hang = asyncio.Event()

    async def never() -> OverrideSwitch | None:
        await hang.wait()
        return None

    source = OverrideSource(never, clock, ttl=2.0)
    with capture_logs():
        assert await asyncio.wait_for(source.current(), 5) is None


def test_expiry_is_read_in_asia_ho_chi_minh_and_must_be_ahead() -> None:
    assert parse_until("07/12/2026 17:00", NOW) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with pytest.raises(AnnouncementError):
        parse_until("07/12/2026 09:00", NOW)  # 02:00 UTC: already past
    with pytest.raises(AnnouncementError):
        parse_until("tomorrow", NOW)


def test_an_upload_that_is_no_wav_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnnouncementError, match="WAV"):
        from_recording(b"ID3\x04not a wav at all", tmp_path)
    assert not list(tmp_path.iterdir())


def _recording(spool: Path, name: str, age: timedelta, size: int = 100) -> Path:
    path = spool / name
    path.write_bytes(b"\0" * size)
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


async def test_purge_deletes_past_retention_logs_it_and_notes_the_call(tmp_path: Path) -> None:
    clock = FakeClock(NOW, running=False)
    calllog = InMemoryCallLog()
    await calllog.save(CallRecord("1733540000.7", "0912345678", NOW - timedelta(days=31)))
    old = _recording(tmp_path, "review-1733540000-7.wav", timedelta(days=31), 300)
    young = _recording(tmp_path, "review-1733540000-8.wav", timedelta(days=29), 200)
    voicemail = _recording(tmp_path, "vm-1733540000-9.wav", timedelta(days=400))
    reviews = ReviewRecordings(tmp_path, calllog, clock, lambda: 30)

    with capture_logs() as logs:
        purged = await reviews.sweep()

    assert [r.name for r in purged] == [old.name]
    assert not old.exists() and young.exists() and voicemail.exists()  # messages are not ours
    assert [e["name"] for e in logs if e["event"] == "review recording purged"] == [old.name]
    events = await calllog.events("1733540000.7")
    assert [(e.kind, e.detail["name"]) for e in events] == [
        ("review_recording_purged", "review-1733540000-7")]
    assert (reviews.use.files, reviews.use.bytes, reviews.purged) == (1, 200, 1)

    clock.advance(timedelta(days=2).total_seconds())  # the young one's turn
    assert [r.name for r in await reviews.sweep()] == [young.name]
    assert (reviews.use.files, reviews.use.bytes, reviews.purged) == (0, 0, 2)


def test_recordings_disk_use_is_in_the_metrics() -> None:
    server = HealthServer(HealthSources(
        ari_connected=lambda: True, active_calls=lambda: 0, calls_by_outcome=dict,
        reloads=dict, review_recordings=lambda: (3, 4096, 7)))
    text = server.respond("/metrics")[2].decode()
    assert "hotline_review_recordings_files 3.0" in text
    assert "hotline_review_recordings_bytes 4096.0" in text
    assert "hotline_review_recordings_purged_total 7.0" in text
