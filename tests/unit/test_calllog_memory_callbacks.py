"""InMemoryCallLog's call backs and `find_call` pass the shared scenarios
(tests/calllog_contract.py, also run against CallLogStore by
tests/integration/test_calllog_callbacks.py), so call-flow unit tests can trust it;
plus what only the fake must show."""

from __future__ import annotations

import pytest

from calllog.memory import InMemoryCallLog

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import CALLBACK_SCENARIOS, Scenario, new_call, scenario_id


@pytest.fixture
def log() -> InMemoryCallLog:
    return InMemoryCallLog()


@pytest.mark.parametrize("scenario", CALLBACK_SCENARIOS, ids=scenario_id)
async def test_call_log_scenario(log: InMemoryCallLog, scenario: Scenario) -> None:
    await scenario(log)


async def test_callback_queries_return_copies(log: InMemoryCallLog) -> None:
    await log.save(new_call(callback="pending"))
    (await log.list_callbacks())[0].callback_note = "changed"
    (await log.find_call("1741"))[0].callback = "done"
    stored = await log.get("1741054530.42")
    assert stored is not None
    assert (stored.callback, stored.callback_note) == ("pending", None)
