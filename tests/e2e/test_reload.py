"""An admin changes the YAML while calls are in progress (issue 5): the service and
Asterisk take the new mapping for new calls, calls in progress carry on, a broken
file changes nothing, and every attempt is in the log."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.calls import answered_by, audio_flows, bridged, dial, finished
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack

pytestmark = pytest.mark.e2e

NEW_DESK = "1109"


@pytest.fixture
def yaml_file(hotline: Hotline, sip: SipStack) -> Iterator[Path]:
    """The YAML the running service reads; put back as it was afterwards."""
    path = Path(hotline.settings.config)
    original = path.read_bytes()
    yield path
    if path.read_bytes() != original:
        path.write_bytes(original)
        reload_now(hotline)
        wait_recorded(hotline, sip, path, "the original YAML back")


def reload_now(hotline: Hotline) -> None:
    assert hotline.service is not None
    os.kill(hotline.service.pid, signal.SIGHUP)


def wait_recorded(hotline: Hotline, sip: SipStack, path: Path, what: str) -> None:
    """Until the last recorded reload is of the file as it is now (the log is written a
    moment after the reload: counting rows could catch the previous reload's row)."""
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    sip.wait_until(lambda: (reloads(hotline) or [("", "", "")])[-1][0] == sha256, 15, what)


def reloads(hotline: Hotline) -> list[tuple[str, str, str]]:
    """(sha256, status, problems) of every recorded reload, oldest first."""
    return [(r.sha256, r.status, r.problems) for r in hotline.config_reloads()]


def test_reload_moves_a_branch_to_a_new_desk_without_touching_the_call_in_progress(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path, yaml_file: Path,
) -> None:
    desks = desk_bank.ensure(["1101", "1102"])
    first = dial(sip, caller, hotline)
    first.send_digits("1")
    first_desk = answered_by(sip, desks["1101"])
    bridged(sip, hotline, caller)

    # Branch 1 now rings a desk that did not exist: Asterisk must learn the endpoint.
    data = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    data["desks"].append({"extension": NEW_DESK, "name": "Bàn mới Sở Nội vụ"})
    data["branches"][0]["desks"] = [NEW_DESK]
    yaml_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    reload_now(hotline)
    wait_recorded(hotline, sip, yaml_file, "the reload to be recorded")
    assert reloads(hotline)[-1][1] == "applied"

    audio_flows(sip, first, first_desk, tones, tmp_path)  # the call in progress talks on
    new_desks = desk_bank.ensure([NEW_DESK, "1101", "1102"])
    second_caller = sip.phone(f"{caller.user}9", hotline.registrar)
    try:
        second = dial(sip, second_caller, hotline)
        second.send_digits("1")
        answered_by(sip, new_desks[NEW_DESK])
        assert [c for c in new_desks["1102"].calls] == []
        bridged(sip, hotline, second_caller)
        second.hangup_now()
        record, _ = finished(sip, hotline, second_caller)
        assert record.desk_answered == NEW_DESK
    finally:
        sip.retire(second_caller)

    first.hangup_now()
    record, _ = finished(sip, hotline, caller)
    assert record.desk_answered == "1101" and record.hangup_by == "caller"


def test_broken_yaml_is_refused_recorded_and_changes_nothing(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone, yaml_file: Path,
) -> None:
    desks = desk_bank.for_branch(6)
    text = yaml_file.read_text(encoding="utf-8")
    yaml_file.write_text(text.replace("extension: '1601'", "extension: 16O1")
                         .replace('extension: "1601"', "extension: 16O1"), encoding="utf-8")
    reload_now(hotline)
    wait_recorded(hotline, sip, yaml_file, "the refusal to be recorded")
    sha256, status, problems = reloads(hotline)[-1]
    assert sha256 == hashlib.sha256(yaml_file.read_bytes()).hexdigest()
    assert status == "refused"
    assert "extension" in problems and f"{yaml_file}:" in problems

    call = dial(sip, caller, hotline)
    call.send_digits("6")
    answered_by(sip, desks["1601"])
    bridged(sip, hotline, caller)
    call.hangup_now()
    assert finished(sip, hotline, caller)[0].desk_answered == "1601"
