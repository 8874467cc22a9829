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
- By channel (`calllog.channels` counts it): *received* is, for the phone, the calls
  started in the period (the summary's total) and, for Zalo, the citizens' messages to
  the Official Account received in the period (`user_send_text`, `_image`, `_file`
  webhook events: each opens a case or joins the sender's open one). *Cases opened* are
  the period's cases by where they came from (Zalo's are those its messages opened);
  *resolved within the deadline*: those whose first change to resolved came at or
  before their deadline. *Satisfaction*: the phone's keypad survey scores of the
  period's calls (as above) against the Zalo rating template's 1-5 stars given in the
  period about a call or case, both "satisfied" at 4/5 of their scale. Survey campaigns'
  ratings (given in the period) are shown apart, per agency and per procedure.
- Call-back results (of the period's calls): reached and wrong number count the calls
  whose closing call back had that result; attempts count every call back made (those
  that did not reach the caller too); the time to call back runs from the call's start
  to the call back that closed it, its median nearest-rank like the others.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from calllog.channels import PHONE, ZALO, ChannelTallies
from calllog.model import Callback, CallRecord, Case, CaseStatus, Outcome, SurveyResult
from calllog.period import (
    CallbackTally,
    GroupTally,
    HourTally,
    PeriodTallies,
    SurveyTally,
)
from calllog.presence import PresenceHistory
from calllog.queries import CallbackFigures
from reports.labels import BUCKET_OF, OUTCOME_LABELS, Bucket
from reports.measures import MEDIAN, P90
from reports.measures import rank as _rank
from reports.measures import ratio as ratio
from reports.measures import seconds_between as _seconds
from reports.queue_figures import (
    DeskRow,
    QueueStats,
    desk_rows,
    pause_seconds,
    queue_stats,
    queue_tallies,
)

NO_BRANCH = "Chưa chọn nhánh"
NO_CASE_AGENCY = "Chưa chuyển cơ quan xử lý"


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
    desk_answered: str | None = None
    queue_result: str | None = None
    """Why the caller left a branch's queue (None: never queued, or still waiting)."""
    queue_wait_seconds: int | None = None
    """`queue_joined_at` to `queue_left_at`, whole seconds (`reports.queue_figures`)."""


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
    by_result: Mapping[str, int] = field(default_factory=dict)
    """Calls needing a call back by their last call back's result: the known results
    (`CALLBACK_RESULTS`) first, zeros included, then any other met; never-tried left out."""


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
    """The cases counted, oldest first (with `Report.details`)."""


@dataclass(frozen=True)
class RatingStats:
    scale: int
    scored: int
    satisfied: int
    satisfied_rate: Fraction | None
    mean: Fraction | None


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    received: int
    cases_opened: int
    resolved_in_time: int
    resolved_in_time_rate: Fraction | None
    """Of the cases opened."""
    ratings: RatingStats


@dataclass(frozen=True)
class ChannelStats:
    channels: tuple[ChannelRow, ...]
    campaign_by_agency: tuple[tuple[str, RatingStats], ...]
    campaign_by_procedure: tuple[tuple[str, RatingStats], ...]


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
    """Every call counted, by start time: what each figure is made of (with `details`)."""
    details: bool = True
    """Whether `calls` and `cases.cases` were read: the details files need them."""
    channels: ChannelStats | None = None
    """Figures by channel (phone, Zalo); None when the call log does not count them."""
    queue: QueueStats | None = None
    """Service level, queue wait, abandoned in queue (`reports.queue_figures`)."""
    desks: tuple[DeskRow, ...] = ()
    """Per desk: calls answered, talk time, pause time."""


def compute_report(
    calls: Iterable[CallRecord],
    cases: Iterable[Case] | None,
    setup: ReportSetup,
    period: ReportPeriod,
    callbacks: CallbackFigures | None = None,
    channels: ChannelTallies | None = None,
    presence: PresenceHistory | None = None,
) -> Report:
    """The report of `period` from plain records, with the facts of every call (details);
    calls and cases outside it are ignored. `callbacks`: the period's call-back figures
    as `CallQueries.callback_figures` reads them; `channels`: its figures by channel as
    `calllog.channels.channel_tallies` counts them; `presence`: the desks' presence
    changes (`CallQueries.presence_history`), for their pause time."""
    start, end = period.bounds(setup.timezone)
    inside = [c for c in calls if start <= c.started_at < end]
    opened = None if cases is None else [c for c in cases if start <= c.opened_at < end]
    return report_from_tallies(tally_records(inside, opened, callbacks), setup, period,
                               calls=inside, cases=opened, channels=channels,
                               presence=presence)


def tally_records(
    calls: Iterable[CallRecord], cases: Iterable[Case] | None,
    callbacks: CallbackFigures | None = None,
) -> PeriodTallies:
    """What `calllog.period.period_tallies` counts in SQL, counted from records."""
    rows = list(calls)
    connected = [c for c in rows if c.outcome == Outcome.CONNECTED]
    hours = Counter((c.started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0),
                     c.branch_key is not None, c.outcome) for c in rows)
    groups = Counter((c.branch_key, c.branch_name, c.agency, c.outcome) for c in rows)
    surveys = Counter((c.survey, c.survey_score) for c in rows)
    states = Counter(Callback(c.callback) for c in rows if c.callback is not None)
    queue_waits, queue_connected, desk_talk = queue_tallies(rows)
    return PeriodTallies(
        hours=tuple(HourTally(h, chose, outcome, n) for (h, chose, outcome), n in hours.items()),
        groups=tuple(GroupTally(*group, n) for group, n in groups.items()),
        wait=_histogram(_seconds(c.started_at, c.bridged_at) for c in connected),
        talk=_histogram(_seconds(c.bridged_at, c.talk_ended_at or c.ended_at)
                        for c in connected),
        surveys=tuple(SurveyTally(survey, score, n) for (survey, score), n in surveys.items()),
        callbacks={state: states[state] for state in (Callback.PENDING, Callback.DONE)},
        callback_results=None if callbacks is None else CallbackTally(
            reached=callbacks.reached, wrong_number=callbacks.wrong_number,
            attempts=callbacks.attempts, median_seconds=nearest_rank(
                [max(0, t // timedelta(seconds=1)) for t in callbacks.times_to_callback],
                MEDIAN), by_result=callbacks.by_result),
        cases=None if cases is None else dict(Counter((c.agency, c.status) for c in cases)),
        queue_waits=queue_waits, queue_connected=queue_connected, desk_talk=desk_talk,
    )


def report_from_tallies(
    tallies: PeriodTallies,
    setup: ReportSetup,
    period: ReportPeriod,
    *,
    calls: Iterable[CallRecord] | None = None,
    cases: Iterable[Case] | None = None,
    channels: ChannelTallies | None = None,
    presence: PresenceHistory | None = None,
) -> Report:
    """The report of `period` from its tallies: every figure is computed here. `calls` and
    `cases` (the period's records) only give `Report.calls` and `CaseStats.cases`, the
    details; without `calls` the report has none (`Report.details` is False). `presence`:
    the desks' presence changes, None when they were not read (no pause time then)."""
    zone = _whole_hour_zone(setup.timezone, period)
    by_day: dict[date, list[HourTally]] = {day: [] for day in period.days()}
    for tally in tallies.hours:
        by_day[tally.hour.astimezone(zone).date()].append(tally)
    by_branch: dict[str, list[GroupTally]] = {}
    by_agency: dict[str, list[GroupTally]] = {}
    for group in tallies.groups:
        branch, agency = _labels(setup, group.branch_key, group.branch_name, group.agency)
        by_branch.setdefault(branch, []).append(group)
        by_agency.setdefault(agency, []).append(group)
    facts = () if calls is None else tuple(sorted(
        (call_facts(c, setup) for c in calls), key=lambda f: (f.started_at, f.call_id)))
    outcomes: Counter[Outcome | None] = Counter()
    for tally in tallies.hours:
        outcomes[tally.outcome] += tally.calls
    return Report(
        period=period,
        setup=setup,
        total=_counts(tallies.hours),
        non_working_day_calls=sum(
            t.calls for day, hours in by_day.items() if day in setup.non_working_days
            for t in hours),
        by_branch=_grouped(by_branch, _branch_order(setup)),
        by_agency=_grouped(by_agency, _agency_order(setup)),
        by_day=tuple((day, _counts(hours)) for day, hours in by_day.items()),
        outcomes=tuple((outcome, outcomes[outcome]) for outcome in OUTCOME_LABELS),
        wait=histogram_stats(tallies.wait),
        talk=histogram_stats(tallies.talk),
        callbacks=_callback_stats(tallies.callbacks, tallies.callback_results),
        survey=_survey_stats(tallies.surveys, setup.survey_scale),
        cases=None if tallies.cases is None else _case_stats(tallies.cases, setup, cases),
        calls=facts,
        details=calls is not None,
        channels=None if channels is None else channel_stats(
            channels, setup.survey_scale, phone_received=sum(t.calls for t in tallies.hours),
            phone_scores=_scores(tallies.surveys)),
        queue=queue_stats(outcomes, tallies.queue_waits, tallies.queue_connected),
        desks=desk_rows(tallies.desk_talk, None if presence is None else pause_seconds(
            presence.changes, *period.bounds(setup.timezone), now=presence.as_of)),
    )


def call_facts(call: CallRecord, setup: ReportSetup) -> CallFacts:
    """How `call` is counted (its day, group, bucket, durations, survey)."""
    zone = ZoneInfo(setup.timezone)
    started = call.started_at.astimezone(zone)
    day = started.date()
    branch_label, agency = _labels(setup, call.branch_key, call.branch_name, call.agency)
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
        desk_answered=call.desk_answered,
        queue_result=call.queue_result,
        queue_wait_seconds=_seconds(call.queue_joined_at, call.queue_left_at),
    )


def _labels(
    setup: ReportSetup, key: int | None, name: str | None, agency: str | None
) -> tuple[str, str]:
    """The branch row and the agency row a call is counted in."""
    if key is None:
        return NO_BRANCH, NO_BRANCH
    branch = _branch_info(setup, key)
    label = f"{key}. {branch.name if branch else name or '(nhánh không còn cấu hình)'}"
    return label, agency or (branch.agency if branch else "Không rõ cơ quan")


def _whole_hour_zone(timezone: str, period: ReportPeriod) -> ZoneInfo:
    """The zone, checked to be a whole number of hours from UTC over the period: the
    tallies count calls per UTC hour, so each hour must fall in one local day."""
    zone = ZoneInfo(timezone)
    for day in [*period.days(), period.last + timedelta(days=1)]:
        offset = datetime.combine(day, time(), zone).utcoffset()
        if offset is not None and offset % timedelta(hours=1):
            raise ValueError(f"{timezone} is {offset} from UTC: reports count whole hours")
    return zone


def _counts(tallies: Iterable[HourTally]) -> Counts:
    received = chose_branch = 0
    buckets: Counter[Bucket] = Counter()
    for t in tallies:
        received += t.calls
        chose_branch += t.calls if t.chose_branch else 0
        buckets[BUCKET_OF[t.outcome]] += t.calls
    return Counts(received=received, chose_branch=chose_branch,
                  buckets={bucket: buckets[bucket] for bucket in Bucket})


def _histogram(seconds: Iterable[int | None]) -> dict[int, int]:
    return dict(Counter(s for s in seconds if s is not None))


def histogram_stats(histogram: Mapping[int, int]) -> DurationStats:
    """Count, nearest-rank median and p90, and total of the values `histogram` counts."""
    return DurationStats(count=sum(histogram.values()), median=_rank(histogram, MEDIAN),
                         p90=_rank(histogram, P90),
                         total=sum(value * n for value, n in histogram.items()))


def nearest_rank(values: Sequence[int], p: Fraction) -> int | None:
    """The p-th percentile of `values` (nearest rank: sorted, rank ceil(p*n)); None if empty."""
    return _rank(Counter(values), p)


def satisfied_scores(scale: int) -> tuple[int, int]:
    """The scores that count as satisfied: at least 4/5 of the scale (4-5 of 5, 8-9 of 9)."""
    return math.ceil(Fraction(4 * scale, 5)), scale


def _grouped(
    groups: Mapping[str, Sequence[GroupTally]], order: Sequence[str]
) -> tuple[tuple[str, Counts], ...]:
    """Counts per group: the groups of `order` (even when empty), then any other group
    met in the calls by name, then "Chưa chọn nhánh" when it has calls."""
    extra = sorted(set(groups) - set(order) - {NO_BRANCH})
    labels = [*order, *extra] + ([NO_BRANCH] if NO_BRANCH in groups else [])
    return tuple((label, _counts(
        HourTally(datetime.min, g.branch_key is not None, g.outcome, g.calls)
        for g in groups.get(label, ()))) for label in labels)


def _branch_order(setup: ReportSetup) -> list[str]:
    return [b.label for b in sorted(setup.branches, key=lambda b: b.key)]


def _agency_order(setup: ReportSetup) -> list[str]:
    return list(dict.fromkeys(b.agency for b in sorted(setup.branches, key=lambda b: b.key)))


def _branch_info(setup: ReportSetup, key: int | None) -> BranchInfo | None:
    return next((b for b in setup.branches if b.key == key), None)


def _callback_stats(
    states: Mapping[Callback, int], results: CallbackTally | None
) -> CallbackStats:
    done, pending = states.get(Callback.DONE, 0), states.get(Callback.PENDING, 0)
    return CallbackStats(needed=done + pending, done=done, pending=pending, results=None
                         if results is None else CallbackResults(
                             reached=results.reached, wrong_number=results.wrong_number,
                             attempts=results.attempts, median_seconds=results.median_seconds,
                             by_result=_by_result(results.by_result)))


CALLBACK_RESULTS = ("reached", "not_reached", "wrong_number")
"""`calllog.followup.CallbackResult`'s values, in the report's order."""


def _by_result(found: Mapping[str, int]) -> dict[str, int]:
    return {**{r: found.get(r, 0) for r in CALLBACK_RESULTS},
            **{r: found[r] for r in sorted(found) if r not in CALLBACK_RESULTS}}


def _scores(tallies: Iterable[SurveyTally]) -> Counter[int]:
    """Score as recorded -> calls (off-scale ones too: `rating_stats` leaves them out)."""
    scores: Counter[int] = Counter()
    for t in tallies:
        if t.score is not None:
            scores[t.score] += t.calls
    return scores


def _survey_stats(tallies: Iterable[SurveyTally], scale: int) -> SurveyStats:
    results: Counter[SurveyResult] = Counter()
    scores: Counter[int] = Counter()
    for t in tallies:
        if t.survey is not None:
            results[t.survey] += t.calls
        if t.score is not None and 1 <= t.score <= scale:
            scores[t.score] += t.calls
    low, _ = satisfied_scores(scale)
    scored = sum(scores.values())
    satisfied = sum(n for s, n in scores.items() if s >= low)
    return SurveyStats(
        scale=scale,
        offered=sum(results.values()),
        results={result: results[result] for result in SurveyResult},
        scored=scored,
        distribution={s: scores[s] for s in range(1, scale + 1)},
        satisfied=satisfied,
        satisfied_rate=ratio(satisfied, scored),
        mean=Fraction(sum(s * n for s, n in scores.items()), scored) if scored else None,
    )


def _case_stats(
    counts: Mapping[tuple[str | None, CaseStatus], int], setup: ReportSetup,
    cases: Iterable[Case] | None,
) -> CaseStats:
    by_agency: dict[str, Counter[CaseStatus]] = {}
    for (agency, status), n in counts.items():
        by_agency.setdefault(agency or NO_CASE_AGENCY, Counter())[status] += n
    known = [a for a in _agency_order(setup) if a in by_agency]
    others = sorted(set(by_agency) - set(known) - {NO_CASE_AGENCY})
    order = [*known, *others] + ([NO_CASE_AGENCY] if NO_CASE_AGENCY in by_agency else [])
    total: Counter[CaseStatus] = sum(by_agency.values(), Counter())
    return CaseStats(
        total=sum(counts.values()),
        by_status=_statuses(total),
        by_agency=tuple((a, _statuses(by_agency[a])) for a in order),
        cases=tuple(sorted(cases or (),
                           key=lambda c: (c.opened_at, -1 if c.id is None else c.id))),
    )


def _statuses(found: Mapping[CaseStatus, int]) -> dict[CaseStatus, int]:
    return {status: found.get(status, 0) for status in CaseStatus}


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else value.astimezone(zone)


ZALO_SCALE = 5
"""Zalo's rating template answers 1 to 5 stars."""


def channel_stats(
    tallies: ChannelTallies, phone_scale: int, *, phone_received: int,
    phone_scores: Mapping[int, int],
) -> ChannelStats:
    """The figures by channel (the module docstring defines them). The phone's calls and
    keypad scores come from the period's call tallies, the rest from `tallies`."""
    by_agency: dict[str, Counter[int]] = {}
    by_procedure: dict[str, Counter[int]] = {}
    for t in tallies.campaigns:
        by_agency.setdefault(t.agency, Counter())[t.score] += t.ratings
        by_procedure.setdefault(t.procedure, Counter())[t.score] += t.ratings
    received = {PHONE: phone_received, ZALO: tallies.zalo_received}
    ratings = {PHONE: rating_stats(phone_scores, phone_scale),
               ZALO: rating_stats(tallies.zalo_ratings, ZALO_SCALE)}
    return ChannelStats(
        channels=tuple(ChannelRow(
            channel=channel, received=received[channel], cases_opened=cases.opened,
            resolved_in_time=cases.resolved_in_time,
            resolved_in_time_rate=ratio(cases.resolved_in_time, cases.opened),
            ratings=ratings[channel])
            for channel, cases in tallies.cases.items()),
        campaign_by_agency=tuple((a, rating_stats(by_agency[a], ZALO_SCALE))
                                 for a in sorted(by_agency)),
        campaign_by_procedure=tuple((p, rating_stats(by_procedure[p], ZALO_SCALE))
                                    for p in sorted(by_procedure)),
    )


def rating_stats(scores: Mapping[int, int], scale: int) -> RatingStats:
    """Scores on 1..scale (others left out), satisfied at 4/5 of the scale."""
    kept = {s: n for s, n in scores.items() if 1 <= s <= scale}
    scored = sum(kept.values())
    low, _ = satisfied_scores(scale)
    satisfied = sum(n for s, n in kept.items() if s >= low)
    return RatingStats(scale=scale, scored=scored, satisfied=satisfied,
                       satisfied_rate=ratio(satisfied, scored),
                       mean=Fraction(sum(s * n for s, n in kept.items()), scored)
                       if scored else None)
