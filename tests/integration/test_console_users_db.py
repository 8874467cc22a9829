"""The console's users and audit log on SQLite and PostgreSQL (`calllog.users.UserStore`),
the `hotline users` commands, and the console app writing its audit rows."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.users import (
    AuditEntry,
    DuplicateUserError,
    LastAdminError,
    Role,
    UnknownUserError,
    Users,
    UserStore,
)
from console.passwords import hash_password, verify_password
from hotline.users import run_users
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import PASSWORD, client, console_app, hotline_config, log_in
from tests.users_contract import SCENARIOS

AT = MONDAY_9AM_ICT


@pytest_asyncio.fixture
async def users(db_url: str) -> AsyncIterator[UserStore]:
    engine = make_engine(db_url)
    yield UserStore(make_sessionmaker(engine))
    await engine.dispose()


async def test_a_user_is_stored_with_role_agency_and_hash(users: UserStore) -> None:
    added = await users.add("tu-phap", Role.AGENCY, "Sở Tư pháp", "argon2-hash", at=AT)
    found = await users.by_name("tu-phap")
    assert found == added
    assert (found.role, found.agency, found.active, found.created_at) == (
        Role.AGENCY, "Sở Tư pháp", True, AT)
    assert await users.by_id(added.id) == added
    assert await users.by_name("khong-co") is None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_users_contract(
    users: UserStore, scenario: Callable[[Users], Awaitable[None]]
) -> None:
    await scenario(users)


async def test_two_admins_disabled_at_once_leave_one_active_admin(users: UserStore) -> None:
    for round_ in range(5):
        a, b = f"a{round_}", f"b{round_}"
        await users.add(a, Role.ADMIN, None, "h", at=AT)
        await users.add(b, Role.ADMIN, None, "h", at=AT)
        for user in await users.all_users():  # a and b are the only active admins
            if user.username not in (a, b) and user.active:
                await users.set_active(user.username, False, at=AT)
        outcomes = await asyncio.gather(users.set_active(a, False, at=AT),
                                        users.set_active(b, False, at=AT),
                                        return_exceptions=True)
        assert sorted(type(o).__name__ for o in outcomes) == ["LastAdminError", "NoneType"]
        assert len(await _active_admins(users)) == 1


async def test_a_demotion_and_a_disabling_at_once_leave_one_active_admin(
    users: UserStore,
) -> None:
    await users.add("c", Role.ADMIN, None, "h", at=AT)
    await users.add("d", Role.ADMIN, None, "h", at=AT)
    outcomes = await asyncio.gather(users.set_role("c", Role.VIEWER, None, at=AT),
                                    users.set_active("d", False, at=AT),
                                    return_exceptions=True)
    assert sum(isinstance(o, LastAdminError) for o in outcomes) == 1
    assert len(await _active_admins(users)) == 1


async def _active_admins(users: UserStore) -> list[str]:
    return [u.username for u in await users.all_users() if u.active and u.role is Role.ADMIN]


async def test_a_taken_name_is_refused(users: UserStore) -> None:
    await users.add("lan", Role.OPERATOR, None, "h", at=AT)
    with pytest.raises(DuplicateUserError):
        await users.add("lan", Role.VIEWER, None, "h", at=AT)


async def test_agency_users_need_an_agency_and_others_have_none(users: UserStore) -> None:
    with pytest.raises(ValueError, match="agency"):
        await users.add("a", Role.AGENCY, None, "h", at=AT)
    with pytest.raises(ValueError, match="agency"):
        await users.add("b", Role.VIEWER, "Sở Nội vụ", "h", at=AT)


async def test_password_and_disabling_change_the_user_and_its_change_time(
    users: UserStore,
) -> None:
    await users.add("lan", Role.OPERATOR, None, "h1", at=AT)
    later = AT + timedelta(hours=1)
    await users.set_password("lan", "h2", at=later)
    await users.set_active("lan", False, at=later + timedelta(hours=1))
    user = await users.by_name("lan")
    assert user is not None
    assert (user.password_hash, user.active, user.changed_at) == (
        "h2", False, later + timedelta(hours=1))
    with pytest.raises(UnknownUserError):
        await users.set_active("khong-co", False, at=later)


async def test_failed_logins_are_counted_by_name_or_address_since_a_time(
    users: UserStore,
) -> None:
    for minutes, name, address in [(0, "lan", "10.0.0.1"), (5, "lan", "10.0.0.2"),
                                   (10, "minh", "10.0.0.1"), (20, "lan", "10.0.0.1")]:
        await users.audit(AuditEntry(AT + timedelta(minutes=minutes), name, address,
                                     "login_failed", "wrong password"))
    await users.audit(AuditEntry(AT, "lan", "10.0.0.1", "login"))
    since = AT + timedelta(minutes=1)
    assert await users.count_audit("login_failed", since, username="lan", address=None) == 2
    assert await users.count_audit("login_failed", since, username=None,
                                   address="10.0.0.1") == 2
    assert await users.count_audit("login_failed", AT, username=None, address=None) == 4
    assert [e.action for e in await users.recent_audit(2)] == ["login", "login_failed"]


def _args(command: str, username: str, **extra: object) -> argparse.Namespace:
    return argparse.Namespace(users_command=command, username=username, **extra)


async def test_users_commands_add_change_and_disable_with_audit(db_url: str) -> None:
    config = hotline_config()
    code, text = await run_users(
        db_url, _args("add", "admin", role="admin", agency=None), config=config, now=AT,
        read_password=lambda: PASSWORD)
    assert (code, text) == (0, "user admin added (admin)")
    code, _ = await run_users(db_url, _args("passwd", "admin"), config=config, now=AT,
                              read_password=lambda: "một mật khẩu mới dài")
    assert code == 0
    code, text = await run_users(db_url, _args("disable", "admin"), config=config, now=AT,
                                 read_password=lambda: "")
    assert code == 4 and "last active admin" in text
    await run_users(db_url, _args("add", "admin2", role="admin", agency=None), config=config,
                    now=AT, read_password=lambda: PASSWORD)
    code, _ = await run_users(db_url, _args("disable", "admin"), config=config, now=AT,
                              read_password=lambda: "")
    assert code == 0
    engine = make_engine(db_url)
    try:
        store = UserStore(make_sessionmaker(engine))
        user = await store.by_name("admin")
        assert user is not None and not user.active
        assert verify_password(user.password_hash, "một mật khẩu mới dài")
        audit = await store.recent_audit()
        assert [e.action for e in audit] == [
            "user_disabled", "user_added", "password_changed", "user_added"]
        assert all(e.username and e.username.startswith("cli:") for e in audit)
    finally:
        await engine.dispose()


async def test_users_add_refuses_an_agency_not_in_the_yaml_and_a_short_password(
    db_url: str,
) -> None:
    config = hotline_config()
    code, text = await run_users(
        db_url, _args("add", "x", role="agency", agency="Sở Không Có"), config=config,
        now=AT, read_password=lambda: PASSWORD)
    assert code == 2 and "Sở Tư pháp" in text
    code, text = await run_users(
        db_url, _args("add", "x", role="viewer", agency=None), config=config, now=AT,
        read_password=lambda: "ngan")
    assert code == 4 and "at least" in text
    code, text = await run_users(
        db_url, _args("add", "nguyen-van-an", role="viewer", agency=None), config=config,
        now=AT, read_password=lambda: "nguyen-van-an")
    assert code == 4 and "user name" in text
    code, text = await run_users(
        db_url, _args("add", "x", role="viewer", agency=None), config=config, now=AT,
        read_password=lambda: " " * 12)
    assert code == 4 and "only spaces" in text


async def test_the_console_writes_logins_failures_and_refusals_to_the_audit_table(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        await _audited_visit(UserStore(make_sessionmaker(engine)))
    finally:
        await engine.dispose()


async def _audited_visit(users: UserStore) -> None:
    clock = FakeClock(AT, running=False)
    await users.add("viewer", Role.VIEWER, None, hash_password(PASSWORD), at=AT)
    async with client(console_app(users, clock)) as http:
        await log_in(http, "viewer", password="sai mật khẩu dài")
        await log_in(http, "viewer")
        assert (await http.get("/cases")).status_code == 403
        assert (await http.post("/logout")).status_code == 403
    rows = list(reversed(await users.recent_audit()))
    assert [(r.action, r.username, r.address) for r in rows] == [
        ("login_failed", "viewer", "192.0.2.10"),
        ("login", "viewer", "192.0.2.10"),
        ("forbidden", "viewer", "192.0.2.10"),
        ("csrf_refused", "viewer", "192.0.2.10"),
    ]
    assert all(r.at == AT for r in rows)


async def test_migration_0009_matches_the_users_and_audit_tables(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import Connection

    from calllog.tables import metadata

    def differences(connection: Connection) -> list[object]:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in diff if "console_users" in repr(d) or "audit_log" in repr(d)]

    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
