"""Steps every end-to-end call test takes: reach the hotline, wait for a desk,
the bridge, and the closed call-log row."""

from __future__ import annotations

from pathlib import Path

from calllog.model import CallEvent, CallRecord
from tests.e2e.conftest import (
    CALLER_TONE_HZ,
    DESK_TONE_HZ,
    Hotline,
    read_samples,
    rms,
    tone_power,
)
from tests.e2e.phones import Phone, PhoneCall, SipStack


def answer_hotline(sip: SipStack, caller: Phone, hotline: Hotline) -> PhoneCall:
    """Call the hotline number and wait until it answers with media."""
    call = caller.call(hotline.config.hotline.number)
    sip.wait_until(lambda: call.confirmed and call.audio is not None, 10, "the hotline to answer")
    return call


def dial(sip: SipStack, caller: Phone, hotline: Hotline) -> PhoneCall:
    """Answered, and a moment into the greeting (a key then barges in)."""
    call = answer_hotline(sip, caller, hotline)
    sip.pump(0.8)
    return call


def answered_by(sip: SipStack, desk: Phone, timeout: float = 15) -> PhoneCall:
    sip.wait_until(lambda: any(c.confirmed for c in desk.calls), timeout,
                   f"desk {desk.user} to answer")
    return next(c for c in desk.calls if c.confirmed)


def talking(
    sip: SipStack, hotline: Hotline, caller: Phone, desk: Phone, key: int | str
) -> tuple[PhoneCall, PhoneCall]:
    """Dial, press `key`, `desk` answers, and the log shows the bridge: both legs."""
    call = dial(sip, caller, hotline)
    call.send_digits(str(key))
    desk_call = answered_by(sip, desk)
    bridged(sip, hotline, caller)
    return call, desk_call


def bridged(sip: SipStack, hotline: Hotline, caller: Phone) -> None:
    def check() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and record.bridged_at is not None

    sip.wait_until(check, 10, "the caller and the desk to be bridged")


def finished(
    sip: SipStack, hotline: Hotline, caller: Phone, last_event: str | None = None
) -> tuple[CallRecord, list[CallEvent]]:
    """The caller's row once closed (and, if given, once `last_event` is in its timeline:
    a closing write and the events after it may reach the database a moment apart)."""
    def ended() -> bool:
        record = hotline.call_record(caller.user)
        return record is not None and record.ended_at is not None

    sip.wait_until(ended, 40, f"the call log row of {caller.user} to be closed")
    record = hotline.call_record(caller.user)
    assert record is not None
    if last_event is not None:
        call_id = record.call_id
        sip.wait_until(lambda: last_event in [e.kind for e in hotline.call_events(call_id)], 10,
                       f"the {last_event!r} event of {caller.user}")
    return record, hotline.call_events(record.call_id)


SILENCE_RMS = 300
SILENT_TRIES = 3
"""On a loaded box a leg's media can start late: a silent stretch is listened to again."""


def audio_flows(
    sip: SipStack, call: PhoneCall, desk_call: PhoneCall, tones: dict[str, Path], out: Path
) -> None:
    """Caller and desk each play a tone for a while; each hears the other's, not its own."""
    sip.wait_until(lambda: desk_call.audio is not None and call.audio is not None, 5,
                   "media on both legs")
    for attempt in range(1, SILENT_TRIES + 1):
        caller_heard = out / f"caller-heard-{attempt}.wav"
        desk_heard = out / f"desk-heard-{attempt}.wav"
        call.play(tones["caller"])
        desk_call.play(tones["desk"])
        call.record(caller_heard)
        desk_call.record(desk_heard)
        sip.pump(2.5)
        call.stop_media()
        desk_call.stop_media()
        if attempt == SILENT_TRIES or not (_silent(caller_heard) or _silent(desk_heard)):
            break
    assert_heard(desk_heard, CALLER_TONE_HZ, DESK_TONE_HZ)
    assert_heard(caller_heard, DESK_TONE_HZ, CALLER_TONE_HZ)


def _silent(recording: Path) -> bool:
    samples, _ = read_samples(recording)
    return rms(samples) <= SILENCE_RMS


def assert_heard(recording: Path, expected_hz: int, own_hz: int) -> None:
    samples, rate = read_samples(recording)
    assert len(samples) > rate, f"{recording.name}: under a second of audio"
    assert rms(samples) > SILENCE_RMS, f"{recording.name}: silence (rms {rms(samples):.0f})"
    heard = tone_power(samples, rate, expected_hz)
    echo = tone_power(samples, rate, own_hz)
    assert heard > 10 * max(echo, 1.0), (
        f"{recording.name}: {expected_hz} Hz power {heard:.0f} vs own {own_hz} Hz {echo:.0f}"
    )
