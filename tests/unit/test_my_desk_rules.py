"""Bàn của tôi's decisions: which call the desk talks in (from the service's live state),
who may use the page (a user bound to a desk who may see calls), and the admin's
binding of a user to a desk (a configured desk, one user per desk)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calllog.users import InMemoryUserStore, Role, User
from console.access import Forbidden, require_desk
from console.accounts import Accounts
from console.casework import Refused
from console.my_desk import talking_call
from routing.live import LiveCall, LiveSnapshot, Step, summarise
from tests.console_client import hotline_config

NOW = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
DESKS = ("1401", "1402", "1501")


def live_call(call_id: str, step: Step, *desks: str) -> LiveCall:
    return LiveCall(call_id=call_id, caller_number="0939000001", started_at=NOW, step=step,
                    step_since=NOW, desks=desks)


def snapshot(*calls: LiveCall) -> LiveSnapshot:
    return summarise(version=1, service_started_at=NOW, at=NOW, calls=calls,
                     config=hotline_config(), registered={}, desks_checked_at=None)


def user(role: Role, desk: str | None, agency: str | None = None) -> User:
    return User(1, "an", role, agency, "h", True, NOW, NOW, desk)


def test_the_desks_call_is_the_one_talking_on_it() -> None:
    live = snapshot(live_call("ringing-here", "ringing", "1401", "1402"),
                    live_call("talking-elsewhere", "talking", "1402"),
                    live_call("talking-here", "talking", "1401"))
    found = talking_call(live, "1401")
    assert found is not None and found.call_id == "talking-here"
    assert talking_call(live, "1501") is None


def test_a_desk_only_rung_or_no_live_state_has_no_call() -> None:
    assert talking_call(snapshot(live_call("c", "ringing", "1401")), "1401") is None
    assert talking_call(None, "1401") is None


@pytest.mark.parametrize(("role", "agency"), [
    (Role.ADMIN, None), (Role.OPERATOR, None), (Role.AGENCY, "Sở Tư pháp")])
def test_a_user_bound_to_a_desk_who_may_see_calls_uses_it(role: Role, agency: str | None,
                                                          ) -> None:
    assert require_desk(user(role, "1401", agency)) == "1401"


def test_a_user_without_a_desk_or_a_viewer_is_refused_the_desk_page() -> None:
    with pytest.raises(Forbidden):
        require_desk(user(Role.OPERATOR, None))
    with pytest.raises(Forbidden):
        require_desk(user(Role.VIEWER, "1401"))  # a viewer sees no calls


async def test_a_user_is_bound_only_to_a_configured_desk_and_one_user_per_desk() -> None:
    users = InMemoryUserStore()
    an = await users.add("an", Role.OPERATOR, None, "h", at=NOW)
    binh = await users.add("binh", Role.OPERATOR, None, "h", at=NOW)
    accounts = Accounts(users)
    with pytest.raises(Refused, match="không có trong cấu hình"):
        await accounts.set_desk(an, desk="9999", desks=DESKS, at=NOW)
    assert await accounts.set_desk(an, desk=" 1401 ", desks=DESKS, at=NOW) == "1401"
    with pytest.raises(Refused, match="«an»"):
        await accounts.set_desk(binh, desk="1401", desks=DESKS, at=NOW)
    assert await accounts.set_desk(an, desk="", desks=DESKS, at=NOW) is None
    assert await accounts.set_desk(binh, desk="1401", desks=DESKS, at=NOW) == "1401"
