"""When presence sends a caller to the queue rather than to the message, and when a
desk coming back must be offered to the head of its branch's queue: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.presence import (
    DeskPresence,
    back_from_wrap_up_at,
    became_available,
)
from routing.queue import LOGGED_OUT, PAUSED, TAKEN, WRAP_UP, should_queue

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("results", "queue"), [
    ({"1401": PAUSED, "1402": PAUSED}, True),
    ({"1401": WRAP_UP, "1402": WRAP_UP}, True),
    ({"1401": PAUSED, "1402": WRAP_UP}, True),
    ({"1401": PAUSED, "1402": LOGGED_OUT}, True),
    ({"1401": WRAP_UP, "1402": "CHANUNAVAIL"}, True),
    ({"1401": TAKEN, "1402": LOGGED_OUT}, True),
    ({"1401": LOGGED_OUT, "1402": LOGGED_OUT}, False),
    ({"1401": LOGGED_OUT, "1402": "CHANUNAVAIL"}, False),
    ({"1401": LOGGED_OUT, "1402": "NOANSWER"}, False),
], ids=["all-paused", "all-wrap-up", "paused-and-wrap-up", "paused-and-logged-out",
        "wrap-up-and-unregistered", "taken-and-logged-out", "all-logged-out",
        "logged-out-and-unregistered", "logged-out-and-rang-out"])
def test_desks_that_will_be_back_mean_queue_nobody_there_means_a_message(
    results: dict[str, str], queue: bool,
) -> None:
    assert should_queue(results) is queue


def test_a_desk_unpaused_or_logged_in_became_available() -> None:
    paused = DeskPresence("1401", paused=True)
    out = DeskPresence("1401", logged_in=False)
    ready = DeskPresence("1401")
    assert became_available(paused, ready, NOW)
    assert became_available(out, ready, NOW)


def test_a_desk_that_was_available_or_stays_away_did_not_become_available() -> None:
    ready = DeskPresence("1401")
    assert not became_available(ready, ready, NOW)
    assert not became_available(None, ready, NOW)  # never touched: it was available
    assert not became_available(ready, DeskPresence("1401", paused=True), NOW)
    in_wrap_up = DeskPresence("1401", paused=True, wrap_up_until=NOW + timedelta(seconds=5))
    # Unpaused but still in wrap-up: it is offered when the wrap-up ends, not now.
    assert not became_available(in_wrap_up, DeskPresence(
        "1401", wrap_up_until=NOW + timedelta(seconds=5)), NOW)


def test_a_desk_in_wrap_up_comes_back_by_itself_when_it_ends() -> None:
    until = NOW + timedelta(seconds=20)
    assert back_from_wrap_up_at(DeskPresence("1401", wrap_up_until=until), NOW) == until


def test_a_desk_comes_back_by_itself_only_from_wrap_up() -> None:
    until = NOW + timedelta(seconds=20)
    assert back_from_wrap_up_at(None, NOW) is None
    assert back_from_wrap_up_at(DeskPresence("1401"), NOW) is None
    assert back_from_wrap_up_at(DeskPresence("1401", wrap_up_until=NOW), NOW) is None  # over
    # Paused or logged out during its wrap-up: someone has to bring it back.
    assert back_from_wrap_up_at(DeskPresence("1401", paused=True, wrap_up_until=until),
                                NOW) is None
    assert back_from_wrap_up_at(DeskPresence("1401", logged_in=False, wrap_up_until=until),
                                NOW) is None
