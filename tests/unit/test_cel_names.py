"""The generated fallback dialplan and the CEL importer speak the same names
(`routing.trail`): every `CELGenUserEvent` the dialplan raises is one the importer
reads, and every step it reads back is one the dialplan raises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calllog.model import Outcome
from dialplan.generate import render_extensions
from ivr.cel import summarise
from routing import trail
from routing.config import load_config
from tests.unit.cel_trail import CelCall, cel_rows

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")
DIALPLAN = render_extensions(CONFIG, "/sounds")


def raised_user_events(dialplan: str) -> set[str]:
    return set(re.findall(r"CELGenUserEvent\(([^,)]+)", dialplan))


def contexts(dialplan: str) -> set[str]:
    return set(re.findall(r"^\[([^\]]+)\]", dialplan, re.MULTILINE))


def test_every_user_event_the_dialplan_raises_is_one_the_importer_reads() -> None:
    assert raised_user_events(DIALPLAN) == trail.USER_EVENTS
    assert all(name.startswith(trail.USER_EVENT_PREFIX) for name in trail.USER_EVENTS)


def test_the_fallback_contexts_recovery_and_the_importer_use_are_generated() -> None:
    generated = contexts(DIALPLAN)
    assert {trail.PUBLIC_CONTEXT, trail.FALLBACK_CONTEXT, trail.BRANCH_CONTEXT,
            trail.HOURS_CONTEXT, trail.DESK_CONTEXT, trail.STATION_CONTEXT} <= generated
    assert f"Set(MESSAGE={trail.RECORDING_PREFIX}" in DIALPLAN


# What each step the fallback dialplan marks means for the call log, once the caller
# hangs up right after it.
STEP_OUTCOMES = {
    trail.FALLBACK_EVENT: Outcome.ABANDONED_IN_MENU,
    trail.BRANCH_EVENT: Outcome.ABANDONED_WHILE_RINGING,
    trail.CLOSED_EVENT: Outcome.CLOSED,
    trail.UNREACHABLE_EVENT: Outcome.DESK_UNREACHABLE,
    trail.MESSAGE_EVENT: Outcome.DESK_UNREACHABLE,
    trail.NO_SELECTION_EVENT: Outcome.NO_SELECTION,
}


@pytest.mark.parametrize("name", sorted(raised_user_events(DIALPLAN)))
def test_each_step_the_dialplan_marks_is_read_back_by_the_importer(
    tmp_path: Path, name: str,
) -> None:
    extra = {trail.BRANCH_EVENT: "2", trail.CLOSED_EVENT: "closed",
             trail.MESSAGE_EVENT: f"{trail.RECORDING_PREFIX}1795473100-7"}.get(name, "")
    call = CelCall("1795473100.7").reaches_the_fallback()
    if name != trail.FALLBACK_EVENT:
        call.user(name, extra)
    call.hangup(call.caller, source=call.caller.channame).ends()

    summary = summarise(cel_rows(tmp_path, call.rows), CONFIG)

    assert summary is not None and summary.fallback
    assert summary.record.outcome is STEP_OUTCOMES[name]
