"""SQLAlchemy mapping of the call log: `calls`, `call_events`, `config_reloads`, and the
complaint `cases` with their `case_changes`, the console's `console_users` and its
`audit_log`, the Zalo channel's `zalo_tokens`, `zalo_inbox`, `zalo_sends`,
`zalo_followers`, `zalo_messages`, its campaigns and ratings, and the period report's
tallies per UTC hour (`report_hours`, `report_counts`).

The schema itself is created by the Alembic revisions in `migrations/`; keep both in
step (`alembic check` compares them). Outcomes are stored as plain strings, not a
database enum, so adding an outcome needs no migration.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is
    written as naive UTC and given back its UTC zone on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


DetailJSON = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRow(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index(None, "started_at"),
        Index(None, "callback", "started_at"),  # the call-back queue, oldest first
        # The console's searches (revision 0010): a number's calls (prefix: LIKE on
        # PostgreSQL needs text_pattern_ops), a branch's, an agency's, an outcome's, in
        # a period, newest first; handled call backs, latest first.
        Index(None, "caller_number", "started_at",
              postgresql_ops={"caller_number": "text_pattern_ops"}),
        Index(None, "branch_key", "started_at"),
        Index(None, "agency", "started_at"),
        Index(None, "outcome", "started_at"),
        Index(None, "callback", "callback_done_at"),
        Index(None, "caller_agency", "started_at"),  # an agency's calls from stations (0011)
    )

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller_number: Mapped[str] = mapped_column(Text)
    caller_name: Mapped[str] = mapped_column(Text, server_default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    branch_key: Mapped[int | None] = mapped_column(Integer)
    branch_name: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    desk_dialled: Mapped[str | None] = mapped_column(Text)
    desk_answered: Mapped[str | None] = mapped_column(Text)
    bridged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_txt: Mapped[str | None] = mapped_column(Text)
    hangup_by: Mapped[str | None] = mapped_column(String(16))
    caller_agency: Mapped[str | None] = mapped_column(Text)
    recording: Mapped[str | None] = mapped_column(Text)
    recording_seconds: Mapped[int | None] = mapped_column(Integer)
    callback: Mapped[str | None] = mapped_column(String(16))
    callback_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    callback_note: Mapped[str | None] = mapped_column(Text)
    talk_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    survey_score: Mapped[int | None] = mapped_column(Integer)
    survey: Mapped[str | None] = mapped_column(String(16))
    # The queue (revision 0021): the wait is on the row, the timeline is too slow to read
    queue_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_result: Mapped[str | None] = mapped_column(String(32))
    # Staff's follow-up (revision 0010), written only by `calllog.followup`: not part of
    # `CallRecord`, so the call flow's saves never touch them.
    callback_by: Mapped[str | None] = mapped_column(Text)
    callback_result: Mapped[str | None] = mapped_column(String(16))
    callback_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    callback_last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallEventRow(Base):
    __tablename__ = "call_events"
    __table_args__ = (Index(None, "call_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey(CallRow.call_id))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(DetailJSON)
    # Idempotent appends (revision 0003): the spool's replay inserts ON CONFLICT DO
    # NOTHING. NULL (events written before 0003, or without a key) never conflicts.
    key: Mapped[str | None] = mapped_column(String(80), index=True, unique=True)


class ConfigReloadRow(Base):
    __tablename__ = "config_reloads"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    file: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    problems: Mapped[str] = mapped_column(Text, server_default="")
    pbx_error: Mapped[str | None] = mapped_column(Text)
    # Idempotent like events' keys (revision 0008): the spool's replay inserts ON
    # CONFLICT DO NOTHING. NULL (rows before 0008, or without a key) never conflicts.
    key: Mapped[str | None] = mapped_column(String(80), index=True, unique=True)



class CaseRow(Base):
    """A complaint case (revision 0006); its history is `case_changes`."""

    __tablename__ = "cases"
    __table_args__ = (
        Index(None, "status", "opened_at"),
        Index(None, "agency", "status", "opened_at"),  # an agency's cases (0010)
        Index(None, "status", "due_at"),  # open cases past their deadline (0010)
        Index(None, "channel", "opened_at"),  # the list by channel (0014)
        Index(None, "zalo_user_id", "status"),  # a follower's open case (0014)
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    call_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey(CallRow.call_id), index=True
    )
    recording: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(Text)
    # What a citizen is told, e.g. "PA-2026-00042" (revision 0010; `case_codes`).
    code: Mapped[str | None] = mapped_column(String(24), index=True, unique=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The deadline (working days from the YAML); None if opened without one."""
    # Idempotent opening (a desk's flag, the spool's replay): ON CONFLICT DO NOTHING.
    key: Mapped[str | None] = mapped_column(String(80), index=True, unique=True)
    # Revision 0014: "phone" or "zalo"; the follower (a Zalo case's sender, or the
    # follower a phone case was linked to), the citizen's name and phone where known.
    channel: Mapped[str] = mapped_column(String(16), server_default="phone")
    zalo_user_id: Mapped[str | None] = mapped_column(String(64))
    citizen_name: Mapped[str | None] = mapped_column(Text)
    citizen_phone: Mapped[str | None] = mapped_column(String(32))


class CaseChangeRow(Base):
    """One entry of a case's append-only history."""

    __tablename__ = "case_changes"
    __table_args__ = (Index(None, "case_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(EventId, ForeignKey(CaseRow.id))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, server_default="")


class CaseCodeRow(Base):
    """The last case number given out in a year (revision 0010): the next case's code
    takes it + 1 in the same transaction that opens it."""

    __tablename__ = "case_codes"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class CallbackAttemptRow(Base):
    """One call back staff made (revision 0010): who, when, the result, a note."""

    __tablename__ = "callback_attempts"
    __table_args__ = (Index(None, "call_id", "id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey(CallRow.call_id))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, server_default="")


class UserRow(Base):
    """A person who logs in to the console (revision 0009)."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    desk: Mapped[str | None] = mapped_column(String(16), index=True, unique=True)
    """The desk extension the user works at (revision 0019): one user per desk."""


class AuditRow(Base):
    """One entry of the console's append-only audit log: who, when, from where, what."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "action", "at"),  # failed logins in the last minutes (rate limit)
        Index(None, "at"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, server_default="")


class ZaloTokenRow(Base):
    """One OAuth token pair of the Zalo Official Account (revision 0013); the newest row
    in status `current` is the pair in use. `calllog.zalo` says how a refresh stays safe."""

    __tablename__ = "zalo_tokens"
    __table_args__ = (Index(None, "status", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    # A refresh in flight: who holds it (request id) and since when (a lease).
    refreshing_id: Mapped[str | None] = mapped_column(String(36))
    refreshing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When this refresh token was last sent to Zalo; never cleared (the answer may be lost).
    presented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by: Mapped[int | None] = mapped_column(EventId)


class ZaloInboxRow(Base):
    """A webhook event as Zalo sent it (revision 0013), stored before it is answered 200
    and processed later by the worker. `key` makes a second delivery a no-op."""

    __tablename__ = "zalo_inbox"
    __table_args__ = (
        Index(None, "status", "id"),  # the worker's queue
        Index(None, "user_id", "event_name", "event_at"),  # a follower's last message
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    event_name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ZaloSendRow(Base):
    """A ZNS template send (revision 0013), keyed by our `tracking_id`: a send already
    accepted by Zalo is never repeated."""

    __tablename__ = "zalo_sends"

    tracking_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    msg_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The ZNS outbox (revision 0015): what the send is about, to whom, what it says,
    # when it is tried next and when Zalo delivered it (`calllog.zns`).
    kind: Mapped[str | None] = mapped_column(String(24))
    phone: Mapped[str | None] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(EventId, index=True)
    entry_id: Mapped[int | None] = mapped_column(EventId, index=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(DetailJSON)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "status", "next_attempt_at"),)


class ZnsSwitchRow(Base):
    """When a ZNS notification was switched on (revision 0015): nothing older is owed."""

    __tablename__ = "zalo_zns_switches"

    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    on_since: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignRow(Base):
    """A survey campaign (revision 0015): a list of people who completed a procedure."""

    __tablename__ = "zalo_campaigns"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(Text)
    refused: Mapped[int] = mapped_column(Integer, server_default="0")


class CampaignEntryRow(Base):
    """One number of a campaign, once per campaign (revision 0015)."""

    __tablename__ = "zalo_campaign_entries"
    __table_args__ = (UniqueConstraint("campaign_id", "phone"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(EventId, ForeignKey(CampaignRow.id))
    phone: Mapped[str] = mapped_column(String(16))
    procedure: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    done_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RatingRow(Base):
    """A rating given on Zalo (revision 0015): the rating template's `user_feedback`,
    linked by the send's tracking id to the call or campaign entry it rates."""

    __tablename__ = "zalo_ratings"
    __table_args__ = (Index(None, "rated_at"), Index(None, "entry_id"))

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, server_default="")
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(16))
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(EventId)
    entry_id: Mapped[int | None] = mapped_column(EventId)


class ZaloFollowerRow(Base):
    """A follower of the OA (revision 0014): follow state, name and phone when they gave
    them (`user_submit_info`), and their last message (the 48-hour window)."""

    __tablename__ = "zalo_followers"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    """`84...`, as `zalo.phones.normalise_mobile` writes it."""
    following: Mapped[bool] = mapped_column(Boolean)
    followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unfollowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ZaloMessageRow(Base):
    """One message of a case's Zalo conversation (revision 0014): in from the follower or
    out (a reply: who sent it, and whether it went). `key` makes a replay a no-op."""

    __tablename__ = "zalo_messages"
    __table_args__ = (Index(None, "case_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    case_id: Mapped[int | None] = mapped_column(EventId, ForeignKey(CaseRow.id))
    """None: a reply to a case lookup, which belongs to no case."""
    user_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, server_default="")
    attachment_url: Mapped[str | None] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    msg_id: Mapped[str | None] = mapped_column(String(64))


class ReportHourRow(Base):
    """A UTC hour's state for the report's stored tallies (revision 0016;
    `calllog.rollup`). Triggers on `calls` and `cases` bump `version` on every write
    that changes what the hour counts; the tallies are good while `counted = version`."""

    __tablename__ = "report_hours"

    hour: Mapped[str] = mapped_column(String(13), primary_key=True)
    """`YYYY-MM-DD HH`, UTC (`calllog.period.utc_hour`)."""
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    counted: Mapped[int | None] = mapped_column(Integer)
    """The version the stored tallies count; NULL: never counted."""


class ReportCountsRow(Base):
    """What `calllog.period` counts of a UTC hour, stored (revision 0016): calls by
    group, histograms of seconds, cases by agency and status, as JSON
    (`calllog.rollup`). Good while its hour's `report_hours.counted = version`."""

    __tablename__ = "report_counts"

    hour: Mapped[str] = mapped_column(String(13), primary_key=True)
    counts: Mapped[str] = mapped_column(Text)


class AnnouncementRow(Base):
    """One switch of the announcement override (revision 0018), on or off: who, when,
    what. Append-only; the newest row says what callers hear."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(64))
    on: Mapped[bool] = mapped_column(Boolean)
    mode: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[str | None] = mapped_column(String(128))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)

class DeskPresenceRow(Base):
    """A desk's presence (revision 0017): logged in or out and paused, as the desk's
    feature codes or the console set them, and what the service keeps after each call
    (wrap-up, calls today, last call's end). A desk with no row is logged in and free."""

    __tablename__ = "desk_presence"

    extension: Mapped[str] = mapped_column(String(16), primary_key=True)
    logged_in: Mapped[bool] = mapped_column(Boolean)
    paused: Mapped[bool] = mapped_column(Boolean)
    pause_reason: Mapped[str | None] = mapped_column(String(4))
    wrap_up_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    calls_day: Mapped[date | None] = mapped_column(Date)
    calls_today: Mapped[int] = mapped_column(Integer, server_default="0")
    last_call_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_by: Mapped[str] = mapped_column(Text)
    """Who last logged it in/out or paused it: `desk` (its codes) or a console user."""


class CallbackQueueRow(Base):
    """A call back the service still has to make (revision 0020): kept while the citizen
    waits for it, so the place (`joined_at`) survives a restart of the service."""

    __tablename__ = "callback_queue"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The call's id (no foreign key: the call's row may still be in the journal)."""
    number: Mapped[str] = mapped_column(Text)
    """The national number to dial (`routing.callback.check_number`)."""
    branch: Mapped[int | None] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    desk: Mapped[str | None] = mapped_column(String(16))
    """Set by the console: the operator's desk, rung first (None: the branch's queue)."""
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the service took a console request (None: not yet)."""


class DeskPresenceChangeRow(Base):
    """Every log in/out and pause/resume of a desk (revision 0021), append-only, written
    with `desk_presence` by `calllog.presence.set_state`: the pause time of a period is
    read from it (`desk_presence` keeps only the current state)."""

    __tablename__ = "desk_presence_changes"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    extension: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    logged_in: Mapped[bool] = mapped_column(Boolean)
    paused: Mapped[bool] = mapped_column(Boolean)
    pause_reason: Mapped[str | None] = mapped_column(String(4))
    by: Mapped[str] = mapped_column(Text)


metadata = Base.metadata

