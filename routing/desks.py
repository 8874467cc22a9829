"""Which desks to ring, in which order, given who is registered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from routing.config import Branch
from routing.presence import DeskPresence, Unavailable, order_desks, unavailable_reason


@dataclass(frozen=True)
class DeskPlan:
    waves: list[list[str]]
    """Each wave rings together; the next wave only when the previous one failed."""
    skipped: list[str]
    """Desks not rung at all because their phone is not registered."""
    away: dict[str, Unavailable] = field(default_factory=dict)
    """Desks not rung because they are logged out, paused or in wrap-up, and which."""


def plan_desks(
    branch: Branch,
    registered: Mapping[str, bool],
    presence: Mapping[str, DeskPresence] | None = None,
    now: datetime | None = None,
) -> DeskPlan:
    """Ring the registered desks that are available (logged in, not paused, past their
    wrap-up): all at once ("ringall") or one at a time, in the YAML's order
    ("sequential"), idle longest first ("least_recent") or fewest calls today first
    ("fewest_calls").

    A desk missing from `registered` is taken as registered (state unknown: try it);
    one missing from `presence` as available. Presence needs `now`."""
    presence = presence or {}
    away: dict[str, Unavailable] = {}
    if now is not None:
        for desk in branch.desks:
            why = unavailable_reason(presence.get(desk), now)
            if why is not None:
                away[desk] = why
        ordered = order_desks(branch.desks, branch.strategy, presence, now)
    else:
        ordered = list(branch.desks)
    candidates = [d for d in ordered if d not in away]
    reachable = [d for d in candidates if registered.get(d, True)]
    skipped = [d for d in candidates if not registered.get(d, True)]
    if not reachable:
        return DeskPlan(waves=[], skipped=skipped, away=away)
    if branch.strategy == "ringall":
        return DeskPlan(waves=[reachable], skipped=skipped, away=away)
    return DeskPlan(waves=[[d] for d in reachable], skipped=skipped, away=away)


def repeat_label(times: int) -> str:
    """What the desk's display adds for a number calling again: " (lần 3)" on its third
    call within the window, nothing on its first."""
    return f" (lần {times})" if times >= 2 else ""
