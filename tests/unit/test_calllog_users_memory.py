"""The in-memory users store (the console tests' fake) passes the users contract
(tests/users_contract.py, also run against UserStore on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from calllog.users import InMemoryUserStore, Users
from tests.users_contract import SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_in_memory_users(scenario: Callable[[Users], Awaitable[None]]) -> None:
    await scenario(InMemoryUserStore())
