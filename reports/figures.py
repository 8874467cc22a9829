"""The figures of the periodic hotline report, computed from plain call and case records.

Pure: no database, no clock, no configuration file. The caller reads the records,
`period_report.report_setup` makes the `ReportSetup` from the YAML, and the renderings
lay the result out; here every figure is defined once, so that the Markdown, CSV, XLSX,
the `--details` rows and the console cannot disagree.

Definitions (the README's "Reports" section says the same):

- Days are local days of `ReportSetup.timezone` (Asia/Ho_Chi_Minh); a period runs from
  its first day 00:00 to the end of its last day, both days included. A call belongs to
  the day it *started*: one that spans midnight counts on its first day, all of its talk
  time included. Cases belong to the day they were opened.
- Every call falls in exactly one `Bucket`: connected; "menu" (`abandoned_in_menu` and
  `no_selection`: no branch reached); "missed / no desk" (`desk_unreachable` and
  `abandoned_while_ringing`: a branch was chosen but no desk talked to the caller);
  "outside hours" (`closed`: closed hours, weekend or holiday); "other" (`failed`, and
  calls still in progress). So received = the sum of the five buckets in every row.
- Answer rate = connected / calls that chose a branch (`branch_key` set). The overall
  row also gives connected / all calls.
- Waiting time = `bridged_at - started_at` of connected calls: from the moment the call
  reached the hotline, greeting and menu included, to a desk on the line. Talk time =
  `talk_ended_at - bridged_at`: until caller or desk hung up, the post-call survey
  excluded (rows written before that column: `ended_at - bridged_at`). Both in whole
  seconds, rounded down (a negative difference, from a clock step, counts as 0); calls
  missing a time are left out.
- Percentiles are nearest-rank: the p-th of n sorted values is the one at rank
  ceil(p * n) (the median is p = 1/2, so the lower middle of an even count). Exact and
  reproducible: always a value that occurred.
- Calls with no branch are grouped as "Chưa chọn nhánh". A branch row is named after
  the branch in today's configuration (the name the call recorded if the key is gone);
  an agency row after the agency the call recorded, else the branch's agency today.
- Satisfaction: calls with a `survey_score` in 1..scale; "satisfied" = a score of at
  least 4/5 of the scale (4-5 on the default 1-5 scale). Call-back and case figures are
  the state of those records when the report is run (pending / handled, current status).
- Call-back results (of the period's calls): reached and wrong number count the calls
  whose closing call back had that result; attempts count every call back made (those
  that did not reach the caller too); the time to call back runs from the call's start
  to the call back that closed it, its median nearest-rank like the others.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from calllog.model import Callback, CallRecord, Case, CaseStatus, Outcome, SurveyResult
from calllog.queries import CallbackFigures
from reports.labels import BUCKET_OF, OUTCOME_LABELS, Bucket

NO_BRANCH = "Chưa chọn nhánh"
NO_CASE_AGENCY = "Chưa chuyển cơ quan xử lý"
MEDIAN = Fraction(1, 2)
P90 = Fraction(9, 10)


@dataclass(frozen=True)
class BranchInfo:
    key: int
    name: str
    agency: str

    @property
    def label(self) -> str:
        return f"{self.key}. {self.name}"


@dataclass(frozen=True)
class ReportSetup:
    """What the report needs of the hotline's configuration, as plain values."""

    hotline_name: str
    hotline_number: str
    branches: tuple[BranchInfo, ...]
    day_notes: Mapping[date, str] = field(default_factory=dict)
    """A note per local day, e.g. the holiday's name or "Thứ Bảy" (missing: a working day)."""
    non_working_days: frozenset[date] = frozenset()
    """Days the hotline's calendar is closed all day (weekends, holidays)."""
    timezone: str = "Asia/Ho_Chi_Minh"
    survey_scale: int = 5


@dataclass(frozen=True)
class ReportPeriod:
    """Local days `first` to `last`, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) as aware UTC instants: first day 00:00 to the day after the last."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.first, time(), zone).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(), zone).astimezone(UTC)
        return start, end


@dataclass(frozen=True)
class CallFacts:
    """One call as the report counts it: a row of the `--details` CSV."""

    call_id: str
    day: date
    started_at: datetime
    """Local time, as every time here."""
    bridged_at: datetime | None
    ended_at: datetime | None
    branch_key: int | None
    branch: str
    agency: str
    outcome: Outcome | None
    bucket: Bucket
    chose_branch: bool
    wait_seconds: int | None
    talk_seconds: int | None
    callback: Callback | None
    survey: SurveyResult | None
    survey_score: int | None
    """Only a score on the scale; anything else is left out of the survey figures."""
    satisfied: bool | None
    non_working_day: bool
    day_note: str


@dataclass(frozen=True)
class Counts:
    """One row of the per-branch, per-agency and per-day tables."""

    received: int = 0
    chose_branch: int = 0
    buckets: Mapping[Bucket, int] = field(default_factory=dict)

    def of(self, bucket: Bucket) -> int:
        return self.buckets.get(bucket, 0)

    @property
    def connected(self) -> int:
        return self.of(Bucket.CONNECTED)

    @property
    def answer_rate(self) -> Fraction | None:
        """Connected / calls that chose a branch."""
        return ratio(self.connected, self.chose_branch)

    @property
    def answer_rate_of_all(self) -> Fraction | None:
        """Connected / all calls."""
        return ratio(self.connected, self.received)


@dataclass(frozen=True)
class DurationStats:
    count: int
    median: int | None
    p90: int | None
    total: int


@dataclass(frozen=True)
class CallbackResults:
    """What staff's call backs of the period's calls achieved (`calllog.followup`)."""

    reached: int
    wrong_number: int
    attempts: int
    """Call backs made, those that did not reach the caller included."""
    median_seconds: int | None
    """From the call to the call back that closed it, nearest-rank median, whole seconds."""


@dataclass(frozen=True)
class CallbackStats:
    needed: int
    done: int
    pending: int
    results: CallbackResults | None = None
    """None when the call log keeps no call-back results (the in-memory log)."""


@dataclass(frozen=True)
class SurveyStats:
    scale: int
    offered: int
    """Calls where the survey was offered (`survey` set)."""
    results: Mapping[SurveyResult, int]
    scored: int
    distribution: Mapping[int, int]
    """Score -> calls, for every score 1..scale."""
    satisfied: int
    satisfied_rate: Fraction | None
    mean: Fraction | None

    @property
    def satisfied_scores(self) -> tuple[int, int]:
        return satisfied_scores(self.scale)


@dataclass(frozen=True)
class CaseStats:
    total: int
    by_status: Mapping[CaseStatus, int]
    by_agency: tuple[tuple[str, Mapping[CaseStatus, int]], ...]
    cases: tuple[Case, ...]
    """The cases counted, oldest first."""


@dataclass(frozen=True)
class Report:
    period: ReportPeriod
    setup: ReportSetup
    total: Counts
    non_working_day_calls: int
    by_branch: tuple[tuple[str, Counts], ...]
    by_agency: tuple[tuple[str, Counts], ...]
    by_day: tuple[tuple[date, Counts], ...]
    outcomes: tuple[tuple[Outcome | None, int], ...]
    wait: DurationStats
    talk: DurationStats
    callbacks: CallbackStats
    survey: SurveyStats
    cases: CaseStats | None
    """None when the call log cannot list cases."""
    calls: tuple[CallFacts, ...]
    """Every call counted, by start time: what each figure is made of."""


def compute_report(
    calls: Iterable[CallRecord],
    cases: Iterable[Case] | None,
    setup: ReportSetup,
    period: ReportPeriod,
    callbacks: CallbackFigures | None = None,
) -> Report:
    """The report of `period`; calls and cases outside it are ignored. `callbacks`: the
    period's call-back figures as `CallQueries.callback_figures` reads them."""
    start, end = period.bounds(setup.timezone)
    inside = [c for c in calls if start <= c.started_at < end]
    facts = tuple(sorted(
        (call_facts(c, setup) for c in inside), key=lambda f: (f.started_at, f.call_id)
    ))
    by_day = {day: [f for f in facts if f.day == day] for day in period.days()}
    return Report(
        period=period,
        setup=setup,
        total=count(facts),
        non_working_day_calls=sum(f.non_working_day for f in facts),
        by_branch=_grouped(facts, lambda f: f.branch, _branch_order(setup)),
        by_agency=_grouped(facts, lambda f: f.agency, _agency_order(setup)),
        by_day=tuple((day, count(rows)) for day, rows in by_day.items()),
        outcomes=tuple(
            (outcome, sum(f.outcome == outcome for f in facts)) for outcome in OUTCOME_LABELS
        ),
        wait=duration_stats(f.wait_seconds for f in facts),
        talk=duration_stats(f.talk_seconds for f in facts),
        callbacks=_callback_stats(facts, callbacks),
        survey=_survey_stats(facts, setup.survey_scale),
        cases=None if cases is None else _case_stats(cases, setup, start, end),
        calls=facts,
    )


def call_facts(call: CallRecord, setup: ReportSetup) -> CallFacts:
    """How `call` is counted (its day, group, bucket, durations, survey)."""
    zone = ZoneInfo(setup.timezone)
    started = call.started_at.astimezone(zone)
    day = started.date()
    branch = _branch_info(setup, call.branch_key)
    if call.branch_key is None:
        branch_label, agency = NO_BRANCH, NO_BRANCH
    else:
        name = branch.name if branch else call.branch_name or "(nhánh không còn cấu hình)"
        branch_label = f"{call.branch_key}. {name}"
        agency = call.agency or (branch.agency if branch else "Không rõ cơ quan")
    connected = call.outcome == Outcome.CONNECTED
    score = call.survey_score
    if score is not None and not 1 <= score <= setup.survey_scale:
        score = None
    low, _ = satisfied_scores(setup.survey_scale)
    return CallFacts(
        call_id=call.call_id,
        day=day,
        started_at=started,
        bridged_at=_local(call.bridged_at, zone),
        ended_at=_local(call.ended_at, zone),
        branch_key=call.branch_key,
        branch=branch_label,
        agency=agency,
        outcome=call.outcome,
        bucket=BUCKET_OF[call.outcome],
        chose_branch=call.branch_key is not None,
        wait_seconds=_seconds(call.started_at, call.bridged_at) if connected else None,
        talk_seconds=(_seconds(call.bridged_at, call.talk_ended_at or call.ended_at)
                      if connected else None),
        callback=None if call.callback is None else Callback(call.callback),
        survey=call.survey,
        survey_score=score,
        satisfied=None if score is None else score >= low,
        non_working_day=day in setup.non_working_days,
        day_note=setup.day_notes.get(day, ""),
    )


def count(facts: Iterable[CallFacts]) -> Counts:
    rows = list(facts)
    buckets = Counter(f.bucket for f in rows)
    return Counts(
        received=len(rows),
        chose_branch=sum(f.chose_branch for f in rows),
        buckets={bucket: buckets[bucket] for bucket in Bucket},
    )


def nearest_rank(values: Sequence[int], p: Fraction) -> int | None:
    """The p-th percentile of `values` (nearest rank: sorted, rank ceil(p*n)); None if empty."""
    if not 0 < p <= 1:
        raise ValueError(f"percentile must be in (0, 1], got {p}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered)) - 1]


def duration_stats(seconds: Iterable[int | None]) -> DurationStats:
    values = [s for s in seconds if s is not None]
    return DurationStats(
        count=len(values),
        median=nearest_rank(values, MEDIAN),
        p90=nearest_rank(values, P90),
        total=sum(values),
    )


def ratio(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def satisfied_scores(scale: int) -> tuple[int, int]:
    """The scores that count as satisfied: at least 4/5 of the scale (4-5 of 5, 8-9 of 9)."""
    return math.ceil(Fraction(4 * scale, 5)), scale


def _grouped(
    facts: Sequence[CallFacts], key: Callable[[CallFacts], str], order: Sequence[str]
) -> tuple[tuple[str, Counts], ...]:
    """Counts per group: the groups of `order` (even when empty), then any other group
    met in the calls by name, then "Chưa chọn nhánh" when it has calls."""
    seen = {key(f) for f in facts}
    extra = sorted(seen - set(order) - {NO_BRANCH})
    labels = [*order, *extra] + ([NO_BRANCH] if NO_BRANCH in seen else [])
    return tuple((label, count(f for f in facts if key(f) == label)) for label in labels)


def _branch_order(setup: ReportSetup) -> list[str]:
    return [b.label for b in sorted(setup.branches, key=lambda b: b.key)]


def _agency_order(setup: ReportSetup) -> list[str]:
    return list(dict.fromkeys(b.agency for b in sorted(setup.branches, key=lambda b: b.key)))


def _branch_info(setup: ReportSetup, key: int | None) -> BranchInfo | None:
    return next((b for b in setup.branches if b.key == key), None)


def _callback_stats(
    facts: Sequence[CallFacts], figures: CallbackFigures | None
) -> CallbackStats:
    done = sum(f.callback == Callback.DONE for f in facts)
    pending = sum(f.callback == Callback.PENDING for f in facts)
    results = None if figures is None else CallbackResults(
        reached=figures.reached, wrong_number=figures.wrong_number, attempts=figures.attempts,
        median_seconds=nearest_rank(
            [max(0, t // timedelta(seconds=1)) for t in figures.times_to_callback], MEDIAN))
    return CallbackStats(needed=done + pending, done=done, pending=pending, results=results)


def _survey_stats(facts: Sequence[CallFacts], scale: int) -> SurveyStats:
    scores = [f.survey_score for f in facts if f.survey_score is not None]
    results = Counter(f.survey for f in facts if f.survey is not None)
    low, _ = satisfied_scores(scale)
    satisfied = sum(s >= low for s in scores)
    return SurveyStats(
        scale=scale,
        offered=sum(results.values()),
        results={result: results[result] for result in SurveyResult},
        scored=len(scores),
        distribution={s: scores.count(s) for s in range(1, scale + 1)},
        satisfied=satisfied,
        satisfied_rate=ratio(satisfied, len(scores)),
        mean=Fraction(sum(scores), len(scores)) if scores else None,
    )


def _case_stats(
    cases: Iterable[Case], setup: ReportSetup, start: datetime, end: datetime
) -> CaseStats:
    inside = sorted(
        (c for c in cases if start <= c.opened_at < end),
        key=lambda c: (c.opened_at, -1 if c.id is None else c.id),
    )
    agencies = {c.agency or NO_CASE_AGENCY for c in inside}
    known = [a for a in _agency_order(setup) if a in agencies]
    others = sorted(agencies - set(known) - {NO_CASE_AGENCY})
    order = [*known, *others] + ([NO_CASE_AGENCY] if NO_CASE_AGENCY in agencies else [])
    return CaseStats(
        total=len(inside),
        by_status=_statuses(inside),
        by_agency=tuple(
            (a, _statuses(c for c in inside if (c.agency or NO_CASE_AGENCY) == a)) for a in order
        ),
        cases=tuple(inside),
    )


def _statuses(cases: Iterable[Case]) -> dict[CaseStatus, int]:
    found = Counter(c.status for c in cases)
    return {status: found[status] for status in CaseStatus}


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else value.astimezone(zone)


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, (end - start) // timedelta(seconds=1))
