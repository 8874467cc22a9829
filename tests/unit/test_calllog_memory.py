"""InMemoryCallLog passes the shared call-log scenarios (tests/calllog_contract.py,
also run against CallLogStore by tests/integration/test_calllog_store.py), so
call-flow unit tests can trust it; plus what only the fake must show."""

from __future__ import annotations

import pytest

from calllog.memory import InMemoryCallLog
from calllog.model import CallEvent, Outcome

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import (
    CALL_SCENARIOS,
    T0,
    Scenario,
    new_call,
    scenario_id,
)


@pytest.fixture
def log() -> InMemoryCallLog:
    return InMemoryCallLog()


@pytest.mark.parametrize("scenario", CALL_SCENARIOS, ids=scenario_id)
async def test_call_log_scenario(log: InMemoryCallLog, scenario: Scenario) -> None:
    await scenario(log)


async def test_keeps_copies_not_the_callers_objects(log: InMemoryCallLog) -> None:
    call = new_call()
    await log.save(call)
    call.outcome = Outcome.FAILED  # changed but not saved
    stored = await log.get(call.call_id)
    assert stored is not None and stored.outcome is None
    stored.outcome = Outcome.CONNECTED
    assert (await log.list_calls())[0].outcome is None

    detail: dict[str, str | int | None] = {"digit": "4"}
    await log.append_event(CallEvent(call.call_id, T0, "digit", detail))
    detail["digit"] = "9"
    (await log.events(call.call_id))[0].detail["digit"] = "7"
    assert (await log.events(call.call_id))[0].detail == {"digit": "4"}
