"""What the call log records: one `CallRecord` per call, plus its `CallEvent` timeline.

Pure domain objects, no SQLAlchemy. All times are timezone-aware and stored as UTC;
reports convert them to Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

CALL_ID_MAX_LEN = 64
EVENT_KIND_MAX_LEN = 32
EVENT_KEY_MAX_LEN = 80
FIND_CALL_LIMIT = 20
"""At most this many calls come back from `find_call`."""


class Outcome(StrEnum):
    """How a call ended. `None` on a `CallRecord` means the call is still in progress."""

    CONNECTED = "connected"
    ABANDONED_IN_MENU = "abandoned_in_menu"
    NO_SELECTION = "no_selection"
    DESK_UNREACHABLE = "desk_unreachable"
    ABANDONED_WHILE_RINGING = "abandoned_while_ringing"
    FAILED = "failed"
    """Our own fault: the safety net caught an unexpected error."""
    CLOSED = "closed"
    """Called outside business hours or on a holiday."""
    REFUSED = "refused"
    """Turned away unanswered: the hotline was past what it carries (a burst)."""


class Callback(StrEnum):
    """Whether a call needs a call back. `None` on a `CallRecord` means it never did."""

    PENDING = "pending"
    """The citizen was not served (no desk answered, closed hours): staff must call back."""
    DONE = "done"
    """Staff handled it (`callback_done_at`, `callback_note`)."""
    NO_NUMBER = "no_number"
    """Not served, but the caller id is no phone number (`calllog.callers`): nobody
    can call back, so it is never on the call-back list."""


EventDetail = dict[str, str | int | None]


class QueueResult(StrEnum):
    """Why a caller left a branch's queue (`CallRecord.queue_result`)."""

    ANSWERED = "answered"
    """A desk answered: the caller was put through."""
    MAX_WAIT = "max_wait"
    """`max_wait_seconds` passed: on to the message path."""
    ABANDONED = "abandoned"
    """The caller hung up while waiting."""
    CALLBACK = "callback"
    """The caller pressed the call-back key: hung up, their place kept for a call back."""


class SurveyResult(StrEnum):
    ANSWERED = "answered"
    SKIPPED = "skipped"
    """The caller pressed the skip key."""
    NO_ANSWER = "no_answer"
    """No valid key before the timeout (after the one re-prompt)."""
    HUNG_UP = "hung_up"
    """The caller hung up during the survey."""


@dataclass
class CallRecord:
    """One row per call, saved again at every milestone (the save is an upsert)."""

    call_id: str
    caller_number: str
    started_at: datetime
    caller_name: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    branch_key: int | None = None
    branch_name: str | None = None
    agency: str | None = None
    desk_dialled: str | None = None
    """Extension(s) last dialled, e.g. "2001" or "2001,2002"."""
    desk_answered: str | None = None
    bridged_at: datetime | None = None
    outcome: Outcome | None = None
    hangup_cause: int | None = None
    """Q.850 cause code."""
    hangup_cause_txt: str | None = None
    hangup_by: str | None = None
    """Who hung up: "caller", "desk" or "system"."""
    caller_agency: str | None = None
    """The agency of a known station calling, e.g. "UBND xã Vị Tân"."""
    recording: str | None = None
    """Name of the caller's voice message as Asterisk stored it, e.g. "vm-1795464328-0"."""
    recording_seconds: int | None = None
    callback: str | None = None
    """`Callback.PENDING` ("pending") when the call needs a call back, `Callback.DONE`
    ("done") once staff handled it, `Callback.NO_NUMBER` ("no_number") when it needed one
    but the caller id is no number to call, None when it never needed one. Read back as a
    `Callback` (a `str`, so it compares equal to the plain strings)."""
    callback_done_at: datetime | None = None
    callback_note: str | None = None
    talk_ended_at: datetime | None = None
    """When caller and desk stopped talking (before a survey; None if never bridged)."""
    survey_score: int | None = None
    """The caller's rating after the desk hung up (1..scale), None if not given."""
    survey: SurveyResult | None = None
    """How the post-call survey ended; None when it was not offered."""
    queue_joined_at: datetime | None = None
    """When the caller joined the branch's queue (None: never queued)."""
    queue_left_at: datetime | None = None
    """When the caller left the queue (None: never queued, or still waiting)."""
    queue_result: str | None = None
    """Why the caller left the queue: `QueueResult` ("answered", "max_wait",
    "abandoned"), or another reason a newer service writes."""


class CaseStatus(StrEnum):
    """A complaint case ("phản ánh, kiến nghị") from receipt to its end."""

    RECEIVED = "received"
    FORWARDED = "forwarded"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    REJECTED = "rejected"


CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.RECEIVED: frozenset({CaseStatus.FORWARDED, CaseStatus.VERIFYING,
                                    CaseStatus.REJECTED}),
    CaseStatus.FORWARDED: frozenset({CaseStatus.VERIFYING, CaseStatus.REJECTED}),
    CaseStatus.VERIFYING: frozenset({CaseStatus.FORWARDED, CaseStatus.RESOLVED,
                                     CaseStatus.REJECTED}),
    CaseStatus.RESOLVED: frozenset(),
    CaseStatus.REJECTED: frozenset(),
}
"""Where a case may go from each status (a change that keeps the status only adds a
note). Resolved and rejected are final."""


@dataclass(frozen=True)
class CaseChange:
    """One entry of a case's append-only history: who did what, when."""

    at: datetime
    by: str
    """An operator's name, or "desk 1101" for a flag raised from a desk phone."""
    status: CaseStatus
    agency: str | None = None
    """The agency the case is (now) forwarded to."""
    note: str = ""


@dataclass(frozen=True)
class Case:
    """A complaint case, opened for a call or a recorded message."""

    id: int | None
    """Assigned by the store."""
    call_id: str | None
    category: str
    """The branch name by default."""
    opened_at: datetime
    opened_by: str
    status: CaseStatus = CaseStatus.RECEIVED
    agency: str | None = None
    recording: str | None = None
    key: str | None = None
    """Makes opening idempotent (e.g. "desk-flag:<call id>"): a second open with the
    same key is the same case."""
    history: tuple[CaseChange, ...] = ()


CASE_KEY_MAX_LEN = 80


def normalised_case_change(change: CaseChange) -> CaseChange:
    """A validated copy of `change`, its time in UTC: history is kept as stores keep it."""
    if not change.by.strip():
        raise ValueError("a case change needs who made it (by), got an empty name")
    return CaseChange(
        at=as_utc(change.at, "at"),
        by=change.by,
        status=parse_case_status(change.status),
        agency=change.agency,
        note=change.note,
    )


def normalised_case(case: Case) -> Case:
    """A validated copy of a case to open, times in UTC, with exactly one history entry.

    The opening note travels in `history[0]` (status received, kept as given); without
    it the first entry is made from `opened_at`, `opened_by` and `agency`, note "".
    """
    if case.id is not None:
        raise ValueError(f"a case to open has no id yet (the store assigns it), got {case.id}")
    if case.call_id is None and not case.recording:
        raise ValueError("a case is opened for a call (call_id) or a recorded message")
    if case.call_id is not None:
        check_call_id(case.call_id)
    if not case.category.strip():
        raise ValueError("a case needs a category, got an empty one")
    if not case.opened_by.strip():
        raise ValueError("a case needs who opened it (opened_by), got an empty name")
    if parse_case_status(case.status) is not CaseStatus.RECEIVED:
        raise ValueError(f"a case opens as received, got status {case.status!r}")
    if case.key is not None and not 0 < len(case.key) <= CASE_KEY_MAX_LEN:
        raise ValueError(
            f"case key must be None or 1..{CASE_KEY_MAX_LEN} characters, got {case.key!r}"
        )
    if len(case.history) > 1:
        raise ValueError(
            f"a case opens with at most one history entry, got {len(case.history)}"
        )
    opened_at = as_utc(case.opened_at, "opened_at")
    first = case.history[0] if case.history else CaseChange(
        at=opened_at, by=case.opened_by, status=CaseStatus.RECEIVED, agency=case.agency
    )
    first = normalised_case_change(first)
    if first.status is not CaseStatus.RECEIVED:
        raise ValueError(f"a case's first history entry is received, got {first.status.value!r}")
    return Case(
        id=None,
        call_id=case.call_id,
        category=case.category,
        opened_at=opened_at,
        opened_by=case.opened_by,
        status=CaseStatus.RECEIVED,
        agency=case.agency,
        recording=case.recording,
        key=case.key,
        history=(first,),
    )


def parse_case_status(value: str) -> CaseStatus:
    """`value` as a `CaseStatus`; a ValueError naming the statuses otherwise."""
    try:
        return CaseStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in CaseStatus)
        raise ValueError(f"case status must be one of {allowed}; got {value!r}") from None


@dataclass
class CallEvent:
    """One entry of a call's append-only timeline."""

    call_id: str
    at: datetime
    kind: str
    """e.g. "answered", "prompt", "digit", "branch", "desk_dial", "desk_result", "bridged",
    "hangup"."""
    detail: EventDetail = field(default_factory=dict)
    seq: int | None = None
    """Position in the log, assigned by the store; increases with every append."""
    key: str | None = None
    """Makes the append idempotent: an event whose key is already in the log is not
    appended again. The spool sets it ("<spool id>:<spool seq>") so that replaying its
    journal after a crash duplicates nothing; None appends unconditionally."""


@dataclass(frozen=True)
class CloseIfOpen:
    """Upsert `call` only where the log has no row for it yet or its row is still open
    (`ended_at` unset). For closing calls the service did not see end (from Asterisk's
    CEL): never overrides what a call's own flow wrote."""

    call: CallRecord


@dataclass(frozen=True)
class ConfigReload:
    """One attempt to reload the YAML: applied, or refused with its problems."""

    at: datetime
    file: str
    sha256: str
    status: str
    """"applied" or "refused"."""
    problems: str = ""
    """The refusal's messages, one per line (as `hotline config check` prints them)."""
    pbx_error: str | None = None
    """Applied, but Asterisk could not be reloaded: why."""
    key: str | None = None
    """Idempotency key: a reload whose key is already in the log is not recorded again
    (the spool gives each one "<spool id>:<seq>", so a replay adds no second row)."""


Write = CallRecord | CallEvent | CloseIfOpen | ConfigReload | Case
"""One write to the call log: a call row to upsert, an event to append, a row to close
if still open, a config reload to record, a case to open (`CallLog.open_case`)."""


def close_queue(row: CallRecord, closing: CallRecord) -> CallRecord:
    """`closing` (a close from outside the call's flow, `CloseIfOpen`) with the queue
    fields of the open `row` it closes kept: it knows nothing of the queue. A caller
    still queued in `row` when the call ended (`closing.ended_at`) hung up waiting."""
    queued = row.queue_joined_at is not None and row.queue_left_at is None
    ended = closing.ended_at
    return dataclasses.replace(
        closing,
        queue_joined_at=closing.queue_joined_at or row.queue_joined_at,
        queue_left_at=closing.queue_left_at or (ended if queued else row.queue_left_at),
        queue_result=closing.queue_result or (
            QueueResult.ABANDONED.value if queued and ended is not None else row.queue_result),
    )


def as_utc(value: datetime, what: str) -> datetime:
    """Return `value` converted to UTC; refuse naive datetimes (their zone is a guess)."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def check_call_id(call_id: str) -> None:
    if not call_id or len(call_id) > CALL_ID_MAX_LEN:
        raise ValueError(f"call_id must be 1..{CALL_ID_MAX_LEN} characters, got {call_id!r}")


def check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")


def check_offset(offset: int) -> None:
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def normalised_record(call: CallRecord) -> CallRecord:
    """A validated copy of `call` with every time in UTC, as every store keeps it."""
    check_call_id(call.call_id)
    return CallRecord(
        call_id=call.call_id,
        caller_number=call.caller_number,
        started_at=as_utc(call.started_at, "started_at"),
        caller_name=call.caller_name,
        answered_at=_opt_utc(call.answered_at, "answered_at"),
        ended_at=_opt_utc(call.ended_at, "ended_at"),
        branch_key=call.branch_key,
        branch_name=call.branch_name,
        agency=call.agency,
        desk_dialled=call.desk_dialled,
        desk_answered=call.desk_answered,
        bridged_at=_opt_utc(call.bridged_at, "bridged_at"),
        outcome=None if call.outcome is None else Outcome(call.outcome),
        hangup_cause=call.hangup_cause,
        hangup_cause_txt=call.hangup_cause_txt,
        hangup_by=call.hangup_by,
        caller_agency=call.caller_agency,
        recording=call.recording,
        recording_seconds=call.recording_seconds,
        callback=_opt_callback(call.callback),
        callback_done_at=_opt_utc(call.callback_done_at, "callback_done_at"),
        callback_note=call.callback_note,
        talk_ended_at=_opt_utc(call.talk_ended_at, "talk_ended_at"),
        survey_score=call.survey_score,
        survey=None if call.survey is None else SurveyResult(call.survey),
        queue_joined_at=_opt_utc(call.queue_joined_at, "queue_joined_at"),
        queue_left_at=_opt_utc(call.queue_left_at, "queue_left_at"),
        queue_result=call.queue_result,
    )


def normalised_event(event: CallEvent) -> CallEvent:
    """A validated copy of `event` (time in UTC, own detail dict, no seq yet)."""
    check_call_id(event.call_id)
    if not event.kind or len(event.kind) > EVENT_KIND_MAX_LEN:
        raise ValueError(
            f"event kind must be 1..{EVENT_KIND_MAX_LEN} characters, got {event.kind!r}"
        )
    if event.key is not None and not 0 < len(event.key) <= EVENT_KEY_MAX_LEN:
        raise ValueError(
            f"event key must be None or 1..{EVENT_KEY_MAX_LEN} characters, got {event.key!r}"
        )
    return CallEvent(
        call_id=event.call_id,
        at=as_utc(event.at, "at"),
        kind=event.kind,
        detail=dict(event.detail),
        key=event.key,
    )


def normalised_write(write: Write) -> Write:
    """`write` validated and in UTC, whichever kind it is."""
    if isinstance(write, CallRecord):
        return normalised_record(write)
    if isinstance(write, CallEvent):
        return normalised_event(write)
    if isinstance(write, CloseIfOpen):
        return CloseIfOpen(normalised_record(write.call))
    if isinstance(write, Case):
        return normalised_case(write)
    if write.status not in ("applied", "refused"):
        raise ValueError(f"reload status must be applied or refused, got {write.status!r}")
    if write.key is not None and not 0 < len(write.key) <= EVENT_KEY_MAX_LEN:
        raise ValueError(
            f"reload key must be None or 1..{EVENT_KEY_MAX_LEN} characters, got {write.key!r}"
        )
    return ConfigReload(
        at=as_utc(write.at, "at"), file=write.file, sha256=write.sha256, status=write.status,
        problems=write.problems, pbx_error=write.pbx_error, key=write.key,
    )


def _opt_utc(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else as_utc(value, what)


def _opt_callback(value: str | None) -> Callback | None:
    if value is None:
        return None
    try:
        return Callback(value)
    except ValueError:
        allowed = ", ".join(repr(c.value) for c in Callback)
        raise ValueError(f"callback must be None, {allowed}; got {value!r}") from None
