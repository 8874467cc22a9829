"""The console's "Gọi lại" button on real SQLite and PostgreSQL: it writes a request the
service takes (the operator's desk, then the citizen), only for a configured desk, a
pending call back and a number the service may call; CSRF and roles as elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest_asyncio
from starlette.applications import Starlette

from calllog.callback_queue import CallbackQueueStore
from calllog.db import make_engine, make_sessionmaker
from calllog.followup import CallbackActions
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import Role, UserStore
from console.app import create_app
from console.casework import FollowupWork, agencies_of
from routing.config import CallbackConfig
from routing.deadlines import case_deadline
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, hotline_config, log_in
from tests.integration.test_console_followup import T0, TU_PHAP, call, post


@dataclass
class Env:
    app: Starlette
    store: CallLogStore
    queue: CallbackQueueStore
    users: UserStore

    async def as_user(self, username: str) -> httpx.AsyncClient:
        http = client(self.app)
        assert (await log_in(http, username)).status_code == 303
        return http


@pytest_asyncio.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    config = hotline_config()
    config = config.model_copy(update={"callback": CallbackConfig(trunk="pstn")})
    clock = FakeClock(T0 + timedelta(hours=1), running=False)
    store = CallLogStore(sessions, case_deadline=case_deadline(config))
    queue = CallbackQueueStore(sessions)
    users = UserStore(sessions)
    app = create_app(users=users, config=config, clock=clock, secret=SECRET,
                     queries=CallQueries(sessions),
                     followup=FollowupWork(CallbackActions(sessions), store,
                                           agencies_of(config), queue))
    for name, role, agency in [("lan", Role.OPERATOR, None), ("tuphap", Role.AGENCY, TU_PHAP),
                               ("xem", Role.VIEWER, None)]:
        await add_user(users, clock, name, role, agency)
    try:
        yield Env(app, store, queue, users)
    finally:
        await engine.dispose()


async def test_goi_lai_asks_the_service_to_ring_the_operators_desk_then_the_citizen(
    env: Env,
) -> None:
    await env.store.save(call("x", 0, "+84901000001", callback="pending", branch_key=4))
    http = await env.as_user("lan")
    page = await http.get("/callbacks")
    assert 'action="/callbacks/x/dial"' in page.text and ">Gọi lại</button>" in page.text
    answer = await post(http, "/callbacks/x/dial", {"desk": "1901"}, "/callbacks")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/callbacks?done=dialling"
    [request] = await env.queue.take_requests(T0)
    assert (request.call_id, request.desk, request.number, request.requested_by) == (
        "x", "1901", "0901000001", "lan")


async def test_a_user_bound_to_a_desk_has_their_own_desk_rung_first(env: Env) -> None:
    await env.users.set_desk("lan", "1101", at=T0)
    await env.store.save(call("x", 0, "+84901000001", callback="pending", branch_key=4))
    http = await env.as_user("lan")
    page = await http.get("/callbacks")
    assert "Máy bàn của tôi: 1101" in page.text and '<select name="desk"' not in page.text
    answer = await post(http, "/callbacks/x/dial", {"desk": "1901"}, "/callbacks")
    assert answer.headers["location"] == "/callbacks?done=dialling"
    [request] = await env.queue.take_requests(T0)
    assert request.desk == "1101"


async def test_goi_lai_is_refused_for_an_unknown_desk_or_a_number_not_allowed(
    env: Env,
) -> None:
    await env.store.save(call("x", 0, "0901000001", callback="pending"))
    await env.store.save(call("premium", 1, "19001080", callback="pending"))
    http = await env.as_user("lan")
    wrong_desk = await post(http, "/callbacks/x/dial", {"desk": "5555"}, "/callbacks")
    assert wrong_desk.status_code == 400 and "máy bàn" in wrong_desk.text
    premium = await post(http, "/callbacks/premium/dial", {"desk": "1901"}, "/callbacks")
    assert premium.status_code == 400 and "1900/1800" in premium.text
    assert await env.queue.take_requests(T0) == []


async def test_goi_lai_for_a_call_back_no_longer_pending_is_stale(env: Env) -> None:
    await env.store.save(call("x", 0, "0901000001", callback="done"))
    http = await env.as_user("lan")
    answer = await post(http, "/callbacks/x/dial", {"desk": "1901"}, "/callbacks")
    assert answer.headers["location"] == "/callbacks?done=stale"
    assert await env.queue.take_requests(T0) == []


async def test_goi_lai_needs_the_csrf_token_and_the_right_role(env: Env) -> None:
    await env.store.save(call("x", 0, "0901000001", callback="pending"))
    lan = await env.as_user("lan")
    assert (await lan.post("/callbacks/x/dial", data={"desk": "1901"})).status_code == 403
    for username in ("tuphap", "xem"):
        http = await env.as_user(username)
        refused = await post(http, "/callbacks/x/dial", {"desk": "1901"})
        assert refused.status_code == 403
    assert await env.queue.take_requests(T0) == []
