"""Which desks ring, in which order, given who is registered."""

from __future__ import annotations

from routing.config import Branch
from routing.desks import plan_desks


def branch(strategy: str = "sequential") -> Branch:
    return Branch.model_validate(
        {"key": 4, "name": "Cải cách thủ tục hành chính", "agency": "Văn phòng UBND tỉnh",
         "desks": ["1401", "1402", "1403"], "strategy": strategy}
    )


def test_sequential_rings_registered_desks_one_at_a_time_in_order() -> None:
    plan = plan_desks(branch(), {"1401": True, "1402": True, "1403": True})
    assert plan.waves == [["1401"], ["1402"], ["1403"]]
    assert plan.skipped == []


def test_unregistered_desks_are_skipped_not_rung() -> None:
    plan = plan_desks(branch(), {"1401": False, "1402": True, "1403": False})
    assert plan.waves == [["1402"]]
    assert plan.skipped == ["1401", "1403"]


def test_ringall_rings_every_registered_desk_together() -> None:
    plan = plan_desks(branch("ringall"), {"1401": True, "1402": False, "1403": True})
    assert plan.waves == [["1401", "1403"]]
    assert plan.skipped == ["1402"]


def test_nobody_registered_means_nothing_to_ring() -> None:
    plan = plan_desks(branch(), {"1401": False, "1402": False, "1403": False})
    assert plan.waves == [] and plan.skipped == ["1401", "1402", "1403"]


def test_unknown_registration_state_is_tried() -> None:
    assert plan_desks(branch(), {}).waves == [["1401"], ["1402"], ["1403"]]
