"""InMemoryCallLog's complaint cases pass the shared scenarios (tests/calllog_contract.py,
also run against CallLogStore by tests/integration/test_calllog_cases.py), so the IVR's
unit tests can trust it; plus the workflow rule and its messages on their own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calllog.cases import (
    CaseTransitionError,
    UnknownCaseError,
    allowed_next,
    check_case_change,
)
from calllog.errors import CallLogError
from calllog.memory import InMemoryCallLog
from calllog.model import CASE_TRANSITIONS, CaseStatus, normalised_case

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import (
    CASE_SCENARIOS,
    T0,
    Scenario,
    desk_flag,
    new_call,
    operator_case,
    scenario_id,
)


@pytest.fixture
def log() -> InMemoryCallLog:
    return InMemoryCallLog()


@pytest.mark.parametrize("scenario", CASE_SCENARIOS, ids=scenario_id)
async def test_call_log_scenario(log: InMemoryCallLog, scenario: Scenario) -> None:
    await scenario(log)


async def test_a_rolled_back_batch_leaves_no_case(log: InMemoryCallLog) -> None:
    with pytest.raises(CallLogError):
        await log.apply([new_call("a"), desk_flag("a"), desk_flag("never-saved")])
    assert await log.list_cases() == []
    await log.apply([new_call("a"), desk_flag("a")])
    [case] = await log.list_cases()
    assert case.key == "desk-flag:a"


async def test_cases_handed_out_cannot_change_the_log(log: InMemoryCallLog) -> None:
    await log.save(new_call())
    created = await log.create_case(operator_case())
    assert created.id is not None
    with pytest.raises(AttributeError):
        created.status = CaseStatus.RESOLVED  # type: ignore[misc]
    assert isinstance(created.history, tuple)
    stored = await log.get_case(created.id)
    assert stored is not None and stored.status is CaseStatus.RECEIVED


def test_allowed_next_follows_the_workflow_in_order() -> None:
    assert allowed_next(CaseStatus.RECEIVED) == (
        CaseStatus.FORWARDED, CaseStatus.VERIFYING, CaseStatus.REJECTED
    )
    assert allowed_next(CaseStatus.VERIFYING) == (
        CaseStatus.FORWARDED, CaseStatus.RESOLVED, CaseStatus.REJECTED
    )
    assert allowed_next(CaseStatus.RESOLVED) == allowed_next(CaseStatus.REJECTED) == ()
    for status in CaseStatus:
        assert set(allowed_next(status)) == CASE_TRANSITIONS[status]


@pytest.mark.parametrize("old", list(CaseStatus))
@pytest.mark.parametrize("new", list(CaseStatus))
def test_check_case_change_allows_exactly_the_transitions(
    old: CaseStatus, new: CaseStatus
) -> None:
    def change() -> CaseStatus:
        return check_case_change(7, old.value, "Sở Tư pháp", status=new.value, agency=None,
                                 note="ghi chú")

    if new is old or new in CASE_TRANSITIONS[old]:
        assert change() is new
    else:
        with pytest.raises(CaseTransitionError) as refused:
            change()
        assert (refused.value.current, refused.value.wanted) == (old, new)
        assert str(refused.value).startswith(f"case 7: cannot go from {old} to {new}; ")


def test_transition_messages_name_the_way_on() -> None:
    error = CaseTransitionError(3, CaseStatus.FORWARDED, CaseStatus.RESOLVED)
    assert str(error) == (
        "case 3: cannot go from forwarded to resolved; allowed next: verifying, rejected "
        "(or forwarded again, to add a note)"
    )
    final = CaseTransitionError(3, CaseStatus.RESOLVED, CaseStatus.VERIFYING)
    assert str(final) == (
        "case 3: cannot go from resolved to verifying; resolved is final: only a note can "
        "be added"
    )
    raced = CaseTransitionError(3, CaseStatus.REJECTED, CaseStatus.FORWARDED, meanwhile=True)
    assert raced.meanwhile
    assert str(raced).startswith(
        "case 3: changed by someone else meanwhile, it is now rejected; nothing recorded"
    )
    assert str(UnknownCaseError(12)) == "no case 12 in the call log"


def test_forwarding_keeps_an_agency_given_before() -> None:
    assert check_case_change(
        1, "verifying", "Sở Tư pháp", status="forwarded", agency=None, note=""
    ) is CaseStatus.FORWARDED
    with pytest.raises(ValueError, match="forwarding needs the agency"):
        check_case_change(1, "received", None, status="forwarded", agency=None, note="")
    with pytest.raises(ValueError, match="agency must not be empty"):
        check_case_change(1, "received", None, status="forwarded", agency=" ", note="")


def test_the_opening_note_travels_in_the_first_history_entry() -> None:
    flag = desk_flag(at=T0)
    assert normalised_case(flag).history == flag.history
    case = normalised_case(operator_case(at=T0 + timedelta(hours=1)))
    [first] = case.history
    assert (first.at, first.by, first.status, first.note) == (
        T0 + timedelta(hours=1), "Lan", CaseStatus.RECEIVED, ""
    )
