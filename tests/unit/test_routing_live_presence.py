"""The wallboard's desk state (`routing.live.presence_state`): the call first, then the
desk's presence, then its phone's registration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.live import DeskState, PresenceState, presence_state

NOW = datetime(2026, 9, 15, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("live", "presence", "shown"), [
    ("busy", {"logged_in": False}, "talking"),  # a call outranks what the desk said
    ("ringing", {"paused": True}, "ringing"),
    ("registered", {"logged_in": False, "paused": True}, "logged_out"),
    ("registered", {"paused": True}, "paused"),
    ("registered", {"wrap_up_until": NOW + timedelta(seconds=1)}, "wrap_up"),
    ("registered", {"wrap_up_until": NOW}, "free"),  # wrap-up over at its instant
    ("registered", {}, "free"),
    (None, {}, "free"),
    ("unregistered", {}, "unregistered"),
    ("unknown", {"wrap_up_until": NOW - timedelta(seconds=5)}, "unknown"),
    ("unregistered", {"paused": True}, "paused"),
])
def test_a_desk_shows_its_call_then_its_presence_then_its_phone(
    live: DeskState | None, presence: dict[str, object], shown: PresenceState,
) -> None:
    assert presence_state(live, now=NOW, **presence) == shown  # type: ignore[arg-type]
