"""Desk presence: whether a desk takes calls now, and in which order desks are offered one.

A desk is logged in or out, paused (with an optional reason digit) or not, and after
each call spends its branch's `wrap_up_seconds` in wrap-up. Logged-out, paused and
wrapping-up desks are not rung. Pure: "now" and the states are parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
""""Today" for `calls_today` is the hotline's day, not UTC's."""

Unavailable = Literal["logged_out", "paused", "wrap_up"]


@dataclass(frozen=True)
class DeskPresence:
    extension: str
    logged_in: bool = True
    paused: bool = False
    pause_reason: str | None = None
    """The digit pressed after the pause code (`*46` + digit), if any."""
    wrap_up_until: datetime | None = None
    calls_day: date | None = None
    """The local day `calls_today` counts."""
    calls_today: int = 0
    last_call_ended_at: datetime | None = None


def unavailable_reason(presence: DeskPresence | None, now: datetime) -> Unavailable | None:
    """Why the desk may not be offered a call now; None when it may. A desk with no
    recorded presence is logged in and free (the state before anyone touched it)."""
    if presence is None:
        return None
    if not presence.logged_in:
        return "logged_out"
    if presence.paused:
        return "paused"
    if presence.wrap_up_until is not None and now < presence.wrap_up_until:
        return "wrap_up"
    return None


def available_now(presence: DeskPresence | None, now: datetime) -> bool:
    """The "desk available now" decision (also the queue's: a desk that becomes
    available may be offered to the head of its branch's queue)."""
    return unavailable_reason(presence, now) is None


def became_available(before: DeskPresence | None, after: DeskPresence | None,
                     now: datetime) -> bool:
    """The desk may be offered a call now and could not before (logged in, unpaused):
    the head of its branch's queue is offered it at once."""
    return not available_now(before, now) and available_now(after, now)


def back_from_wrap_up_at(presence: DeskPresence | None, now: datetime) -> datetime | None:
    """When the desk becomes available by itself (its wrap-up ends), if it will: None
    when it is available already, or paused or logged out (someone must act)."""
    if presence is None or unavailable_reason(presence, now) != "wrap_up":
        return None
    return presence.wrap_up_until


def calls_today(presence: DeskPresence | None, now: datetime) -> int:
    if presence is None or presence.calls_day != now.astimezone(LOCAL_TZ).date():
        return 0
    return presence.calls_today


def order_desks(
    desks: Sequence[str],
    strategy: str,
    presence: Mapping[str, DeskPresence],
    now: datetime,
) -> list[str]:
    """`desks` in the order the strategy offers them a call (stable: ties keep the YAML
    order). `least_recent`: the desk idle longest first (a desk that never took a call
    counts as idle longest); `fewest_calls`: fewest calls today first. Other strategies
    keep the YAML order."""
    if strategy == "least_recent":
        never = datetime.min.replace(tzinfo=now.tzinfo)

        def idle_since(desk: str) -> datetime:
            p = presence.get(desk)
            return p.last_call_ended_at if p and p.last_call_ended_at else never

        return sorted(desks, key=idle_since)
    if strategy == "fewest_calls":
        return sorted(desks, key=lambda d: calls_today(presence.get(d), now))
    return list(desks)


def after_call(presence: DeskPresence | None, extension: str, ended_at: datetime,
               wrap_up_seconds: int) -> DeskPresence:
    """The desk's state once a call it answered has ended: one more call today, idle
    from `ended_at`, in wrap-up for `wrap_up_seconds`."""
    current = presence or DeskPresence(extension)
    day = ended_at.astimezone(LOCAL_TZ).date()
    count = current.calls_today + 1 if current.calls_day == day else 1
    wrap = ended_at + timedelta(seconds=wrap_up_seconds) if wrap_up_seconds > 0 else None
    return replace(current, calls_day=day, calls_today=count, last_call_ended_at=ended_at,
                   wrap_up_until=wrap)


PresenceChange = Literal["logged_in", "logged_out", "paused", "resumed"]


def toggle_login(presence: DeskPresence | None, extension: str) -> tuple[DeskPresence,
                                                                         PresenceChange]:
    """The log in/out code (`*45`): logs a logged-in desk out and the reverse. Logging
    in clears a pause (a desk that comes back is ready)."""
    current = presence or DeskPresence(extension)
    if current.logged_in:
        return replace(current, logged_in=False), "logged_out"
    return replace(current, logged_in=True, paused=False, pause_reason=None), "logged_in"


def toggle_pause(presence: DeskPresence | None, extension: str,
                 reason: str | None = None) -> tuple[DeskPresence, PresenceChange]:
    """The pause code (`*46`, optionally + a reason digit): pauses a desk taking calls,
    resumes a paused one."""
    current = presence or DeskPresence(extension)
    if current.paused:
        return replace(current, paused=False, pause_reason=None), "resumed"
    return replace(current, paused=True, pause_reason=reason), "paused"
