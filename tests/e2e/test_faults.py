"""Faults survived, against the real Asterisk: Asterisk restarts, the ARI link cut,
garbage input."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

from calllog.model import Outcome
from tests.e2e.calls import (
    answer_hotline,
    answered_by,
    audio_flows,
    bridged,
    dial,
    finished,
    talking,
)
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack
from tests.e2e.proxy import TcpProxy

pytestmark = pytest.mark.e2e


def app_registered(hotline: Hotline) -> bool:
    auth = (hotline.settings.ari_user, hotline.settings.ari_password.get_secret_value())
    try:
        r = httpx.get(f"{hotline.pbx.ari_url}/applications/{hotline.settings.app}", auth=auth,
                      timeout=1)
    except httpx.TransportError:
        return False
    return r.status_code == 200


def test_asterisk_restart_service_reconnects_and_takes_new_calls(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    hotline.pbx.stop()
    hotline.pbx.start()
    started = time.monotonic()
    sip.wait_until(lambda: app_registered(hotline), 30, "the service to reconnect to ARI")
    sys.stderr.write(f"\nARI reconnect after Asterisk restarted: "
                     f"{time.monotonic() - started:.2f} s\n")
    desks = desk_bank.for_branch(3)  # re-registers any desk Asterisk forgot

    call = dial(sip, caller, hotline)
    call.send_digits("3")
    answered_by(sip, desks["1301"])
    bridged(sip, hotline, caller)
    call.hangup_now()
    record, _ = finished(sip, hotline, caller)
    assert record.outcome == Outcome.CONNECTED

    health = f"http://127.0.0.1:{hotline.settings.health_port}"
    assert httpx.get(f"{health}/readyz", timeout=2).status_code == 200
    metrics = httpx.get(f"{health}/metrics", timeout=2).text
    assert "hotline_ari_connected 1.0" in metrics
    assert 'hotline_calls_total{outcome="connected"}' in metrics


def test_readiness_reports_the_ari_websocket_down_while_asterisk_is_stopped(
    hotline: Hotline, sip: SipStack
) -> None:
    health = f"http://127.0.0.1:{hotline.settings.health_port}"
    hotline.pbx.stop()
    try:
        sip.wait_until(lambda: httpx.get(f"{health}/readyz", timeout=2).status_code == 503,
                       10, "readiness to drop")
        metrics = httpx.get(f"{health}/metrics", timeout=2).text
        assert "hotline_ari_connected 0.0" in metrics
    finally:
        hotline.pbx.start()
    sip.wait_until(lambda: httpx.get(f"{health}/readyz", timeout=2).status_code == 200,
                   30, "readiness to come back")


def test_dtmf_storm_in_the_menu_ends_in_a_defined_outcome(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(9)
    call = answer_hotline(sip, caller, hotline)
    call.send_digits("0#*0#*#00**#0")  # keys during every prompt, none a branch
    sip.wait_until(lambda: any(c.confirmed for c in desks["1901"].calls) or call.disconnected,
                   60, "the storm to end somewhere")

    call.hangup_now()
    record, _ = finished(sip, hotline, caller)
    assert record.outcome in {Outcome.CONNECTED, Outcome.ABANDONED_WHILE_RINGING,
                              Outcome.ABANDONED_IN_MENU, Outcome.NO_SELECTION}
    assert record.outcome != Outcome.FAILED


def test_desk_that_answers_and_hangs_up_at_once_ends_the_call_cleanly(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    desks = desk_bank.for_branch(5)
    call = dial(sip, caller, hotline)
    call.send_digits("5")
    answered_by(sip, desks["1501"]).hangup_now()
    sip.wait_until(lambda: call.disconnected, 30, "the caller to be released")
    record, _ = finished(sip, hotline, caller)
    assert record.outcome != Outcome.FAILED
    assert record.hangup_by in {"desk", "system"}


def test_ari_link_cut_keeps_bridged_calls_and_the_service_reconnects(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    tones: dict[str, Path], tmp_path: Path,
) -> None:
    proxy = TcpProxy(("127.0.0.1", hotline.pbx.ports.http))
    hotline.ari_url = f"http://127.0.0.1:{proxy.port}/ari"
    hotline.restart_service()
    health = f"http://127.0.0.1:{hotline.settings.health_port}"
    try:
        desks = desk_bank.for_branch(7)
        call, desk_call = talking(sip, hotline, caller, desks["1701"], "7")

        proxy.cut()
        sip.wait_until(lambda: httpx.get(f"{health}/readyz", timeout=2).status_code == 503,
                       10, "readiness to drop")
        audio_flows(sip, call, desk_call, tones, tmp_path)  # talking on without us
        restored = time.monotonic()
        proxy.restore()
        sip.wait_until(lambda: httpx.get(f"{health}/readyz", timeout=2).status_code == 200,
                       15, "the service to reconnect")
        reconnect_seconds = time.monotonic() - restored
        sys.stderr.write(f"\nARI reconnect after the link came back: {reconnect_seconds:.2f} s\n")

        call.hangup_now()  # the service, back, ends the desk's side and closes the row
        sip.wait_until(lambda: desk_call.disconnected, 10, "the desk leg to be hung up")
        record, _ = finished(sip, hotline, caller)
        assert record.outcome == Outcome.CONNECTED and record.hangup_by == "caller"
    finally:
        hotline.ari_url = None
        hotline.restart_service()
        proxy.close()


def test_a_message_asterisk_cannot_record_is_owned_up_to_and_called_back(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone
) -> None:
    """Asterisk's recording spool is gone: POST /record answers 500. The caller is told
    the message was not taken and that the hotline will call back; no fallback."""
    desks = desk_bank.for_branch(7)
    desks["1701"].answer_code = desks["1702"].answer_code = 486
    spool = hotline.recordings_dir
    moved = spool.with_name("recording.moved-away")
    spool.rename(moved)
    try:
        call = dial(sip, caller, hotline)
        call.send_digits("7")
        sip.wait_until(lambda: call.disconnected, 60, "the hotline to say so and hang up")
        record, events = finished(sip, hotline, caller, last_event="ended")
    finally:
        moved.rename(spool)
    assert (record.outcome, record.callback, record.hangup_by) == (
        Outcome.DESK_UNREACHABLE, "pending", "system")
    assert record.recording is None
    kinds = [e.kind for e in events]
    assert "recording_failed" in kinds and "to_fallback" not in kinds, kinds
    failure = next(e.detail for e in events if e.kind == "recording_failed")
    sys.stderr.write(f"\nrecording could not start: {failure['error']}\n")
    prompts = [e.detail.get("prompts") for e in events if e.kind == "prompt"]
    assert prompts[-1] == "message_failed"
    listing = hotline.callbacks_cli()
    assert record.call_id in listing.stdout
