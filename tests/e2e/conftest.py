"""End-to-end fixtures: the real Asterisk 22 (Debian sid chroot), our service as
a subprocess (`hotline serve`), and real pjsua2 SIP phones for callers and desks.

One PBX, one service and one SIP stack per test session; every test gets a
caller with its own number so its call-log row can be found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import math
import os
import secrets
import signal
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallEvent, CallRecord, Case, ConfigReload
from calllog.store import CallLogStore
from dialplan.generate import desk_password
from hotline.embedded import embedded_pbx, provision
from hotline.pbx import EmbeddedAsterisk, PbxPorts
from hotline.settings import Settings
from routing.config import HotlineConfig, load_config
from tests.e2e.phones import Phone, SipStack

REPO = Path(__file__).resolve().parents[2]
_T = TypeVar("_T")
CALLER_TONE_HZ = 700
DESK_TONE_HZ = 1500

pytestmark = pytest.mark.e2e


@dataclass
class Hotline:
    config: HotlineConfig
    settings: Settings
    pbx: EmbeddedAsterisk
    tmp: Path
    service: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    ari_url: str | None = None
    """The service's way to ARI when not Asterisk's own (a proxy that can cut it)."""

    @property
    def db_url(self) -> str:
        return self.settings.database_url

    def start_service(self, config_path: Path) -> None:
        self.restarts += 1
        self.config = load_config(config_path)
        settings = self.settings.model_copy(update={"config": config_path})
        self.service = _start_service(settings, self.pbx, self.tmp / f"service-{self.restarts}.log",
                                      self.ari_url)

    def stop_service(self) -> None:
        if self.service is not None:
            _stop_service(self.service)
            self.service = None

    def kill_service(self) -> None:
        """SIGKILL: no drain, no goodbye; Asterisk keeps whatever we left in it."""
        if self.service is not None:
            self.service.kill()
            self.service.wait()
            self.service = None

    def restart_service(self, **overrides: Any) -> None:
        """Start (again) on the current YAML, with settings `overrides` if any."""
        self.stop_service()
        self.settings = self.settings.model_copy(update=overrides)
        self.start_service(Path(self.settings.config))

    @contextlib.contextmanager
    def reconfigured(self, change: Callable[[dict[str, Any]], None]) -> Iterator[HotlineConfig]:
        """The running service on a changed copy of the e2e YAML, then on the original
        again. Each is taken the way an admin's edit is (`hotline.reload`: the file
        rewritten, SIGHUP, applied to Asterisk and prompts, then to new calls): a
        second or two, where stopping and starting the service took two starts."""
        path = Path(self.settings.config)
        original = path.read_bytes()
        data = yaml.safe_load(original.decode("utf-8"))
        change(data)
        self._reload(path, yaml.safe_dump(data, allow_unicode=True).encode("utf-8"))
        try:
            yield self.config
        finally:
            self._reload(path, original)

    def _reload(self, path: Path, content: bytes) -> None:
        """Replace the service's YAML with `content` and wait until it is in force."""
        assert self.service is not None, "no service to reload"
        staged = path.with_name(path.name + ".new")
        staged.write_bytes(content)
        staged.replace(path)  # atomic: the service's 2 s poll never reads half a file
        self.service.send_signal(signal.SIGHUP)
        sha256 = hashlib.sha256(content).hexdigest()
        deadline = time.monotonic() + 30
        while True:
            reloads = self.config_reloads()
            last = reloads[-1] if reloads else None
            if last is not None and last.sha256 == sha256:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the service never recorded the reload of {path}")
            time.sleep(0.1)
        assert (last.status, last.problems, last.pbx_error) == ("applied", "", None), last
        self.config = load_config(path)

    def callbacks_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOTLINE_SECRETS_FILE": "/nonexistent",
               "HOTLINE_DATABASE_URL": self.db_url}
        return subprocess.run([sys.executable, "-m", "hotline.cli", "callbacks", *args],
                              env=env, capture_output=True, text=True, cwd=REPO, timeout=60)

    def station_password(self, extension: str) -> str:
        return desk_password(self.settings.sip_secret.get_secret_value(), extension)

    @property
    def recordings_dir(self) -> Path:
        return self.pbx.host_dir / "spool" / "recording"

    @property
    def registrar(self) -> str:
        return f"127.0.0.1:{self.pbx.ports.sip}"

    def endpoint_state(self, extension: str) -> str | None:
        auth = (self.settings.ari_user, self.settings.ari_password.get_secret_value())
        r = httpx.get(f"{self.pbx.ari_url}/endpoints/PJSIP/{extension}", auth=auth, timeout=2)
        return str(r.json().get("state")) if r.status_code == 200 else None

    def call_record(self, caller_number: str) -> CallRecord | None:
        async def latest(store: CallLogStore) -> CallRecord | None:
            calls = await store.list_calls(limit=1000)
            return next((c for c in calls if c.caller_number == caller_number), None)

        return self._read_log(latest)

    def call_events(self, call_id: str) -> list[CallEvent]:
        return self._read_log(lambda store: store.events(call_id))

    def config_reloads(self) -> list[ConfigReload]:
        return self._read_log(lambda store: store.list_reloads(limit=1000))

    def cases_for_call(self, call_id: str) -> list[Case]:
        """The call's complaint cases, each with its history."""

        async def with_history(store: CallLogStore) -> list[Case]:
            found = [await store.get_case(c.id) for c in await store.cases_for_call(call_id)
                     if c.id is not None]
            return [c for c in found if c is not None]

        return self._read_log(with_history)

    def _read_log(self, read: Callable[[CallLogStore], Awaitable[_T]]) -> _T:
        """One read of the service's call log, on an engine of its own."""

        async def run() -> _T:
            engine = make_engine(self.db_url)
            try:
                return await read(CallLogStore(make_sessionmaker(engine)))
            finally:
                await engine.dispose()

        return asyncio.run(run())


ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


SHORT_PROMPTS = {
    "closed": "Ngoài giờ làm việc.",
    "holiday": "Hôm nay nghỉ lễ.",
    "desk_unreachable": "Cán bộ đang bận.",
    "leave_message": "Mời để lại lời nhắn sau tiếng bíp.",
    "message_saved": "Đã ghi lời nhắn.",
    "message_failed": "Chưa ghi được lời nhắn, cán bộ sẽ gọi lại.",
    "message_failed_no_number": "Chưa ghi được lời nhắn.",
    "goodbye": "Xin chào.",
}
"""Prompts a call must sit through before what a test waits for (the beep, the hang-up):
the shipped texts last 4-12 s each, these 1-3 s."""


def e2e_config(shipped: Path, out: Path) -> Path:
    """The shipped YAML with short prompts, quick timeouts and open round the
    clock (tests that need closed hours change that), so tests run fast at any
    hour. Branches, agencies, desks and stations stay exactly as shipped."""
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["menu"].update(
        greeting="Tổng đài cải cách hành chính.",
        intro="Mời chọn.",
        digit_timeout_seconds=2,
        max_attempts=2,
        **SHORT_PROMPTS,
    )
    data["hours"].update(days=ALL_DAYS, periods=["00:00-24:00"], holidays=[],
                         extra_working_days=[])
    data["voicemail"] = {"max_seconds": 20, "max_silence_seconds": 4}
    data["survey"] = {"question": "Mời đánh giá từ 1 đến {scale}.", "timeout_seconds": 3,
                      "thanks": "Cảm ơn quý vị."}
    for branch in data["branches"]:
        branch["ring_timeout_seconds"] = 4
        branch["queue"] = {"announce_every_seconds": 10, "max_wait_seconds": 40}
    # Branch 7 keeps the path without a queue: every desk busy -> a message at once.
    data["branches"][6]["queue"] = {"enabled": False}
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


def throwaway_settings(config_path: Path, tmp: Path) -> Settings:
    """Settings for a PBX + service of our own: random secrets, SQLite in `tmp`."""
    return Settings(
        config=config_path,
        database_url=f"sqlite+aiosqlite:///{tmp}/calls.db",
        spool_dir=tmp / "spool",
        ari_password=secrets.token_urlsafe(16),
        ami_password=secrets.token_urlsafe(16),
        sip_secret=secrets.token_urlsafe(16),
        asterisk_root=Path(
            os.environ.get("HOTLINE_ASTERISK_ROOT", "~/.cache/hotline/asterisk-sid")
        ).expanduser(),
        asterisk_conf=REPO / "asterisk-conf",
        prompt_overrides=tmp / "no-overrides",
        health_port=PbxPorts.free().http,  # a free loopback TCP port
    )


@pytest.fixture(scope="session")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    tmp = tmp_path_factory.mktemp("hotline")
    config_path = e2e_config(REPO / "config" / "hotline.yaml", tmp / "hotline.yaml")
    config = load_config(config_path)
    settings = throwaway_settings(config_path, tmp)
    pbx = embedded_pbx(settings, name=f"e2e-{os.getpid()}", ports=PbxPorts.free())
    provision(pbx, config, settings)
    pbx.start()
    if os.environ.get("HOTLINE_E2E_SIP_DEBUG"):
        pbx.cli("pjsip set logger on")
        pbx.cli("rtp set debug on")
    hotline = Hotline(config=config, settings=settings, pbx=pbx, tmp=tmp)
    try:
        hotline.start_service(config_path)
        yield hotline
    finally:
        hotline.stop_service()
        pbx.stop()
        for log_path in sorted(tmp.glob("service-*.log")):
            log = log_path.read_text(errors="replace")
            if "Traceback" in log:
                sys.stderr.write(f"--- {log_path.name} ---\n{log[-20000:]}\n")
        (tmp / "asterisk.log").write_text(pbx.log_tail(2000))
        pbx.remove()


def _start_service(
    settings: Settings, pbx: EmbeddedAsterisk, log: Path, ari_url: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOTLINE_SECRETS_FILE": "/nonexistent",
        "HOTLINE_CONFIG": str(settings.config),
        "HOTLINE_DATABASE_URL": settings.database_url,
        "HOTLINE_ARI_URL": ari_url or pbx.ari_url,
        "HOTLINE_ARI_USER": settings.ari_user,
        "HOTLINE_ARI_PASSWORD": settings.ari_password.get_secret_value(),
        "HOTLINE_PROMPTS_DIR": pbx.sounds_pbx_dir,
        "HOTLINE_PROMPTS_HOST_DIR": str(pbx.sounds_host_dir),
        "HOTLINE_ASTERISK_ETC_DIR": str(pbx.etc_dir),
        "HOTLINE_CEL_DB": str(pbx.cel_db),
        "HOTLINE_SPOOL_DIR": str(settings.spool_dir),
        "HOTLINE_SIP_SECRET": settings.sip_secret.get_secret_value(),
        "HOTLINE_HEALTH_PORT": str(settings.health_port),
        "HOTLINE_MAX_ACTIVE_CALLS": str(settings.max_active_calls),
        "HOTLINE_LOG_LEVEL": "debug",
        "PYTHONASYNCIODEBUG": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "serve"], env=env, stdout=out,
            stderr=subprocess.STDOUT, cwd=REPO,
        )
    # Ready = this process's ARI websocket is up. (Asterisk's own view of the app is no
    # proof: after a SIGKILL the app it knew stays registered, inactive.)
    ready = f"http://127.0.0.1:{settings.health_port}/readyz"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hotline serve exited:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(ready, timeout=2).status_code == 200:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"hotline serve never became ready:\n{log.read_text()}")


def _stop_service(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def sip() -> Iterator[SipStack]:
    stack = SipStack()
    try:
        yield stack
    finally:
        stack.close()


# pjsua2's wheel is built with PJSUA_MAX_ACC = 8 accounts per process: callers
# need some, so at most this many desk phones are registered at a time.
MAX_DESK_PHONES = 6


class DeskBank:
    """Registered, auto-answering desk phones, registered on demand."""

    def __init__(self, hotline: Hotline, sip: SipStack) -> None:
        self.hotline = hotline
        self.sip = sip
        self.phones: dict[str, Phone] = {}

    def ensure(self, wanted: list[str]) -> dict[str, Phone]:
        """Register `wanted` desks (in that order of priority), dropping others."""
        wanted = wanted[:MAX_DESK_PHONES]
        evicted = [e for e in self.phones if e not in wanted]
        for ext in evicted:
            self.sip.retire(self.phones.pop(ext))
        self.sip.wait_until(
            lambda: all(self.hotline.endpoint_state(e) != "online" for e in evicted), 10,
            "dropped desks to unregister",
        )
        secret = self.hotline.settings.sip_secret.get_secret_value()
        for ext in wanted:
            if ext not in self.phones:
                self.phones[ext] = self.sip.phone(
                    ext, self.hotline.registrar, desk_password(secret, ext), auto_answer=True
                )
        self.sip.wait_until(
            lambda: all(p.registered for p in self.phones.values()), 15, "desks to register"
        )
        for ext in wanted:
            self._wait_online(ext)
        for ext in wanted:
            self.phones[ext].auto_answer = True
            self.phones[ext].answer_code = 200
            self.phones[ext].answer_after = 0.0
        return dict(self.phones)

    def _wait_online(self, ext: str) -> None:
        """Asterisk's own view: the desk's AOR has a contact (pjsua2 can be wrong
        when an account slot is reused while the old one's un-REGISTER is in flight)."""
        for _ in range(3):
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if self.hotline.endpoint_state(ext) == "online":
                    return
                self.sip.pump(0.1)
            self.phones[ext].setRegistration(True)
        raise AssertionError(f"desk {ext} never showed online in Asterisk")

    def for_branch(self, key: int) -> dict[str, Phone]:
        """The branch's desks first, then as many other desks as fit (to see they stay quiet)."""
        branch = self.hotline.config.branch(key)
        assert branch is not None
        others = [d.extension for d in self.hotline.config.desks if d.extension not in branch.desks]
        return self.ensure([*branch.desks, *others])


@pytest.fixture(scope="session")
def desk_bank(hotline: Hotline, sip: SipStack) -> DeskBank:
    return DeskBank(hotline, sip)


_numbers = itertools.count(1)


def _citizen(hotline: Hotline, sip: SipStack, prefix: str) -> Iterator[Phone]:
    """A citizen's phone with a mobile number of its own (10 digits starting `prefix`),
    not registered, like a PSTN caller; its calls hung up and the phone gone after."""
    phone = sip.phone(f"{prefix}{os.getpid() % 10000:04d}{next(_numbers):04d}",
                      hotline.registrar)
    yield phone
    for call in phone.calls:
        call.hangup_now() if not call.disconnected else None
    sip.pump(0.3)
    sip.retire(phone)


@pytest.fixture
def caller(hotline: Hotline, sip: SipStack) -> Iterator[Phone]:
    yield from _citizen(hotline, sip, "09")


@pytest.fixture
def second_caller(hotline: Hotline, sip: SipStack) -> Iterator[Phone]:
    """Another citizen (08x), e.g. the one who finds the desk busy and waits."""
    yield from _citizen(hotline, sip, "08")


@pytest.fixture(autouse=True)
def _clear_desk_calls(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "desk_bank" in request.fixturenames:
        bank: DeskBank = request.getfixturevalue("desk_bank")
        for phone in bank.phones.values():
            for call in phone.calls:
                if not call.disconnected:
                    call.hangup_now()
        bank.sip.pump(0.2)
        for phone in bank.phones.values():
            phone.forget_calls()


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tones")
    return {
        "caller": write_tone(out / "caller.wav", CALLER_TONE_HZ, 20.0),
        "desk": write_tone(out / "desk.wav", DESK_TONE_HZ, 20.0),
    }


def write_tone(path: Path, hz: float, seconds: float, rate: int = 8000) -> Path:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / rate)))
        for n in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def read_samples(path: Path) -> tuple[list[int], int]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    count = len(raw) // 2
    return list(struct.unpack(f"<{count}h", raw[: count * 2])), rate


def tone_power(samples: list[int], rate: int, hz: float) -> float:
    """Goertzel power of `hz` in `samples`, normalised by length."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / len(samples)


def rms(samples: list[int]) -> float:
    return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0
