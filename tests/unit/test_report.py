"""The report's figures (`reports.figures`) on a hand-built call log whose answers are known:
every bucket, a call spanning midnight, a holiday call, calls with no branch, a branch no
longer configured, the period's edges, survey scores, percentiles of small samples.

`sample_calls()` / `sample_cases()` are also the data of test_report_render.py,
test_report_cli.py and tests/integration/test_report_db.py; their figures are spelt out
in `test_sample_totals` and below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from calllog.model import Callback, CallRecord, Case, CaseStatus, Outcome, SurveyResult
from calllog.queries import CallbackFigures
from reports.figures import (
    NO_BRANCH,
    NO_CASE_AGENCY,
    BranchInfo,
    CallFacts,
    Counts,
    ReportPeriod,
    ReportSetup,
    compute_report,
    nearest_rank,
    satisfied_scores,
)
from reports.labels import Bucket
from reports.markdown import render_markdown
from reports.tables import report_tables

ICT = ZoneInfo("Asia/Ho_Chi_Minh")
NAME = "Tổng đài hỗ trợ công tác cải cách hành chính tỉnh Hậu Giang"
BRANCH_1 = "1. Công tác chỉ đạo điều hành"
BRANCH_4 = "4. Cải cách thủ tục hành chính"
BRANCH_5 = "5. Tổ chức bộ máy và đào tạo"
BRANCH_9 = "9. Tư vấn các vấn đề khác"  # not in SETUP: a branch since removed
SETUP = ReportSetup(
    hotline_name=NAME,
    hotline_number="19001080",
    branches=(
        BranchInfo(1, "Công tác chỉ đạo điều hành", "Sở Nội vụ"),
        BranchInfo(4, "Cải cách thủ tục hành chính", "Văn phòng UBND tỉnh"),
        BranchInfo(5, "Tổ chức bộ máy và đào tạo", "Sở Nội vụ"),
    ),
    day_notes={date(2026, 9, 2): "Quốc khánh"},
    non_working_days=frozenset({date(2026, 9, 2)}),
)
PERIOD = ReportPeriod(date(2026, 9, 1), date(2026, 9, 3))


def at(text: str) -> datetime:
    """A local (ICT) time, "2026-09-01 08:00:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=ICT)


def call(
    call_id: str,
    start: str,
    outcome: Outcome | None,
    branch: int | None = None,
    *,
    wait: float | None = None,
    talk: float | None = None,
    **fields: object,
) -> CallRecord:
    """A call started at local `start`; connected ones bridged after `wait` s, ended after
    `talk` s more; others end a minute after they start (unless `ended_at` is given)."""
    started = at(start)
    record = CallRecord(call_id=call_id, caller_number="0900000000", started_at=started,
                        answered_at=started + timedelta(seconds=1), outcome=outcome)
    if branch is not None:
        names = {1: "Công tác chỉ đạo điều hành", 4: "Cải cách thủ tục hành chính",
                 5: "Tổ chức bộ máy và đào tạo", 9: "Tư vấn các vấn đề khác"}
        record.branch_key, record.branch_name = branch, names[branch]
    if wait is not None:
        record.bridged_at = started + timedelta(seconds=wait)
        if talk is not None:
            record.ended_at = record.bridged_at + timedelta(seconds=talk)
    elif outcome is not None:
        record.ended_at = started + timedelta(minutes=1)
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def sample_calls() -> list[CallRecord]:
    """Fourteen calls in PERIOD (c0..c13) and two just outside it, shuffled."""
    calls = [
        call("c0", "2026-09-01 00:00:00", Outcome.CLOSED),  # the first instant of the period
        call("c1", "2026-09-01 08:00:00", Outcome.CONNECTED, 1, wait=30, talk=200,
             survey=SurveyResult.ANSWERED, survey_score=5),
        call("c2", "2026-09-01 09:00:00", Outcome.CONNECTED, 4, wait=10.9, talk=60,
             agency="Văn phòng UBND tỉnh (cũ)", survey=SurveyResult.ANSWERED, survey_score=4),
        call("c3", "2026-09-01 10:00:00", Outcome.CONNECTED, 4, wait=50, talk=100,
             survey=SurveyResult.ANSWERED, survey_score=2),
        call("c4", "2026-09-01 10:30:00", Outcome.DESK_UNREACHABLE, 4, callback="pending"),
        call("c5", "2026-09-01 11:00:00", Outcome.ABANDONED_WHILE_RINGING, 5),
        call("c6", "2026-09-01 11:10:00", Outcome.ABANDONED_IN_MENU),
        call("c7", "2026-09-01 23:59:30", Outcome.CLOSED, callback="done",
             ended_at=at("2026-09-02 00:01:00"), callback_done_at=at("2026-09-02 08:00:00")),
        call("c8", "2026-09-02 09:00:00", Outcome.CLOSED, callback="pending"),  # holiday
        call("c9", "2026-09-03 23:58:00", Outcome.CONNECTED, 1, wait=20, talk=300,
             survey=SurveyResult.SKIPPED),  # ends on 09-04, after the period
        call("c10", "2026-09-03 08:00:00", Outcome.CONNECTED, 9, agency="Tổ vận hành Tổng đài",
             survey=SurveyResult.ANSWERED, survey_score=7),  # no bridged_at; off the scale
        call("c11", "2026-09-03 08:30:00", Outcome.FAILED, 1, survey=SurveyResult.HUNG_UP),
        call("c12", "2026-09-03 09:00:00", None),  # still in progress
        call("c13", "2026-09-03 10:00:00", Outcome.NO_SELECTION),
        call("before", "2026-08-31 23:59:59", Outcome.CONNECTED, 1, wait=5, talk=5),
        call("after", "2026-09-04 00:00:00", Outcome.CONNECTED, 1, wait=5, talk=5),
    ]
    return calls[1::2] + calls[::2]  # the order given does not matter


def case(case_id: int, opened: str, status: CaseStatus, agency: str | None) -> Case:
    return Case(id=case_id, call_id=None, category="Cải cách thủ tục hành chính",
                opened_at=at(opened), opened_by="desk 1401", status=status, agency=agency,
                recording=f"vm-{case_id}")


def sample_cases() -> list[Case]:
    return [
        case(1, "2026-09-01 10:35:00", CaseStatus.FORWARDED, "Văn phòng UBND tỉnh"),
        case(2, "2026-09-03 09:00:00", CaseStatus.RESOLVED, "Sở Nội vụ"),
        case(3, "2026-09-02 09:05:00", CaseStatus.RECEIVED, None),
        case(4, "2026-09-04 00:00:00", CaseStatus.RECEIVED, None),  # after the period
        case(5, "2026-08-31 12:00:00", CaseStatus.REJECTED, "Sở Nội vụ"),  # before it
    ]


def counts(received: int, chose: int, **buckets: int) -> Counts:
    return Counts(received, chose, {b: buckets.get(b.value, 0) for b in Bucket})


def test_sample_totals() -> None:
    report = compute_report(sample_calls(), sample_cases(), SETUP, PERIOD)
    assert report.total == counts(14, 8, connected=5, menu=2, missed=2, outside_hours=3, other=2)
    assert report.total.answer_rate == Fraction(5, 8)
    assert report.total.answer_rate_of_all == Fraction(5, 14)
    assert report.non_working_day_calls == 1


def test_every_call_in_exactly_one_bucket_and_the_period_edges() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    assert [f.call_id for f in report.calls] == [
        "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8",
        "c10", "c11", "c12", "c13", "c9",
    ]  # by start time; "before" and "after" are outside the period
    for label, row in (*report.by_branch, *report.by_agency, *report.by_day):
        assert row.received == sum(row.buckets.values()), label


def test_per_branch_with_a_removed_branch_and_no_branch_last() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    assert report.by_branch == (
        (BRANCH_1, counts(3, 3, connected=2, other=1)),
        (BRANCH_4, counts(3, 3, connected=2, missed=1)),
        (BRANCH_5, counts(1, 1, missed=1)),
        (BRANCH_9, counts(1, 1, connected=1)),
        (NO_BRANCH, counts(6, 0, menu=2, outside_hours=3, other=1)),
    )
    assert dict(report.by_branch)[NO_BRANCH].answer_rate is None


def test_per_agency_as_the_call_recorded_it_else_the_branch_agency() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    assert report.by_agency == (
        ("Sở Nội vụ", counts(4, 4, connected=2, missed=1, other=1)),  # branches 1 and 5
        ("Văn phòng UBND tỉnh", counts(2, 2, connected=1, missed=1)),
        ("Tổ vận hành Tổng đài", counts(1, 1, connected=1)),
        ("Văn phòng UBND tỉnh (cũ)", counts(1, 1, connected=1)),
        (NO_BRANCH, counts(6, 0, menu=2, outside_hours=3, other=1)),
    )


def test_per_day_counts_a_call_spanning_midnight_on_its_first_day() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    assert report.by_day == (
        (date(2026, 9, 1), counts(8, 5, connected=3, menu=1, missed=2, outside_hours=2)),
        (date(2026, 9, 2), counts(1, 0, outside_hours=1)),
        (date(2026, 9, 3), counts(5, 3, connected=2, menu=1, other=2)),
    )
    facts = {f.call_id: f for f in report.calls}
    assert facts["c7"].day == date(2026, 9, 1)
    assert facts["c9"].day == date(2026, 9, 3)
    assert facts["c9"].talk_seconds == 300  # all of it, past midnight and past the period


def test_a_holiday_call_is_outside_hours_on_a_non_working_day() -> None:
    facts = {f.call_id: f for f in compute_report(sample_calls(), None, SETUP, PERIOD).calls}
    assert facts["c8"].bucket is Bucket.OUTSIDE_HOURS
    assert (facts["c8"].non_working_day, facts["c8"].day_note) == (True, "Quốc khánh")
    assert (facts["c1"].non_working_day, facts["c1"].day_note) == (False, "")


def test_outcomes_each_with_its_count_in_a_fixed_order() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    assert report.outcomes == (
        (Outcome.CONNECTED, 5), (Outcome.ABANDONED_IN_MENU, 1), (Outcome.NO_SELECTION, 1),
        (Outcome.DESK_UNREACHABLE, 1), (Outcome.ABANDONED_WHILE_RINGING, 1), (Outcome.CLOSED, 3),
        (Outcome.REFUSED, 0),
        (Outcome.FAILED, 1), (None, 1),
    )


def test_waiting_and_talk_times_in_whole_seconds_nearest_rank() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    # waits 30, 10.9 -> 10, 50, 20 (c10 has no bridged_at: left out)
    assert (report.wait.count, report.wait.median, report.wait.p90, report.wait.total) == (
        4, 20, 50, 110)
    assert (report.talk.count, report.talk.median, report.talk.p90, report.talk.total) == (
        4, 100, 300, 660)
    facts = {f.call_id: f for f in report.calls}
    assert (facts["c2"].wait_seconds, facts["c2"].talk_seconds) == (10, 60)
    assert (facts["c10"].wait_seconds, facts["c4"].wait_seconds) == (None, None)


def test_talk_time_stops_when_caller_or_desk_hung_up_not_after_the_survey() -> None:
    surveyed = call("s", "2026-09-01 08:00:00", Outcome.CONNECTED, 1, wait=20, talk=100)
    assert surveyed.bridged_at is not None and surveyed.ended_at is not None
    surveyed.talk_ended_at = surveyed.bridged_at + timedelta(seconds=90)  # then 10 s survey
    old_row = call("o", "2026-09-01 09:00:00", Outcome.CONNECTED, 1, wait=20, talk=100)
    facts = {f.call_id: f for f in compute_report([surveyed, old_row], None, SETUP,
                                                  PERIOD).calls}
    assert (facts["s"].talk_seconds, facts["o"].talk_seconds) == (90, 100)


def test_a_bridge_before_the_start_waits_zero_seconds() -> None:
    odd = call("c", "2026-09-01 08:00:00", Outcome.CONNECTED, 1, wait=-2, talk=10)
    assert compute_report([odd], None, SETUP, PERIOD).calls[0].wait_seconds == 0


def test_callbacks_pending_and_handled() -> None:
    callbacks = compute_report(sample_calls(), None, SETUP, PERIOD).callbacks
    assert (callbacks.needed, callbacks.done, callbacks.pending) == (3, 1, 2)


def test_survey_distribution_and_satisfied_share() -> None:
    survey = compute_report(sample_calls(), None, SETUP, PERIOD).survey
    assert survey.offered == 6
    assert survey.results == {SurveyResult.ANSWERED: 4, SurveyResult.SKIPPED: 1,
                              SurveyResult.NO_ANSWER: 0, SurveyResult.HUNG_UP: 1}
    assert survey.scored == 3  # the 7 is not on the 1-5 scale
    assert survey.distribution == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert (survey.satisfied, survey.satisfied_rate, survey.mean) == (
        2, Fraction(2, 3), Fraction(11, 3))


def test_survey_on_another_scale() -> None:
    setup = ReportSetup(NAME, "19001080", SETUP.branches, survey_scale=3)
    calls = [call(f"s{score}", "2026-09-01 08:00:00", Outcome.CONNECTED, 1, wait=1, talk=1,
                  survey=SurveyResult.ANSWERED, survey_score=score) for score in (1, 2, 3, 4)]
    survey = compute_report(calls, None, setup, PERIOD).survey
    assert (survey.distribution, survey.satisfied, survey.scored) == ({1: 1, 2: 1, 3: 1}, 1, 3)


@pytest.mark.parametrize(("scale", "scores"), [(5, (4, 5)), (2, (2, 2)), (3, (3, 3)),
                                               (4, (4, 4)), (9, (8, 9)), (10, (8, 10))])
def test_satisfied_is_at_least_four_fifths_of_the_scale(
    scale: int, scores: tuple[int, int]
) -> None:
    assert satisfied_scores(scale) == scores


def test_cases_by_status_and_agency_opened_in_the_period() -> None:
    cases = compute_report(sample_calls(), sample_cases(), SETUP, PERIOD).cases
    assert cases is not None
    assert cases.total == 3
    assert [c.id for c in cases.cases] == [1, 3, 2]  # oldest first
    assert cases.by_status == {CaseStatus.RECEIVED: 1, CaseStatus.FORWARDED: 1,
                               CaseStatus.VERIFYING: 0, CaseStatus.RESOLVED: 1,
                               CaseStatus.REJECTED: 0}
    assert [(agency, sum(n.values())) for agency, n in cases.by_agency] == [
        ("Sở Nội vụ", 1), ("Văn phòng UBND tỉnh", 1), (NO_CASE_AGENCY, 1)]


def test_no_case_figures_when_the_log_has_no_cases() -> None:
    assert compute_report(sample_calls(), None, SETUP, PERIOD).cases is None


def test_an_empty_period() -> None:
    report = compute_report([], [], SETUP, PERIOD)
    assert report.total == counts(0, 0)
    assert (report.total.answer_rate, report.total.answer_rate_of_all) == (None, None)
    assert [label for label, _ in report.by_branch] == [BRANCH_1, BRANCH_4, BRANCH_5]
    assert [day for day, _ in report.by_day] == PERIOD.days()
    assert (report.wait.median, report.wait.p90, report.talk.total) == (None, None, 0)
    assert (report.survey.satisfied_rate, report.survey.mean) == (None, None)
    assert report.cases is not None and report.cases.total == 0
    assert report.calls == ()


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([7], Fraction(1, 2), 7),
    ([7], Fraction(9, 10), 7),
    ([2, 1], Fraction(1, 2), 1),  # the lower middle
    ([3, 1, 2], Fraction(1, 2), 2),
    ([1, 2, 3, 4], Fraction(1, 2), 2),
    (list(range(1, 11)), Fraction(9, 10), 9),
    (list(range(1, 12)), Fraction(9, 10), 10),  # rank ceil(9.9) = 10
    (list(range(1, 11)), Fraction(1), 10),
    ([], Fraction(1, 2), None),
])
def test_nearest_rank(values: list[int], p: Fraction, expected: int | None) -> None:
    assert nearest_rank(values, p) == expected


def test_nearest_rank_refuses_a_percentile_outside_0_1() -> None:
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([1], Fraction(0))


def test_period_bounds_are_local_midnights_and_inclusive() -> None:
    assert PERIOD.bounds("Asia/Ho_Chi_Minh") == (
        datetime(2026, 8, 31, 17, tzinfo=UTC), datetime(2026, 9, 3, 17, tzinfo=UTC))
    assert PERIOD.days() == [date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)]
    with pytest.raises(ValueError, match="before it starts"):
        ReportPeriod(date(2026, 9, 3), date(2026, 9, 1))


def test_calls_stored_in_utc_count_on_their_local_day() -> None:
    utc = call("u", "2026-09-01 08:00:00", Outcome.CLOSED)
    utc.started_at = datetime(2026, 9, 1, 16, 59, 59, tzinfo=UTC)  # 23:59:59 ICT
    facts: CallFacts = compute_report([utc], None, SETUP, PERIOD).calls[0]
    assert (facts.day, facts.started_at.utcoffset()) == (date(2026, 9, 1), timedelta(hours=7))


def test_callback_values_read_back_as_the_enum() -> None:
    facts = {f.call_id: f for f in compute_report(sample_calls(), None, SETUP, PERIOD).calls}
    assert facts["c4"].callback is Callback.PENDING
    assert facts["c1"].callback is None


def test_call_back_results_are_a_table_row_each_and_a_sentence() -> None:
    figures = CallbackFigures(needed=3, pending=1, done=2, reached=1, wrong_number=1,
                              attempts=4, times_to_callback=[timedelta(hours=2),
                                                             timedelta(hours=30)],
                              by_result={"wrong_number": 1, "reached": 1, "no_answer": 1})
    report = compute_report(sample_calls(), None, SETUP, PERIOD, figures)
    assert report.callbacks.results is not None
    assert report.callbacks.results.median_seconds == 2 * 3600  # nearest rank: the lower
    table = next(t for t in report_tables(report) if t.key == "goi_lai")
    assert [row[0] for row in table.rows][3:] == [
        "Đã gọi lại: liên lạc được với người dân", "Đã gọi lại: sai số điện thoại",
        "Số lần gọi lại (kể cả không liên lạc được)",
        "Thời gian đến khi gọi lại, trung vị (giây)",
        # by the last call back's result: the known ones, zeros included, then others
        "Kết quả lần gọi lại gần nhất: Đã liên lạc được",
        "Kết quả lần gọi lại gần nhất: Không liên lạc được",
        "Kết quả lần gọi lại gần nhất: Sai số",
        "Kết quả lần gọi lại gần nhất: no_answer"]
    assert [row[1] for row in table.rows][3:6] == [1, 1, 4]
    assert [row[1] for row in table.rows][7:] == [1, 0, 1, 1]
    assert "**1** cuộc liên lạc được với người dân" in render_markdown(
        report, report_tables(report))


def test_without_call_back_results_the_table_keeps_its_three_rows() -> None:
    report = compute_report(sample_calls(), None, SETUP, PERIOD)
    assert report.callbacks.results is None
    table = next(t for t in report_tables(report) if t.key == "goi_lai")
    assert len(table.rows) == 3
