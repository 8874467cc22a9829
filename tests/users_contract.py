"""What every `calllog.users.Users` must do beyond adding and reading users: list them,
change a role, and never lose the last active admin. Run against the in-memory fake by
tests/unit/test_calllog_users_memory.py and against `UserStore` (SQLite and PostgreSQL)
by tests/integration/test_console_users_db.py (tests/conftest.py rewrites its asserts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from calllog.users import DeskTakenError, LastAdminError, Role, UnknownUserError, Users
from tests.clock import MONDAY_9AM_ICT

AT = MONDAY_9AM_ICT
LATER = AT + timedelta(hours=1)
TU_PHAP = "Sở Tư pháp"


async def users_are_listed_by_name(users: Users) -> None:
    await users.add("minh", Role.VIEWER, None, "h", at=AT)
    await users.add("an", Role.AGENCY, TU_PHAP, "h", at=AT)
    await users.add("lan", Role.ADMIN, None, "h", at=AT)
    listed = await users.all_users()
    assert [(u.username, u.role, u.agency) for u in listed] == [
        ("an", Role.AGENCY, TU_PHAP), ("lan", Role.ADMIN, None), ("minh", Role.VIEWER, None)]


async def a_role_change_sets_role_agency_and_change_time(users: Users) -> None:
    await users.add("lan", Role.ADMIN, None, "h", at=AT)
    await users.add("an", Role.VIEWER, None, "h", at=AT)
    await users.set_role("an", Role.AGENCY, TU_PHAP, at=LATER)
    user = await users.by_name("an")
    assert user is not None
    assert (user.role, user.agency, user.changed_at, user.created_at) == (
        Role.AGENCY, TU_PHAP, LATER, AT)
    await users.set_role("an", Role.OPERATOR, None, at=LATER)
    user = await users.by_name("an")
    assert user is not None and (user.role, user.agency) == (Role.OPERATOR, None)


async def a_role_change_keeps_the_agency_rule(users: Users) -> None:
    await users.add("an", Role.VIEWER, None, "h", at=AT)
    with pytest.raises(ValueError, match="agency"):
        await users.set_role("an", Role.AGENCY, None, at=LATER)
    with pytest.raises(ValueError, match="agency"):
        await users.set_role("an", Role.OPERATOR, TU_PHAP, at=LATER)
    with pytest.raises(UnknownUserError):
        await users.set_role("khong-co", Role.VIEWER, None, at=LATER)
    user = await users.by_name("an")
    assert user is not None and (user.role, user.changed_at) == (Role.VIEWER, AT)


async def the_last_active_admin_is_never_disabled_or_demoted(users: Users) -> None:
    await users.add("lan", Role.ADMIN, None, "h", at=AT)
    await users.add("minh", Role.ADMIN, None, "h", at=AT)
    await users.set_active("minh", False, at=LATER)
    with pytest.raises(LastAdminError):
        await users.set_active("lan", False, at=LATER)
    with pytest.raises(LastAdminError):
        await users.set_role("lan", Role.OPERATOR, None, at=LATER)
    lan = await users.by_name("lan")
    assert lan is not None and (lan.role, lan.active, lan.changed_at) == (
        Role.ADMIN, True, AT)
    await users.set_active("minh", True, at=LATER)  # two active admins again
    await users.set_role("lan", Role.VIEWER, None, at=LATER)
    with pytest.raises(LastAdminError):
        await users.set_active("minh", False, at=LATER)


async def a_desk_has_at_most_one_user(users: Users) -> None:
    await users.add("an", Role.OPERATOR, None, "h", at=AT)
    await users.add("binh", Role.AGENCY, TU_PHAP, "h", at=AT)
    await users.set_desk("an", "1401", at=LATER)
    user = await users.by_name("an")
    assert user is not None and (user.desk, user.changed_at) == ("1401", LATER)
    with pytest.raises(DeskTakenError) as taken:
        await users.set_desk("binh", "1401", at=LATER)
    assert taken.value.holder == "an"
    await users.set_desk("an", "1401", at=LATER)  # again: no change, no error
    await users.set_desk("an", None, at=LATER)
    await users.set_desk("binh", "1401", at=LATER)
    assert [(u.username, u.desk) for u in await users.all_users()] == [
        ("an", None), ("binh", "1401")]
    with pytest.raises(UnknownUserError):
        await users.set_desk("khong-co", "1402", at=LATER)


SCENARIOS: list[Callable[[Users], Awaitable[None]]] = [
    users_are_listed_by_name,
    a_role_change_sets_role_agency_and_change_time,
    a_role_change_keeps_the_agency_rule,
    the_last_active_admin_is_never_disabled_or_demoted,
    a_desk_has_at_most_one_user,
]
