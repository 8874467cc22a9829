"""The call-centre figures (`reports.queue_figures`): service level with its denominator,
queue wait percentiles, abandoned in queue, per-desk calls, talk and pause time, and
their place in the report (`compute_report`) and its tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from calllog.model import CallRecord, Outcome, QueueResult
from calllog.presence import PresenceChange, PresenceHistory
from reports.figures import BranchInfo, ReportPeriod, ReportSetup, compute_report
from reports.queue_figures import pause_seconds, queue_stats, queue_tallies
from reports.tables import cell_text, report_tables

T0 = datetime(2026, 9, 15, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội time
SETUP = ReportSetup("Tổng đài", "1900", (BranchInfo(4, "Cải cách thủ tục hành chính", "VP"),))
PERIOD = ReportPeriod(date(2026, 9, 15), date(2026, 9, 15))


def call(n: int, outcome: Outcome | None, *, waited: float | None = None,
         result: str | None = None, desk: str | None = None, talk: float = 60.0) -> CallRecord:
    record = CallRecord(call_id=f"c{n}", caller_number="0911000000",
                        started_at=T0 + timedelta(minutes=n), outcome=outcome, branch_key=4)
    left = record.started_at + timedelta(seconds=5)
    if waited is not None:
        record.queue_joined_at = left
        left = left + timedelta(seconds=waited)
        record.queue_left_at, record.queue_result = left, result
    if outcome == Outcome.CONNECTED:
        record.bridged_at, record.desk_answered = left, desk
        record.ended_at = left + timedelta(seconds=talk)
    return record


def calls() -> list[CallRecord]:
    return [
        call(1, Outcome.CONNECTED, desk="2001"),  # no queue: within every level
        call(2, Outcome.CONNECTED, waited=20.9, result="answered", desk="2001"),  # 20 s
        call(3, Outcome.CONNECTED, waited=21.0, result="answered", desk="2002"),
        call(4, Outcome.CONNECTED, waited=31.0, result="answered", desk="2002", talk=90.5),
        call(5, Outcome.ABANDONED_WHILE_RINGING, waited=12.0, result="abandoned"),
        call(6, Outcome.DESK_UNREACHABLE, waited=300.0, result="max_wait"),
        call(7, Outcome.ABANDONED_IN_MENU),  # never offered to a desk or a queue
        call(8, Outcome.CLOSED),
        call(9, Outcome.ABANDONED_WHILE_RINGING),  # rang a free desk, hung up: offered
        call(10, None, waited=None),  # in progress
    ]


def test_service_level_counts_answers_within_the_limit_over_calls_offered() -> None:
    report = compute_report(calls(), None, SETUP, PERIOD)
    queue = report.queue
    assert queue is not None
    assert queue.offered == 7  # connected 4, abandoned while ringing 2, no desk 1
    assert queue.answered == 4
    by_limit = {s.seconds: (s.within, s.offered, s.rate) for s in queue.service_levels}
    assert by_limit == {20: (2, 7, Fraction(2, 7)), 30: (3, 7, Fraction(3, 7))}


def test_queue_wait_is_median_and_p90_of_every_caller_who_queued() -> None:
    queue = compute_report(calls(), None, SETUP, PERIOD).queue
    assert queue is not None
    # waits 20, 21, 31, 12, 300 -> sorted 12, 20, 21, 31, 300
    assert (queue.wait.count, queue.wait.median, queue.wait.p90) == (5, 21, 300)
    assert queue.queued == 5


def test_abandoned_in_queue_is_counted_apart_from_other_abandoned_calls() -> None:
    queue = compute_report(calls(), None, SETUP, PERIOD).queue
    assert queue is not None
    assert queue.abandoned == 1  # call 9 hung up while a desk rang, not in a queue
    assert queue.by_result == {"answered": 3, "max_wait": 1, "abandoned": 1, "callback": 0}


def test_a_reason_a_newer_service_writes_is_counted_after_the_known_ones() -> None:
    stats = queue_stats({Outcome.ABANDONED_WHILE_RINGING: 1},
                        {"keep_place": {40: 1}}, {})
    assert list(stats.by_result) == [*(r.value for r in QueueResult), "keep_place"]
    assert stats.by_result["keep_place"] == 1 and stats.wait.median == 40


def test_no_calls_offered_gives_no_rates() -> None:
    stats = queue_stats({}, {}, {})
    assert [s.rate for s in stats.service_levels] == [None, None]
    assert stats.wait.median is None and stats.abandoned == 0


def test_desks_get_their_answered_calls_and_talk_time() -> None:
    report = compute_report(calls(), None, SETUP, PERIOD)
    rows = {d.extension: (d.calls, d.talk_seconds, d.pause_seconds) for d in report.desks}
    assert rows == {"2001": (2, 120, None), "2002": (2, 150, None)}


def test_queue_tallies_count_what_the_database_counts() -> None:
    waits, connected, talk = queue_tallies(calls())
    assert waits == {"answered": {20: 1, 21: 1, 31: 1}, "abandoned": {12: 1},
                     "max_wait": {300: 1}}
    assert connected == {20: 1, 21: 1, 31: 1}
    assert talk == {"2001": {60: 2}, "2002": {60: 1, 90: 1}}


def change(desk: str, minutes: float, paused: bool, logged_in: bool = True) -> PresenceChange:
    return PresenceChange(desk, T0 + timedelta(minutes=minutes), logged_in, paused)


def test_pause_time_is_clipped_to_the_period_and_ends_with_a_resume_or_log_out() -> None:
    since, until = T0, T0 + timedelta(hours=2)
    changes = [
        change("2001", -30, True), change("2001", 10, False),  # from the start: 10 min
        change("2002", 5, True), change("2002", 7.5, True, logged_in=False),  # 2.5 min
        change("2002", 20, False),  # logged back in: not paused
        change("2003", 110, True),  # still paused at the end: 10 min
        change("2004", 0, False),  # never paused: left out
        change("2005", 200, True),  # after the period
    ]
    assert pause_seconds(changes, since, until) == {"2001": 600, "2002": 150, "2003": 600}


def test_a_pause_still_running_counts_up_to_now() -> None:
    changes = [change("2001", 30, True)]
    assert pause_seconds(changes, T0, T0 + timedelta(days=1),
                         now=T0 + timedelta(minutes=45)) == {"2001": 900}
    assert pause_seconds(changes, T0, T0 + timedelta(days=1), now=T0 - timedelta(1)) == {}


def test_the_report_lists_desks_that_only_paused_with_their_pause_time() -> None:
    presence = PresenceHistory((change("2009", 0, True), change("2009", 3, False)))
    report = compute_report(calls(), None, SETUP, PERIOD, presence=presence)
    rows = {d.extension: (d.calls, d.pause_seconds) for d in report.desks}
    assert rows == {"2001": (2, 0), "2002": (2, 0), "2009": (0, 180)}


def test_the_queue_table_says_what_the_service_level_counts() -> None:
    tables = {t.key: t for t in report_tables(compute_report(calls(), None, SETUP, PERIOD))}
    rows = {str(r[0]): [cell_text(c) for c in r[1:]] for r in tables["hang_cho"].rows}
    level = next(label for label in rows if label.startswith("Mức phục vụ 20 giây"))
    assert "kể từ khi vào hàng chờ" in level and "cuộc gọi đến cán bộ hoặc hàng chờ" in level
    assert rows[level] == ["2", "28,6%"]
    assert rows["Rời hàng chờ: người gọi gác máy khi đang chờ"] == ["1", "20,0%"]
    assert [str(r[0]) for r in tables["theo_may_le"].rows] == ["2001", "2002"]
