"""Asterisk's CEL trail read back (`ivr.cel`): the recorded fallback call, the other
paths of the generated fallback dialplan, grouping rows per call, and the SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calllog.model import Callback, Outcome
from ivr.cel import (
    CelSummary,
    cel_last_id,
    finished_calls,
    read_cel,
    read_page,
    summarise,
    use_wal,
)
from routing.config import load_config
from tests.unit.cel_trail import (
    CEL_TABLE,
    FALLBACK_CONNECTED,
    FALLBACK_LINKEDID,
    TRAIL_NOW,
    CelCall,
    cel_rows,
    write_cel,
)

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")
LINKEDID = "1795473100.7"
RECORDING = "vm-1795473100-7"


def summary_of(tmp_path: Path, call: CelCall) -> CelSummary:
    summary = summarise(cel_rows(tmp_path, call.rows), CONFIG)
    assert summary is not None
    return summary


def kinds(summary: CelSummary) -> list[str]:
    return [event.kind for event in summary.events]


# --- the recorded call: service down, caller pressed 2, desk 1201 answered, hung up -----


def test_recorded_fallback_call_is_connected_to_desk_1201_which_hung_up(
    tmp_path: Path,
) -> None:
    summary = summarise(cel_rows(tmp_path, FALLBACK_CONNECTED), CONFIG)

    assert summary is not None and summary.fallback
    record = summary.record
    assert record.call_id == FALLBACK_LINKEDID
    assert (record.caller_number, record.caller_name) == ("0907410001", "")
    assert record.started_at == datetime(2026, 11, 23, 22, 31, 16, 15518, tzinfo=UTC)
    assert record.answered_at == datetime(2026, 11, 23, 22, 31, 16, 16376, tzinfo=UTC)
    assert record.bridged_at == datetime(2026, 11, 23, 22, 31, 22, 414542, tzinfo=UTC)
    assert record.ended_at == datetime(2026, 11, 23, 22, 31, 23, 99212, tzinfo=UTC)
    assert (record.branch_key, record.branch_name, record.agency) == (
        2, "Doanh nghiệp", "Hiệp hội doanh nghiệp tỉnh")
    assert (record.desk_dialled, record.desk_answered) == ("1201,1202", "1201")
    assert record.outcome is Outcome.CONNECTED
    assert (record.hangup_by, record.hangup_cause) == ("desk", 16)
    assert record.recording is None and record.callback is None


def test_recorded_fallback_call_has_one_keyed_event_per_step(tmp_path: Path) -> None:
    rows = cel_rows(tmp_path, FALLBACK_CONNECTED)
    summary = summarise(rows, CONFIG)

    assert summary is not None
    assert [(e.kind, e.key, dict(e.detail)) for e in summary.events] == [
        ("answered", "cel:1795473076.0:2", {"source": "cel"}),
        ("fallback", "cel:1795473076.0:3", {"source": "cel"}),
        ("branch", "cel:1795473076.0:4", {"source": "cel", "key": 2}),
        ("bridged", "cel:1795473076.0:7", {"source": "cel", "desk": "1201"}),
        ("ended", "cel:1795473076.0:11", {"source": "cel", "cause": 16, "by": "desk"}),
    ]
    at = {row.id: row.at for row in rows}
    assert [e.at for e in summary.events] == [at[2], at[3], at[4], at[7], at[11]]
    assert {e.call_id for e in summary.events} == {FALLBACK_LINKEDID}
    # The same trail summarised again gives the same keys: importing twice adds nothing.
    again = summarise(rows, CONFIG)
    assert again is not None and [e.key for e in again.events] == [
        e.key for e in summary.events]


# --- the other paths of the fallback dialplan -------------------------------------------


def test_caller_hanging_up_in_the_fallback_menu_abandons_in_menu(tmp_path: Path) -> None:
    call = CelCall(LINKEDID).reaches_the_fallback()
    call.hangup(call.caller, source=call.caller.channame).ends()

    summary = summary_of(tmp_path, call)

    record = summary.record
    assert summary.fallback
    assert record.outcome is Outcome.ABANDONED_IN_MENU
    assert (record.hangup_by, record.hangup_cause) == ("caller", 16)
    assert record.answered_at is not None and record.ended_at is not None
    assert record.branch_key is None and record.desk_dialled is None
    assert record.bridged_at is None and record.callback is None
    assert kinds(summary) == ["answered", "fallback", "ended"]


@pytest.mark.parametrize("reason", ["closed", "holiday"])
def test_call_in_closed_hours_leaving_a_message_is_closed_with_a_call_back(
    tmp_path: Path, reason: str
) -> None:
    call = CelCall(LINKEDID).reaches_the_fallback()
    call.user("hotline_closed", reason, exten="closed")
    call.user("hotline_message", RECORDING, exten="message")
    message_row = call.last_id
    call.hangup(call.caller, source=call.caller.channame).ends()

    summary = summary_of(tmp_path, call)

    record = summary.record
    assert record.outcome is Outcome.CLOSED
    assert record.recording == RECORDING
    assert record.callback == Callback.PENDING
    assert record.branch_key is None
    assert kinds(summary) == ["answered", "fallback", "recording", "ended"]
    (recording,) = [e for e in summary.events if e.kind == "recording"]
    assert recording.detail == {"source": "cel", "name": RECORDING}
    assert recording.key == f"cel:{LINKEDID}:{message_row}"


def test_desks_that_do_not_answer_in_the_fallback_are_unreachable(tmp_path: Path) -> None:
    call = CelCall(LINKEDID).reaches_the_fallback().branch(4)
    for number, extension in enumerate(["1401", "1402"], start=1):
        desk = call.desk(extension, number)
        call.hangup(desk, source=desk.channame, cause=17)  # busy
    call.user("hotline_unreachable", exten="unreachable")
    call.user("hotline_message", RECORDING, exten="message")
    call.hangup(call.caller, source="dialplan/builtin").ends()

    summary = summary_of(tmp_path, call)

    record = summary.record
    assert record.outcome is Outcome.DESK_UNREACHABLE
    assert (record.branch_key, record.branch_name) == (4, "Cải cách thủ tục hành chính")
    assert (record.desk_dialled, record.desk_answered) == ("1401,1402", None)
    assert record.bridged_at is None
    assert (record.hangup_by, record.hangup_cause) == ("system", 16)
    assert (record.recording, record.callback) == (RECORDING, Callback.PENDING)
    assert kinds(summary) == ["answered", "fallback", "branch", "recording", "ended"]


def test_no_key_on_every_attempt_in_the_fallback_is_no_selection(tmp_path: Path) -> None:
    call = CelCall(LINKEDID).reaches_the_fallback().user("hotline_no_selection", exten="s")
    call.hangup(call.caller, source="dialplan/builtin").ends()

    summary = summary_of(tmp_path, call)

    assert summary.record.outcome is Outcome.NO_SELECTION
    assert summary.record.hangup_by == "system"
    assert summary.record.branch_key is None
    assert kinds(summary) == ["answered", "fallback", "ended"]


def test_caller_hanging_up_while_the_desk_rings_abandons_while_ringing(
    tmp_path: Path,
) -> None:
    call = CelCall(LINKEDID).reaches_the_fallback().branch(4)
    desk = call.desk("1401", 1)
    call.hangup(desk, source=call.caller.channame)  # Dial() cancels the ringing leg
    call.hangup(call.caller, source=call.caller.channame, dialstatus="CANCEL").ends()

    summary = summary_of(tmp_path, call)

    record = summary.record
    assert record.outcome is Outcome.ABANDONED_WHILE_RINGING
    assert record.branch_key == 4 and record.desk_answered is None
    assert record.hangup_by == "caller"
    assert kinds(summary) == ["answered", "fallback", "branch", "ended"]


def test_call_the_service_handled_is_not_marked_as_a_fallback_call(tmp_path: Path) -> None:
    call = CelCall(LINKEDID)
    call.add("CHAN_START", call.caller, context="hotline-public", exten="19001080")
    call.add("ANSWER", call.caller, appname="Stasis", appdata="hotline")
    call.hangup(call.caller, source=call.caller.channame).ends()

    summary = summary_of(tmp_path, call)

    assert not summary.fallback
    assert kinds(summary) == ["answered", "ended"]


def test_group_without_the_start_of_its_linkedid_channel_is_not_a_hotline_call(
    tmp_path: Path,
) -> None:
    call = CelCall(LINKEDID)
    desk = call.desk("1201", 1)  # only a leg whose uniqueid is not the linkedid
    call.hangup(desk, source=desk.channame)
    call.add("LINKEDID_END", desk)

    assert summarise(cel_rows(tmp_path, call.rows), CONFIG) is None


@pytest.mark.parametrize(("event", "extra", "exten"), [
    ("hotline_closed", "closed", "closed"),
    ("hotline_unreachable", "", "unreachable"),
])
def test_caller_not_served_by_the_fallback_needs_a_call_back_even_without_a_message(
    tmp_path: Path, event: str, extra: str, exten: str
) -> None:
    call = CelCall(LINKEDID).reaches_the_fallback().user(event, extra, exten=exten)
    call.hangup(call.caller, source=call.caller.channame).ends()

    summary = summary_of(tmp_path, call)

    assert summary.record.recording is None
    assert summary.record.callback == Callback.PENDING


@pytest.mark.parametrize("given", ["=1+2", "'%3B--", "9" * 500])
def test_fallback_caller_id_that_is_no_number_is_unknown_and_owed_no_call_back(
    tmp_path: Path, given: str
) -> None:
    call = CelCall(LINKEDID, caller_number=given).reaches_the_fallback()
    call.user("hotline_closed", "hours", exten="closed")
    call.user("hotline_message", RECORDING, exten="message")
    call.hangup(call.caller, source=call.caller.channame).ends()

    record = summary_of(tmp_path, call).record

    assert record.caller_number == "unknown"
    assert record.callback == Callback.NO_NUMBER


def test_fallback_call_from_a_known_station_names_its_agency(tmp_path: Path) -> None:
    call = CelCall(LINKEDID, caller_number="2001").reaches_the_fallback()
    call.hangup(call.caller, source=call.caller.channame).ends()

    assert summary_of(tmp_path, call).record.caller_agency == "Sở Nội vụ"


# --- grouping rows per call -------------------------------------------------------------


def test_finished_calls_keeps_the_calls_whose_trail_is_complete(tmp_path: Path) -> None:
    done_first = CelCall("1795473100.1", first_id=1).reaches_the_fallback()
    done_first.hangup(done_first.caller, source=done_first.caller.channame).ends()
    talking = CelCall("1795473101.2", first_id=done_first.last_id + 1).reaches_the_fallback()
    done_later = CelCall("1795473102.3", first_id=talking.last_id + 1).reaches_the_fallback()
    done_later.hangup(done_later.caller, source=done_later.caller.channame).ends()
    ringing = CelCall("1795473103.4", first_id=done_later.last_id + 1).reaches_the_fallback()
    rows = cel_rows(tmp_path, [*done_first.rows, *talking.rows, *done_later.rows,
                               *ringing.rows])

    done, first_pending = finished_calls(rows, now=TRAIL_NOW)

    assert sorted(done) == ["1795473100.1", "1795473102.3"]
    assert [r.id for r in done["1795473100.1"]] == [r[0] for r in done_first.rows]
    assert [r.id for r in done["1795473102.3"]] == [r[0] for r in done_later.rows]
    assert first_pending == talking.rows[0][0]  # reading must start again there


def test_finished_calls_has_nothing_pending_when_every_call_ended(tmp_path: Path) -> None:
    done, first_pending = finished_calls(cel_rows(tmp_path, FALLBACK_CONNECTED), now=TRAIL_NOW)
    assert list(done) == [FALLBACK_LINKEDID] and len(done[FALLBACK_LINKEDID]) == 13
    assert first_pending is None
    assert finished_calls([], now=TRAIL_NOW) == ({}, None)


# --- the SQLite file --------------------------------------------------------------------


def test_read_cel_returns_rows_after_the_mark_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "cel.db"
    write_cel(path, FALLBACK_CONNECTED[8:])  # inserted out of order
    write_cel(path, FALLBACK_CONNECTED[:8])

    assert [r.id for r in read_cel(path, 0)] == list(range(1, 14))
    assert [r.id for r in read_cel(path, 10)] == [11, 12, 13]
    assert [r.id for r in read_cel(path, 2, limit=3)] == [3, 4, 5]
    assert read_cel(path, 13) == []


def test_read_cel_parses_times_and_the_json_extra(tmp_path: Path) -> None:
    path = tmp_path / "cel.db"
    write_cel(path, FALLBACK_CONNECTED)
    rows = {r.id: r for r in read_cel(path, 0)}

    first = rows[1]
    assert (first.eventtype, first.cidnum, first.context, first.exten) == (
        "CHAN_START", "0907410001", "hotline-public", "19001080")
    assert (first.channame, first.uniqueid, first.linkedid) == (
        "PJSIP/anonymous-00000000", "1795473076.0", "1795473076.0")
    assert first.at == datetime(2026, 11, 23, 22, 31, 16, 15518, tzinfo=UTC)
    assert first.extra == {}
    assert rows[4].extra == {"extra": "2"}
    assert rows[8].peer == "PJSIP/1201-00000001"
    assert rows[11].extra == {"hangupcause": 16, "hangupsource": "PJSIP/1201-00000001",
                              "dialstatus": "ANSWER"}


def test_read_cel_tolerates_empty_columns_and_a_broken_extra(tmp_path: Path) -> None:
    path = tmp_path / "cel.db"
    db = sqlite3.connect(path)
    db.execute(CEL_TABLE)
    db.execute("INSERT INTO cel (AcctId, eventtype, eventtime, uniqueid, linkedid, eventextra)"
               " VALUES (1, 'HANGUP', '1795473076.5', '1.0', '1.0', '{\"hangupcause\":')")
    db.execute("INSERT INTO cel (AcctId, eventtype, eventtime, uniqueid, linkedid, eventextra)"
               " VALUES (2, 'CHAN_END', '1795473077', '1.0', '1.0', NULL)")
    db.commit()
    db.close()

    broken, empty = read_cel(path, 0)

    assert broken.extra == {} and empty.extra == {}
    assert (broken.cidnum, broken.cidname, broken.channame, broken.peer) == ("", "", "", "")
    assert empty.at == datetime.fromtimestamp(1795473077, UTC)


def test_read_cel_without_a_file_or_a_table_reads_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "cel.db"
    assert read_cel(missing, 0) == []
    assert not missing.exists()  # reading never creates Asterisk's file

    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    assert read_cel(other, 0) == []


def test_read_cel_reads_a_file_whose_path_has_uri_characters(tmp_path: Path) -> None:
    directory = tmp_path / "log#1"
    directory.mkdir()
    path = directory / "cel.db"
    write_cel(path, FALLBACK_CONNECTED)

    rows = read_cel(path, 0)

    assert not (tmp_path / "log").exists()
    assert len(rows) == 13
    assert cel_last_id(path) == 13


def test_cel_last_id_is_the_newest_row_or_zero(tmp_path: Path) -> None:
    path = tmp_path / "cel.db"
    assert cel_last_id(path) == 0  # no file yet
    sqlite3.connect(path).close()
    assert cel_last_id(path) == 0  # no table yet
    write_cel(path, [])
    assert cel_last_id(path) == 0  # no row yet
    write_cel(path, FALLBACK_CONNECTED)
    assert cel_last_id(path) == 13


def test_read_page_reads_one_page_and_carries_the_calls_still_going(tmp_path: Path) -> None:
    path = tmp_path / "cel.db"
    write_cel(path, FALLBACK_CONNECTED)

    first = read_page(path, 2, page=4, carried=[], now=TRAIL_NOW)
    assert (first.rows, first.last_id, first.ended) == (4, 6, [])
    assert [r.id for r in first.going] == [3, 4, 5, 6]
    assert first.resume_at == 3

    rest = read_page(path, 6, page=10, carried=first.going, now=TRAIL_NOW)
    assert (rest.rows, rest.last_id, rest.going, rest.resume_at) == (7, 13, [], None)
    ((linkedid, rows),) = rest.ended
    assert linkedid == FALLBACK_LINKEDID and [r.id for r in rows] == list(range(3, 14))

    nothing = read_page(path, 13, page=4, carried=[], now=TRAIL_NOW)
    assert (nothing.rows, nothing.last_id, nothing.ended, nothing.going) == (0, None, [], [])


def test_a_cel_file_in_wal_mode_is_read_while_asterisk_writes(tmp_path: Path) -> None:
    """`use_wal` before Asterisk's first write (the table is Asterisk's to create):
    the mode sticks, and a reader neither waits for nor blocks a writer's commit."""
    path = tmp_path / "cel.db"
    assert use_wal(path)
    write_cel(path, FALLBACK_CONNECTED[:3])
    first = sorted(r.id for r in read_cel(path, 0))
    writer = sqlite3.connect(path, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(f"INSERT INTO cel VALUES ({','.join('?' * 15)})",
                       (100, *FALLBACK_CONNECTED[0][1:]))
        assert [r.id for r in read_cel(path, 0)] == first
        writer.commit()
    finally:
        writer.close()
    assert [r.id for r in read_cel(path, 0)] == [*first, 100]
    assert use_wal(path)  # again: nothing to change
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
