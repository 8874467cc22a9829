"""The database goes down mid-test (issue 5): calls are still answered and routed, their
log is journaled on local disk, and once PostgreSQL is back every call and every event
is in it exactly once."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import httpx
import pytest

from calllog.model import Outcome
from tests.e2e.calls import answer_hotline, answered_by, bridged, dial, finished
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack
from tests.pg import PG_URL_ENV, StoppablePostgres, pg_bindir

pytestmark = pytest.mark.e2e


@pytest.fixture
def on_postgresql(hotline: Hotline) -> Iterator[StoppablePostgres]:
    """The service restarted on a PostgreSQL of this test's own; back on SQLite after."""
    if os.environ.get(PG_URL_ENV):
        pytest.skip(f"{PG_URL_ENV} names an external server, which a test must not stop")
    cluster = StoppablePostgres(pg_bindir())
    sqlite_url = hotline.settings.database_url
    try:
        cluster.start()
        hotline.restart_service(database_url=cluster.url)
        yield cluster
    finally:
        if not cluster.running:
            cluster.start()
        hotline.restart_service(database_url=sqlite_url)
        cluster.destroy()


def metric(hotline: Hotline, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{hotline.settings.health_port}/metrics", timeout=2).text
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, flags=re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def connected_call(sip: SipStack, hotline: Hotline, caller: Phone, desk: Phone, key: str,
                   *, check_bridged: bool = True) -> None:
    call = dial(sip, caller, hotline)
    call.send_digits(key)
    desk_call = answered_by(sip, desk)
    if check_bridged:
        bridged(sip, hotline, caller)
    else:
        sip.pump(1.5)  # the log cannot be asked: give the bridge time to form
    call.hangup_now()
    sip.wait_until(lambda: desk_call.disconnected, 10, "the desk leg to be hung up")


def test_calls_during_a_database_outage_are_all_logged_exactly_once(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, on_postgresql: StoppablePostgres,
) -> None:
    desks = desk_bank.ensure(["1801", "1802"])
    callers = [sip.phone(f"0988{os.getpid() % 1000:03d}{n:03d}", hotline.registrar)
               for n in range(3)]
    try:
        connected_call(sip, hotline, callers[0], desks["1801"], "8")
        finished(sip, hotline, callers[0], last_event="ended")

        on_postgresql.stop()
        connected_call(sip, hotline, callers[1], desks["1801"], "8", check_bridged=False)
        abandoned = answer_hotline(sip, callers[2], hotline)
        sip.pump(1.0)
        abandoned.hangup_now()
        sip.pump(1.0)
        assert metric(hotline, "hotline_database_ok") == 0
        assert metric(hotline, "hotline_spool_depth") > 0

        on_postgresql.start()
        sip.wait_until(lambda: metric(hotline, "hotline_spool_depth") == 0, 30,
                       "the journal to be replayed into PostgreSQL")
        assert metric(hotline, "hotline_database_ok") == 1

        outcomes = [Outcome.CONNECTED, Outcome.CONNECTED, Outcome.ABANDONED_IN_MENU]
        for caller, outcome in zip(callers, outcomes, strict=True):
            record, events = finished(sip, hotline, caller, last_event="ended")
            assert record.outcome == outcome
            kinds = [e.kind for e in events]
            assert kinds[0] == "answered" and kinds[-1] == "ended"
            assert kinds.count("answered") == kinds.count("ended") == 1
            keys = [e.key for e in events]
            assert None not in keys and len(set(keys)) == len(keys)
            assert [e.seq for e in events] == sorted(e.seq for e in events)  # type: ignore[type-var]
            if outcome == Outcome.CONNECTED:
                assert kinds.count("bridged") == 1 and record.desk_answered == "1801"
    finally:
        for phone in callers:
            sip.retire(phone)
