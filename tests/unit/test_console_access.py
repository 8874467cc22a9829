"""The console's access rules (console/access.py): each role reaches its sections and
gets 403 (audited) on every other; agency users see only their agency's things."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calllog.users import InMemoryUserStore, Role, User
from console.access import (
    RULES,
    Action,
    Forbidden,
    agency_scope,
    may,
    may_see_agency,
    require_agency,
)
from console.pages import SECTIONS
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import add_user, client, console_app, log_in

AT = datetime(2026, 1, 5, tzinfo=UTC)
SO_TU_PHAP = "Sở Tư pháp"
SO_NOI_VU = "Sở Nội vụ"


def user(role: Role, agency: str | None = None, *, active: bool = True) -> User:
    return User(1, "u", role, agency, "hash", active, AT, AT)


ALLOWED = {
    Role.ADMIN: set(Action),
    Role.OPERATOR: set(Action) - {Action.APPLY_CONFIG, Action.MANAGE_USERS},
    Role.AGENCY: {Action.VIEW_CALLS, Action.VIEW_CASES, Action.CHANGE_CASES},
    Role.VIEWER: {Action.VIEW_WALLBOARD, Action.VIEW_REPORTS},
}


def test_every_role_has_a_rule() -> None:
    assert set(RULES) == set(Role)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_exactly_what_the_table_says(role: Role) -> None:
    who = user(role, SO_TU_PHAP if role is Role.AGENCY else None)
    assert {a for a in Action if may(who, a)} == ALLOWED[role]


def test_a_disabled_user_may_do_nothing() -> None:
    assert not any(may(user(Role.ADMIN, active=False), a) for a in Action)


def test_an_agency_user_sees_only_its_own_agency() -> None:
    clerk = user(Role.AGENCY, SO_TU_PHAP)
    assert agency_scope(clerk) == SO_TU_PHAP
    assert may_see_agency(clerk, SO_TU_PHAP)
    assert not may_see_agency(clerk, SO_NOI_VU)
    assert not may_see_agency(clerk, None)  # nothing unassigned either
    with pytest.raises(Forbidden):
        require_agency(clerk, SO_NOI_VU)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR])
def test_admins_and_operators_see_every_agency(role: Role) -> None:
    assert agency_scope(user(role)) is None
    assert may_see_agency(user(role), SO_NOI_VU) and may_see_agency(user(role), None)
    require_agency(user(role), SO_NOI_VU)


FORBIDDEN = [
    (role, section.path)
    for role in Role
    for section in SECTIONS
    if section.action not in ALLOWED[role]
]


async def _logged_in(role: Role) -> tuple[InMemoryUserStore, object]:
    users = InMemoryUserStore()
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    await add_user(users, clock, "u", role, SO_TU_PHAP if role is Role.AGENCY else None)
    return users, console_app(users, clock)


@pytest.mark.parametrize(("role", "path"), FORBIDDEN)
async def test_a_section_outside_the_role_is_refused_403_and_audited(
    role: Role, path: str
) -> None:
    users, app = await _logged_in(role)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "u")
        answer = await http.get(path)
    assert answer.status_code == 403
    assert "không có quyền" in answer.text
    assert users.entries[-1].action == "forbidden"
    assert users.entries[-1].detail.startswith(f"GET {path}:")


@pytest.mark.parametrize("role", list(Role))
async def test_the_home_page_lists_only_the_sections_the_role_may_open(role: Role) -> None:
    _, app = await _logged_in(role)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "u")
        home = (await http.get("/")).text
    for section in SECTIONS:
        assert (f'href="{section.path}"' in home) is (section.action in ALLOWED[role])


async def test_a_visitor_asking_for_a_section_is_sent_to_log_in() -> None:
    _, app = await _logged_in(Role.ADMIN)
    async with client(app) as http:  # type: ignore[arg-type]
        answer = await http.get("/cases")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
