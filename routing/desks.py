"""Which desks to ring, in which order, given who is registered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from routing.config import Branch


@dataclass(frozen=True)
class DeskPlan:
    waves: list[list[str]]
    """Each wave rings together; the next wave only when the previous one failed."""
    skipped: list[str]
    """Desks not rung at all because their phone is not registered."""


def plan_desks(branch: Branch, registered: Mapping[str, bool]) -> DeskPlan:
    """Ring registered desks: one at a time in order ("sequential") or all at once ("ringall").

    A desk missing from `registered` is taken as registered (state unknown: try it)."""
    reachable = [d for d in branch.desks if registered.get(d, True)]
    skipped = [d for d in branch.desks if not registered.get(d, True)]
    if not reachable:
        return DeskPlan(waves=[], skipped=skipped)
    if branch.strategy == "ringall":
        return DeskPlan(waves=[reachable], skipped=skipped)
    return DeskPlan(waves=[[d] for d in reachable], skipped=skipped)
