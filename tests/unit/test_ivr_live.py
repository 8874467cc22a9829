"""The wallboard's live state: the registry of calls in progress (`ivr.live`), its
summary and JSON (`routing.live`), the desks' registration poller and `GET /live` on
the health server, without a socket."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from calllog.model import CallRecord
from calllog.spool import SpoolStats
from hotline.health import HealthServer, HealthSources
from ivr.ari.errors import AriHttpError
from ivr.live import WATCHED_FOR_SECONDS, DeskPresence, LiveCalls
from ivr.session import CallSession
from routing.live import DESK_STATES, STEPS, LiveSnapshot
from tests.clock import FakeClock
from tests.unit.test_ivr_call_flow import CONFIG, MONDAY_9AM, FakeAri


def registry() -> tuple[LiveCalls, FakeClock]:
    clock = FakeClock(MONDAY_9AM, running=False)
    return LiveCalls(clock, lambda: CONFIG), clock


def record(call_id: str, *, started: float = 0, branch: int | None = None) -> CallRecord:
    rec = CallRecord(call_id=call_id, caller_number="0939123456",
                     started_at=MONDAY_9AM + timedelta(seconds=started))
    if branch is not None:
        chosen = CONFIG.branch(branch)
        assert chosen is not None
        rec.branch_key, rec.branch_name, rec.agency = chosen.key, chosen.name, chosen.agency
    return rec


def test_every_change_raises_the_version_and_a_repeated_step_does_not() -> None:
    live, _ = registry()
    call = record("c1")
    live.step(call, "menu")
    assert live.version == 1
    live.step(call, "menu")
    assert live.version == 1
    live.step(record("c1", branch=4), "menu")  # the branch is chosen
    live.step(call, "ringing", ["1401"])
    live.forget("c1")
    live.forget("c1")  # already gone: nothing changes
    assert live.version == 4 and len(live) == 0


def test_snapshot_counts_calls_by_step_and_branch_and_the_longest_wait() -> None:
    live, clock = registry()
    live.step(record("menu", started=30), "menu")
    live.step(record("ringing", started=10, branch=4), "ringing", ["1401"])
    live.step(record("talking", started=0, branch=4), "talking", ["1402"])
    live.step(record("survey", started=5, branch=2), "survey")
    clock.advance(100)

    snap = live.snapshot()

    assert [c.call_id for c in snap.calls] == ["talking", "survey", "ringing", "menu"]
    assert snap.by_step == {"answering": 0, "menu": 1, "queued": 0, "ringing": 1,
                            "talking": 1, "survey": 1, "message": 0}
    assert {b.key: b.calls for b in snap.by_branch} == {
        1: 0, 2: 1, 3: 0, 4: 2, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0}
    # The talking and surveyed callers have reached a human: the ringing one waits longest.
    assert (snap.longest_wait_call_id, snap.longest_wait_seconds) == ("ringing", 90.0)
    assert snap.at == MONDAY_9AM + timedelta(seconds=100)


def test_desks_are_busy_in_a_talking_call_ringing_for_a_call_else_as_registered() -> None:
    live, _ = registry()
    live.desks_seen({"1401": True, "1402": True, "1101": True, "1102": False})
    live.step(record("a", branch=4), "talking", ["1402"])
    live.step(record("b", branch=4), "ringing", ["1401", "1402"])

    desks = {d.extension: d for d in live.snapshot().desks}

    assert (desks["1402"].state, desks["1402"].call_id) == ("busy", "a")
    assert (desks["1401"].state, desks["1401"].call_id) == ("ringing", "b")
    assert (desks["1101"].state, desks["1102"].state) == ("registered", "unregistered")
    assert desks["1201"].state == "unknown" and desks["1201"].registered is None
    snap = live.snapshot()
    assert sum(snap.desks_by_state.values()) == len(CONFIG.desks)
    assert snap.desks_by_state["busy"] == 1 and snap.desks_by_state["unregistered"] == 1


def test_no_waiting_caller_has_no_longest_wait() -> None:
    live, _ = registry()
    live.step(record("t", branch=4), "talking", ["1401"])
    snap = live.snapshot()
    assert snap.longest_wait_seconds is None and snap.longest_wait_call_id is None


def test_snapshot_json_has_the_documented_fields_every_step_and_every_desk_state() -> None:
    live, _ = registry()
    live.step(record("c1", branch=4), "ringing", ["1401"])
    data = json.loads(live.snapshot().model_dump_json())

    assert set(data) == {
        "version", "service_started_at", "at", "calls", "by_step", "by_branch",
        "longest_wait_seconds", "longest_wait_call_id", "desks", "desks_by_state",
        "desks_checked_at"}
    assert set(data["by_step"]) == set(STEPS) and set(data["desks_by_state"]) == set(DESK_STATES)
    assert data["calls"] == [{
        "call_id": "c1", "caller_number": "0939123456",
        "started_at": "2026-11-23T02:00:00Z", "step": "ringing",
        "step_since": "2026-11-23T02:00:00Z",
        "branch": {"key": 4, "name": "Cải cách thủ tục hành chính",
                   "agency": "Văn phòng Ủy ban nhân dân tỉnh"},
        "desks": ["1401"]}]
    assert data["desks"][0].keys() == {"extension", "name", "state", "registered", "call_id"}
    # The console reads it back with the same model (the clock stands still here).
    assert LiveSnapshot.model_validate_json(json.dumps(data)) == live.snapshot()


# --- long-poll ----------------------------------------------------------------------


async def test_a_client_waiting_after_the_current_version_gets_the_next_change() -> None:
    live, _ = registry()
    waiting = asyncio.create_task(live.snapshot_after(live.version, wait=5))
    await asyncio.sleep(0.01)
    assert not waiting.done()

    live.step(record("c1"), "menu")

    snap = await asyncio.wait_for(waiting, 1)
    assert snap.version == 1 and [c.step for c in snap.calls] == ["menu"]


async def test_a_client_with_another_version_is_answered_at_once() -> None:
    live, _ = registry()
    live.step(record("c1"), "menu")
    assert (await asyncio.wait_for(live.snapshot_after(0, wait=5), 0.5)).version == 1
    # A version from before the service restarted (higher than ours): at once too.
    assert (await asyncio.wait_for(live.snapshot_after(57, wait=5), 0.5)).version == 1
    assert (await asyncio.wait_for(live.snapshot_after(None, wait=5), 0.5)).version == 1


async def test_a_client_waiting_with_nothing_changing_gets_the_same_version_after_the_wait(
) -> None:
    live, _ = registry()
    snap = await asyncio.wait_for(live.snapshot_after(0, wait=0.05), 1)
    assert snap.version == 0


class CountedSnapshots(LiveCalls):
    def __init__(self) -> None:
        super().__init__(FakeClock(MONDAY_9AM), lambda: CONFIG)
        self.made = 0

    def snapshot(self) -> LiveSnapshot:
        self.made += 1
        return super().snapshot()


async def test_clients_woken_by_one_change_share_one_snapshot() -> None:
    live = CountedSnapshots()
    waiting = [asyncio.create_task(live.json_after(0, wait=5)) for _ in range(50)]
    await asyncio.sleep(0.01)

    live.step(record("c1"), "menu")

    answers = await asyncio.wait_for(asyncio.gather(*waiting), 2)
    assert len(set(answers)) == 1 and json.loads(answers[0])["version"] == 1
    assert live.made == 1


async def test_a_burst_of_changes_reaches_a_waiting_client_in_one_answer() -> None:
    live, _ = registry()
    waiting = asyncio.create_task(live.json_after(0, wait=5))
    await asyncio.sleep(0.01)

    live.step(record("c1", branch=4), "ringing", ["1401"])
    live.step(record("c1", branch=4), "ringing", ["1402"])  # 1401 was busy
    await asyncio.sleep(0)
    live.step(record("c1", branch=4), "talking", ["1402"])  # 1402 answered at once

    answer = json.loads(await asyncio.wait_for(waiting, 2))
    assert answer["version"] == 3 and answer["calls"][0]["step"] == "talking"


# --- the desks' registration ---------------------------------------------------------


def presence(live: LiveCalls) -> tuple[DeskPresence, FakeAri]:
    ari = FakeAri(CallSession("x", FakeClock(MONDAY_9AM)))
    return DeskPresence(ari, live), ari  # type: ignore[arg-type]  # the checked fake


async def test_desks_are_not_polled_while_nobody_watches() -> None:
    live, _ = registry()
    poller, ari = presence(live)
    await poller.poll_once()
    assert ari.called("list_endpoints") == []
    assert {d.state for d in live.snapshot().desks} == {"unknown"}


async def test_a_watched_wallboard_sees_desks_register_and_the_version_moves() -> None:
    live, clock = registry()
    poller, ari = presence(live)
    ari.unregistered = {"1401"}
    live.snapshot()  # somebody watches
    await poller.poll_once()
    snap = live.snapshot()
    desks = {d.extension: d.state for d in snap.desks}
    assert desks["1401"] == "unregistered" and desks["1402"] == "registered"
    assert snap.desks_checked_at == MONDAY_9AM
    assert "trunk" not in desks  # only configured desks are shown

    version = live.version
    await poller.poll_once()  # nothing changed
    assert live.version == version
    ari.unregistered = set()
    await poller.poll_once()
    assert live.version == version + 1
    assert {d.extension: d.state for d in live.snapshot().desks}["1401"] == "registered"

    clock.advance(WATCHED_FOR_SECONDS + 1)  # the wallboard went away
    await poller.poll_once()
    assert live.snapshot().desks_checked_at is None
    assert len(ari.called("list_endpoints")) == 3


async def test_desks_are_unknown_when_asterisk_cannot_say() -> None:
    live, _ = registry()
    poller, ari = presence(live)
    live.snapshot()
    await poller.poll_once()
    ari.errors["list_endpoints"] = AriHttpError("GET", "/endpoints", 500, "boom")
    await poller.poll_once()
    assert {d.state for d in live.snapshot().desks} == {"unknown"}


# --- GET /live on the health server ----------------------------------------------------


def server(live: LiveCalls) -> HealthServer:
    return HealthServer(HealthSources(
        ari_connected=lambda: True, active_calls=lambda: len(live),
        calls_by_outcome=dict, reloads=dict, spool=SpoolStats,
    ), live=live.json_after)


async def test_get_live_answers_the_snapshot_as_json() -> None:
    live, _ = registry()
    live.step(record("c1"), "menu")
    status, kind, body = await server(live).live("")
    assert (status, kind) == (200, "application/json")
    assert json.loads(body)["by_step"]["menu"] == 1


async def test_get_live_after_the_current_version_waits_for_a_change() -> None:
    live, _ = registry()
    answer = asyncio.create_task(server(live).live("after=0&wait=5"))
    await asyncio.sleep(0.01)
    assert not answer.done()
    live.step(record("c1"), "menu")
    status, _, body = await asyncio.wait_for(answer, 1)
    assert status == 200 and json.loads(body)["version"] == 1


async def test_get_live_with_a_bad_version_or_wait_is_400() -> None:
    live, _ = registry()
    for query in ("after=x", "after=1&wait=-1", "wait=nan", "after=1.5"):
        assert (await server(live).live(query))[0] == 400, query
