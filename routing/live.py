"""The live state of the hotline, as the service's `GET /live` answers it: the calls in
progress and the desks, for the operating team's wallboard.

These models are the contract between the service (which fills them, `ivr.live`) and
the console (which reads them): both import them from here. The summary is pure: the
calls, the desks' registration and "now" are parameters.

`LiveSnapshot` fields:

- `version`: goes up by at least one whenever anything below changes (a call's step,
  branch or desks, a call starting or ending, a desk's registration); `GET
  /live?after=<version>` waits until it differs. It restarts with the service: a
  client compares `service_started_at` too.
- `service_started_at`, `at`: when the service started, when this snapshot was taken
  (UTC). Durations below are as of `at`.
- `calls`: one `LiveCall` per call in progress, oldest first.
- `by_step`: how many calls are at each step (every step, zeros included).
- `by_branch`: per configured branch, how many calls chose it (calls still in the
  menu have no branch).
- `longest_wait_seconds`, `longest_wait_call_id`: the caller waiting longest for a
  human (steps `answering`, `menu`, `queued`, `ringing`), counted from the start of their call;
  None when nobody waits.
- `desks`: every configured desk with its `DeskState`.
- `desks_by_state`: how many desks are in each state (every state, zeros included).
- `desks_checked_at`: when the desks' registration was last asked of Asterisk (None:
  not yet, or not lately: their state is then `unknown` unless a call shows it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from routing.config import HotlineConfig

Step = Literal["answering", "menu", "queued", "ringing", "talking", "survey", "message"]
"""Where a call is: answered, hours being checked (`answering`); choosing a branch
(`menu`); waiting in the branch's queue for a desk to be free (`queued`); a desk being
rung (`ringing`); bridged to a desk (`talking`); rating the call
after the desk hung up (`survey`); told nobody can take the call (closed hours, every
desk unreachable) and leaving a voice message (`message`)."""
STEPS: tuple[Step, ...] = get_args(Step)
WAITING: frozenset[Step] = frozenset({"answering", "menu", "queued", "ringing"})
"""Steps of a caller who has not reached a human yet."""

DeskState = Literal["busy", "ringing", "registered", "unregistered", "unknown"]
"""`busy`: in a call (talking); `ringing`: being rung for a call; else its phone's
registration with Asterisk, `unknown` when not asked lately."""
DESK_STATES: tuple[DeskState, ...] = get_args(DeskState)


class _Live(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LiveBranch(_Live):
    key: int
    name: str
    agency: str


class LiveCall(_Live):
    call_id: str
    caller_number: str
    """As the call log stores it (`calllog.callers`: "unknown" when no number)."""
    started_at: datetime
    step: Step
    step_since: datetime
    """When the current step began."""
    branch: LiveBranch | None = None
    """Once chosen in the menu."""
    desks: tuple[str, ...] = ()
    """The desks being rung (`ringing`) or the one talking (`talking`)."""


class BranchCount(_Live):
    key: int
    name: str
    agency: str
    calls: int


class LiveDesk(_Live):
    extension: str
    name: str
    state: DeskState
    registered: bool | None
    """Its phone's registration as last seen (None: not known)."""
    call_id: str | None = None
    """The call it is talking in or being rung for."""


class LiveSnapshot(_Live):
    version: int
    service_started_at: datetime
    at: datetime
    calls: tuple[LiveCall, ...]
    by_step: dict[Step, int]
    by_branch: tuple[BranchCount, ...]
    longest_wait_seconds: float | None
    longest_wait_call_id: str | None
    desks: tuple[LiveDesk, ...]
    desks_by_state: dict[DeskState, int]
    desks_checked_at: datetime | None


def summarise(
    *,
    version: int,
    service_started_at: datetime,
    at: datetime,
    calls: Iterable[LiveCall],
    config: HotlineConfig,
    registered: Mapping[str, bool],
    desks_checked_at: datetime | None,
) -> LiveSnapshot:
    """The snapshot of `calls` and the configured desks (`registered`: each desk's
    registration as last seen; a desk missing from it is not known) as of `at`."""
    ordered = tuple(sorted(calls, key=lambda c: (c.started_at, c.call_id)))
    by_step = dict.fromkeys(STEPS, 0)
    per_branch: dict[int, int] = {}
    for call in ordered:
        by_step[call.step] += 1
        if call.branch is not None:
            per_branch[call.branch.key] = per_branch.get(call.branch.key, 0) + 1
    waiting = [c for c in ordered if c.step in WAITING]
    longest = waiting[0] if waiting else None
    desks = _desks(ordered, config, registered)
    by_state = dict.fromkeys(DESK_STATES, 0)
    for desk in desks:
        by_state[desk.state] += 1
    return LiveSnapshot(
        version=version, service_started_at=service_started_at, at=at, calls=ordered,
        by_step=by_step,
        by_branch=tuple(BranchCount(key=b.key, name=b.name, agency=b.agency,
                                    calls=per_branch.get(b.key, 0)) for b in config.branches),
        longest_wait_seconds=(
            None if longest is None else max(0.0, (at - longest.started_at).total_seconds())),
        longest_wait_call_id=None if longest is None else longest.call_id,
        desks=desks, desks_by_state=by_state, desks_checked_at=desks_checked_at,
    )


def _desks(
    calls: tuple[LiveCall, ...], config: HotlineConfig, registered: Mapping[str, bool]
) -> tuple[LiveDesk, ...]:
    in_call: dict[str, tuple[DeskState, str]] = {}
    for call in calls:
        if call.step in ("talking", "ringing"):
            state: DeskState = "busy" if call.step == "talking" else "ringing"
            for extension in call.desks:
                if in_call.get(extension, ("ringing", ""))[0] == "ringing":
                    in_call[extension] = (state, call.call_id)
    desks = []
    for desk in config.desks:
        seen = registered.get(desk.extension)
        state, call_id = in_call.get(desk.extension, (_registration(seen), None))
        desks.append(LiveDesk(extension=desk.extension, name=desk.name, state=state,
                              registered=seen, call_id=call_id))
    return tuple(desks)


def _registration(seen: bool | None) -> DeskState:
    if seen is None:
        return "unknown"
    return "registered" if seen else "unregistered"


PresenceState = Literal["talking", "ringing", "logged_out", "paused", "wrap_up", "free",
                        "unregistered", "unknown"]
"""A desk as the wallboard's desk rows show it: its call first (`talking`, `ringing`),
then its presence (`logged_out`, `paused`, `wrap_up` until `wrap_up_until`), then its
phone (`unregistered`, `unknown` when not asked lately), else `free`."""
PRESENCE_STATES: tuple[PresenceState, ...] = get_args(PresenceState)


def presence_state(
    live: DeskState | None, *, logged_in: bool = True, paused: bool = False,
    wrap_up_until: datetime | None = None, now: datetime,
) -> PresenceState:
    """The desk's state on the wallboard from its live state (None: no snapshot) and its
    stored presence (a desk with none is logged in, not paused, not in wrap-up)."""
    if live == "busy":
        return "talking"
    if live == "ringing":
        return "ringing"
    if not logged_in:
        return "logged_out"
    if paused:
        return "paused"
    if wrap_up_until is not None and now < wrap_up_until:
        return "wrap_up"
    if live in ("unregistered", "unknown"):
        return live
    return "free"
