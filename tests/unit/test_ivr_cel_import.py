"""`CallTrail.import_cel` against awkward CEL files: calls whose trail never ends
(Asterisk died under them), a whole large file read again, a locked file, and the
mark file that says where reading goes on."""

from __future__ import annotations

import os
import sqlite3
import stat
import tracemalloc
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from calllog.model import Callback, Outcome
from ivr.cel import CelBusy, cel_last_id, read_cel
from tests.unit.cel_trail import CEL_TABLE, FALLBACK_CONNECTED, CelCall, CelTuple, write_cel
from tests.unit.test_ivr_recovery import NOW, restart

HOUR = 3600.0


def lost_under_a_crash(linkedid: str, *, hours_ago: float, bridged: bool) -> CelCall:
    """A fallback call whose trail stops: Asterisk crashed (no HANGUP, no LINKEDID_END)."""
    call = CelCall(linkedid, start=NOW.timestamp() - hours_ago * HOUR).reaches_the_fallback()
    call.branch(2)
    if bridged:
        call.bridged(call.desk("1201", 1))
    return call


def ended(linkedid: str, *, start: float, first_id: int) -> CelCall:
    call = CelCall(linkedid, start=start, first_id=first_id).reaches_the_fallback()
    return call.hangup(call.caller, source=call.caller.channame).ends()


# --- calls whose trail never ends -------------------------------------------------------


@pytest.mark.parametrize(("bridged", "outcome", "callback"), [
    (True, Outcome.CONNECTED, None), (False, Outcome.FAILED, Callback.PENDING),
])
async def test_call_whose_trail_never_ended_is_logged_as_incomplete_after_12_hours(
    tmp_path: Path, bridged: bool, outcome: Outcome, callback: Callback | None,
) -> None:
    cel = tmp_path / "cel.db"
    lost = lost_under_a_crash("1795300000.1", hours_ago=13, bridged=bridged)
    write_cel(cel, lost.rows)
    r = restart(tmp_path, cel_db=cel)

    assert await r.trail.import_cel() == 1

    record = await r.record(lost.linkedid)
    assert record.ended_at == lost.when(lost.rows[-1][1], lost.caller)  # its last row
    assert (record.outcome, record.callback, record.hangup_by) == (outcome, callback, "system")
    assert (record.branch_key, record.agency) == (2, "Hiệp hội doanh nghiệp tỉnh")
    events = await r.calllog.events(lost.linkedid)
    assert events[-1].kind == "cel_incomplete"
    assert events[-1].key == f"cel:{lost.linkedid}:incomplete"
    assert r.mark() == f"{lost.last_id}\n"

    r.mark_file.unlink()  # read again from the start: nothing is written twice
    assert await restart(tmp_path, cel_db=cel, calllog=r.calllog).trail.import_cel() == 0
    assert await r.calllog.events(lost.linkedid) == events


async def test_call_silent_for_less_than_12_hours_is_not_called_incomplete(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    talking = lost_under_a_crash("1795400000.1", hours_ago=1, bridged=True)
    write_cel(cel, talking.rows)
    r = restart(tmp_path, cel_db=cel)

    assert await r.trail.import_cel() == 0

    assert await r.calllog.get(talking.linkedid) is None
    assert r.mark() == "0\n"  # read again from its start


async def test_old_trail_read_again_a_page_at_a_time_has_no_incomplete_calls(
    tmp_path: Path,
) -> None:
    """Days-old calls whose rows straddle two pages are whole once the next page is in."""
    cel = tmp_path / "cel.db"
    start, rows = NOW.timestamp() - 72 * HOUR, []
    for n in range(5):
        call = ended(f"{int(start)}.{n}", start=start + n * 60, first_id=len(rows) + 1)
        rows += call.rows
    write_cel(cel, rows)
    r = restart(tmp_path, cel_db=cel)
    r.trail.cel_page = 4  # every call (6 rows) straddles a page

    assert await r.trail.import_cel() == 5

    for call_id in (f"{int(start)}.{n}" for n in range(5)):
        assert (await r.record(call_id)).outcome is Outcome.ABANDONED_IN_MENU
        assert "cel_incomplete" not in await r.kinds(call_id)


# --- a large file read again from the start ------------------------------------------------

LARGE_ROWS = 100_000  # the old whole-file read peaked at ~80 MiB for these; paged: <10


def large_cel(path: Path) -> list[str]:
    """`LARGE_ROWS` rows of six-row calls the service handled, one in 500 a fallback
    call; returns the fallback calls' ids."""
    db = sqlite3.connect(path)
    db.execute(CEL_TABLE)
    fallback: list[str] = []
    t0 = NOW.timestamp() - 48 * HOUR

    def calls() -> list[CelTuple]:
        rows: list[CelTuple] = []
        n = 0
        while len(rows) < LARGE_ROWS:
            call = CelCall(f"{int(t0)}.{n}", start=t0 + n, first_id=len(rows) + 1)
            if n % 500 == 0:
                call.reaches_the_fallback()
                fallback.append(call.linkedid)
            else:
                call.add("CHAN_START", call.caller, context="hotline-public", exten="19001080")
                call.add("ANSWER", call.caller, appname="Stasis", appdata="hotline")
            call.hangup(call.caller, source=call.caller.channame).ends()
            rows += call.rows
            n += 1
        return rows

    db.executemany(f"INSERT INTO cel VALUES ({','.join('?' * 15)})", calls())
    db.commit()
    db.close()
    return fallback


async def test_large_cel_file_is_imported_a_page_at_a_time_in_bounded_memory(
    tmp_path: Path,
) -> None:
    cel = tmp_path / "cel.db"
    fallback = large_cel(cel)
    r = restart(tmp_path, cel_db=cel)  # no mark: the whole file is read

    tracemalloc.start()
    try:
        with capture_logs() as logs:
            written = await r.trail.import_cel()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == len(fallback)
    assert {c.call_id for c in await r.calllog.list_calls(limit=10_000)} == set(fallback)
    pages = [e for e in logs if e["event"] == "CEL page read"]
    assert sum(p["rows"] for p in pages) >= LARGE_ROWS
    assert max(p["rows"] for p in pages) <= r.trail.cel_page
    assert len(pages) >= LARGE_ROWS // r.trail.cel_page
    # The whole file held at once takes about 1.3 KB a row (~260 MB here).
    assert peak < 40 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    assert int(r.mark()) >= LARGE_ROWS


# --- a locked file -----------------------------------------------------------------------


@pytest.fixture
def locked_cel(tmp_path: Path) -> object:
    """A CEL file another connection holds an exclusive lock on (rollback journal)."""
    path = tmp_path / "cel.db"
    write_cel(path, FALLBACK_CONNECTED)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    yield path
    holder.execute("ROLLBACK")
    holder.close()


def test_locked_cel_file_is_not_taken_for_an_empty_trail(locked_cel: Path) -> None:
    with pytest.raises(CelBusy):
        cel_last_id(locked_cel, timeout=0.01)
    with pytest.raises(CelBusy):
        read_cel(locked_cel, 0, timeout=0.01)


def test_cel_file_locked_for_a_moment_is_read_once_it_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "cel.db"
    write_cel(path, FALLBACK_CONNECTED)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    pauses: list[float] = []

    def asterisk_commits_meanwhile(seconds: float) -> None:
        pauses.append(seconds)
        holder.execute("ROLLBACK")

    monkeypatch.setattr("ivr.cel.sleep", asterisk_commits_meanwhile)
    try:
        assert cel_last_id(path, timeout=0.01) == 13
    finally:
        holder.close()
    assert len(pauses) == 1  # failed once, waited, read


# --- the mark file -------------------------------------------------------------------------


async def test_mark_file_is_created_readable_by_the_service_only(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, FALLBACK_CONNECTED)
    r = restart(tmp_path, cel_db=cel)
    old = os.umask(0o022)
    try:
        assert await r.trail.import_cel() == 1
    finally:
        os.umask(old)

    assert stat.S_IMODE(r.mark_file.stat().st_mode) == 0o600
    assert r.mark() == "13\n"
    assert [p.name for p in os.scandir(tmp_path) if "mark" in p.name] == ["cel.mark"]


async def test_symlink_planted_at_the_mark_is_refused_not_followed(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, FALLBACK_CONNECTED)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("999999\n")
    r = restart(tmp_path, cel_db=cel)
    r.mark_file.symlink_to(elsewhere)

    with capture_logs() as logs:
        assert await r.trail.import_cel() == 1  # read from the start, not from 999999

    assert elsewhere.read_text() == "999999\n"
    assert not r.mark_file.is_symlink() and r.mark() == "13\n"
    assert any("symlink" in e["event"] for e in logs if e["log_level"] == "error")


async def test_symlink_planted_at_the_temporary_mark_is_not_followed(tmp_path: Path) -> None:
    cel = tmp_path / "cel.db"
    write_cel(cel, FALLBACK_CONNECTED)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    r = restart(tmp_path, cel_db=cel)
    (tmp_path / "cel.tmp").symlink_to(victim)
    (tmp_path / ".cel.mark.tmp").symlink_to(victim)

    assert await r.trail.import_cel() == 1

    assert victim.read_text() == "precious\n"
    assert r.mark() == "13\n"
