"""Real SIP phones for end-to-end tests: pjsua2 (SIP + RTP + RFC 4733 DTMF).

pjsua2 runs on the test's own thread (threadCnt=0, mainThreadOnly): nothing
happens unless `SipStack.wait_until` pumps `libHandleEvents`. Audio goes
through pjsua2's conference bridge on the null sound device, so players and
recorders see real RTP media. Calls and recorders must be released before
`libDestroy` (the other order aborts the process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pjsua2 as pj

from hotline.pbx import TEST_TRUNK_ADDRESS


def _udp(address: str) -> pj.TransportConfig:
    cfg = pj.TransportConfig()
    cfg.port = 0
    cfg.boundAddress = address
    return cfg


CHEAP_PREDICATE = 0.002
"""Seconds: a predicate quicker than this (a phone's own state) is asked at every step."""
PREDICATE_PAUSE_FACTOR = 3
MAX_PREDICATE_PAUSE = 0.1
"""Seconds: the most a costly predicate's answer can come late."""


class SipStack:
    def __init__(self) -> None:
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 32
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        # Keep the (null) sound device open: it is the clock that sends RTP and DTMF.
        cfg.medConfig.sndAutoCloseTime = -1
        self.ep.libInit(cfg)
        # Desk phones (with a password) on 127.0.0.1; callers (none) on the PBX's test
        # trunk address, the only address whose calls Asterisk takes without a login.
        self.transports = {
            address: self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, _udp(address))
            for address in ("127.0.0.1", TEST_TRUNK_ADDRESS)
        }
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        self.phones: list[Phone] = []

    def pump(self, seconds: float = 0.0) -> None:
        end = time.monotonic() + seconds
        while True:
            self._step()
            if time.monotonic() >= end:
                return

    def _step(self) -> None:
        self.ep.libHandleEvents(10)
        for phone in self.phones:
            phone.answer_due_calls()

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Handle SIP events until `predicate` holds. A costly predicate (a read of the
        call log: ~10 ms of CPU, more as the log grows) is asked again only after events
        were handled for a few times its cost: asked back to back, it held most of a
        core that Asterisk and the service under test need."""
        deadline = time.monotonic() + timeout
        while True:
            asked = time.monotonic()
            if predicate():
                return
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            cost = now - asked
            self.pump(min(PREDICATE_PAUSE_FACTOR * cost, MAX_PREDICATE_PAUSE)
                      if cost > CHEAP_PREDICATE else 0.0)

    def phone(
        self, user: str, registrar: str, password: str | None = None, *, auto_answer: bool = False
    ) -> Phone:
        phone = Phone(self, user, registrar, password, auto_answer=auto_answer)
        self.phones.append(phone)
        return phone

    def retire(self, phone: Phone) -> None:
        """Unregister a phone and stop tracking it."""
        phone.release()
        self.phones.remove(phone)

    def close(self) -> None:
        for phone in self.phones:
            phone.release()
        self.phones.clear()
        self.pump(0.2)
        # No libDestroy: pjsua2 objects outlive it (see Phone.__init__); the
        # process exit frees everything.


class Phone(pj.Account):  # type: ignore[misc]
    """A SIP user agent: registers (when given a password), calls, auto-answers."""

    def __init__(
        self, stack: SipStack, user: str, registrar: str, password: str | None, *,
        auto_answer: bool,
    ) -> None:
        super().__init__()
        # pjsua2's destructors delete by id, which pjsua may have reused by then:
        # we shut accounts down and hang calls up ourselves, and never destroy them.
        self.thisown = False
        self.stack = stack
        self.user = user
        self.registrar = registrar
        self.auto_answer = auto_answer
        self.answer_code = 200
        self.answer_after = 0.0  # seconds of ringing before auto-answer
        self._due: list[tuple[float, PhoneCall]] = []
        self.registered = False
        self.reg_code = 0
        self.calls: list[PhoneCall] = []
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{user}@{registrar}"
        cfg.mediaConfig.transportConfig.port = 0  # any free port pair
        cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        if password is not None:
            cfg.regConfig.registrarUri = f"sip:{registrar}"
            cfg.regConfig.timeoutSec = 300
            cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
            cfg.sipConfig.transportId = stack.transports["127.0.0.1"]
        else:
            cfg.regConfig.registerOnAdd = False
            cfg.sipConfig.transportId = stack.transports[TEST_TRUNK_ADDRESS]
        self.create(cfg)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.reg_code = prm.code
        self.registered = prm.code == 200 and prm.expiration > 0

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = PhoneCall(self, prm.callId)
        self.calls.append(call)
        op = pj.CallOpParam()
        if self.auto_answer and self.answer_after <= 0:
            op.statusCode = self.answer_code
        else:
            op.statusCode = 180
            if self.auto_answer:
                self._due.append((time.monotonic() + self.answer_after, call))
        call.answer(op)

    def answer_due_calls(self) -> None:
        now = time.monotonic()
        for due, call in [d for d in self._due if d[0] <= now]:
            self._due.remove((due, call))
            if not call.disconnected:
                op = pj.CallOpParam()
                op.statusCode = self.answer_code
                call.answer(op)

    def call(self, number: str) -> PhoneCall:
        call = PhoneCall(self)
        self.calls.append(call)
        call.makeCall(f"sip:{number}@{self.registrar}", pj.CallOpParam(True))
        return call

    @property
    def ringing_calls(self) -> list[PhoneCall]:
        return [c for c in self.calls if c.state_seen]

    def forget_calls(self) -> None:
        """Hang up this phone's calls and stop tracking them."""
        for call in self.calls:
            call.release()
        self.calls.clear()

    def release(self) -> None:
        self.forget_calls()
        self.shutdown()


@dataclass
class _Media:
    players: list[pj.AudioMediaPlayer] = field(default_factory=list)
    recorders: list[pj.AudioMediaRecorder] = field(default_factory=list)


class PhoneCall(pj.Call):  # type: ignore[misc]
    def __init__(self, phone: Phone, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(phone, call_id)
        self.thisown = False  # see Phone.__init__
        self.phone = phone
        self.states: list[int] = []
        self.last_status = 0
        self.audio: pj.AudioMedia | None = None
        self.media = _Media()
        self.state_seen = True

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        self.states.append(info.state)
        self.last_status = info.lastStatusCode
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # Its media is destroyed: pjmedia aborts the process (not an exception) when
            # a player is connected to it, and that takes the whole test worker down.
            self.audio = None

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        self.audio = None  # only an active audio stream is played to or recorded
        for index, media in enumerate(info.media):
            if (
                media.type == pj.PJMEDIA_TYPE_AUDIO
                and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            ):
                self.audio = pj.AudioMedia.typecastFromMedia(self.getMedia(index))

    @property
    def confirmed(self) -> bool:
        return pj.PJSIP_INV_STATE_CONFIRMED in self.states

    @property
    def disconnected(self) -> bool:
        return pj.PJSIP_INV_STATE_DISCONNECTED in self.states

    def send_digits(self, digits: str) -> None:
        self.dialDtmf(digits)

    def play(self, wav: Path) -> None:
        assert self.audio is not None, "no active audio on this call"
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(wav), 0)
        player.startTransmit(self.audio)
        self.media.players.append(player)

    def record(self, wav: Path) -> None:
        assert self.audio is not None, "no active audio on this call"
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(wav))
        self.audio.startTransmit(recorder)
        self.media.recorders.append(recorder)

    def stop_media(self) -> None:
        """Stop players and close recorders (a WAV's header is written on close)."""
        audio = self.audio
        while self.media.players:
            player = self.media.players.pop()
            if audio is not None:
                player.stopTransmit(audio)
            del player
        while self.media.recorders:
            recorder = self.media.recorders.pop()
            if audio is not None:
                audio.stopTransmit(recorder)
            del recorder  # the last reference: pjsua2 then destroys it
        # With mainThreadOnly, pjsua2 destroys media in libHandleEvents.
        self.phone.stack.pump(0.1)

    def hangup_now(self) -> None:
        if not self.disconnected:
            op = pj.CallOpParam()
            op.statusCode = 603 if not self.confirmed else 200
            self.hangup(op)

    def release(self) -> None:
        self.stop_media()
        try:
            if self.isActive():
                self.hangup(pj.CallOpParam())
        except pj.Error:
            pass
