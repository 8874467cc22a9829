"""Keep-your-place call-back (issue 17, item 2) with the real Asterisk and pjsua2 phones:
the queued caller presses 1 and is hung up; when the desk is free it rings showing
"Gọi lại: <number>", then the citizen's phone rings through the call-back trunk (the
e2e "PSTN": the trunk's contact is the callers' SIP address), and the two talk with
audio both ways. The trunk is dialled by the service alone: no context reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hotline.pbx import TEST_TRUNK_ADDRESS
from tests.e2e.calls import audio_flows, dial, talking
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack
from tests.e2e.test_reload import reload_now, wait_recorded, yaml_file

__all__ = ["yaml_file"]  # the fixture: the YAML put back (and reloaded) after the test

pytestmark = pytest.mark.e2e


@pytest.fixture
def citizen(second_caller: Phone) -> Phone:
    """The citizen who waits, asks for a call back and is called (a mobile: 08x)."""
    return second_caller


def _events(hotline: Hotline, phone: Phone) -> list[str]:
    record = hotline.call_record(phone.user)
    return [] if record is None else [e.kind for e in hotline.call_events(record.call_id)]


def test_keep_your_place_rings_the_desk_then_the_citizen_and_bridges_them(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone, citizen: Phone,
    tones: dict[str, Path], tmp_path: Path, yaml_file: Path,
) -> None:
    # The trunk's contact is where the callers' phones listen; taken on by a reload.
    trunk_address = sip.ep.transportGetInfo(sip.transports[TEST_TRUNK_ADDRESS]).localName
    data = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    data["callback"] = {"trunk": "pstn", "contact": f"sip:{trunk_address}", "attempts": 1,
                        "ring_seconds": 10}
    yaml_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    reload_now(hotline)
    wait_recorded(hotline, sip, yaml_file, "the YAML with the call-back trunk")
    assert "pstn" not in hotline.pbx.cli("dialplan show"), "a context names the trunk"
    assert "hotline-callback-trunk" in hotline.pbx.cli("pjsip show endpoint pstn")
    desk = desk_bank.ensure(["1401"])["1401"]
    first, _ = talking(sip, hotline, caller, desk, 4)
    waiting = dial(sip, citizen, hotline)
    waiting.send_digits("4")
    sip.wait_until(lambda: "queue_position" in _events(hotline, citizen), 15,
                   "the citizen to be queued")
    sip.pump(1.0)  # into the announcement, which offers the call back
    waiting.send_digits("1")
    sip.wait_until(lambda: waiting.disconnected, 15, "the service to hang the citizen up")
    assert "callback_chosen" in _events(hotline, citizen)
    citizen.auto_answer = True

    first.hangup_now()  # the desk is free: the call back's turn
    sip.wait_until(lambda: len(desk.calls) >= 2 and desk.calls[-1].confirmed, 15,
                   "the desk to ring for the call back and answer")
    desk_call = desk.calls[-1]
    shown = desk_call.getInfo().remoteUri
    assert "Gọi lại" in shown and citizen.user in shown, shown
    sip.wait_until(lambda: len(citizen.calls) >= 2 and citizen.calls[-1].confirmed, 15,
                   "the citizen's phone to ring and answer through the trunk")
    called_back = citizen.calls[-1]
    sip.wait_until(lambda: "callback_bridged" in _events(hotline, citizen), 10,
                   "the desk and the citizen to be bridged")
    audio_flows(sip, called_back, desk_call, tones, tmp_path)
    called_back.hangup_now()
    sip.wait_until(lambda: "callback_ended" in _events(hotline, citizen), 10,
                   "the end of the call back")
    record = hotline.call_record(citizen.user)
    assert record is not None and record.callback == "done"  # reached: off the list
    kinds = _events(hotline, citizen)
    assert kinds.index("callback_chosen") < kinds.index("callback_desk_dial") < kinds.index(
        "callback_dial") < kinds.index("callback_bridged") < kinds.index(
        "callback_done") < kinds.index("callback_ended")

