"""The load benchmark's machinery: one embedded Asterisk with a production-like
configuration (RTP range sized for the load), one SIPp desk UAS that registers
the branch's desks and answers, SIPp callers sending real RFC 4733 digits, and
our service, for two flows over the same PBX, menu and desks:

* ``hotline``: calls go to ``Stasis(hotline)``, run by `hotline serve`;
* ``dialplan``: the same calls with the service stopped, so ``Stasis()`` fails and
  the generated fallback IVR (``Read`` + ``Dial``) runs them.

`LoadBench.run_step` places `rate` calls/s for `seconds` and measures from the
SIPp logs (wall clock on this host) and /proc. Used by `benchmarks.load` (the
ramp) and by tests/e2e/test_load_smoke.py (a few calls, correctness only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from calllog.db import make_engine, make_sessionmaker
from calllog.store import CallLogStore
from dialplan.generate import desk_password
from hotline.embedded import embedded_pbx, provision
from hotline.pbx import TEST_TRUNK_ADDRESS, EmbeddedAsterisk, PbxPorts
from hotline.prompts import wav_seconds
from hotline.settings import Settings
from ivr.prompts import Prompt
from routing.config import HotlineConfig, load_config
from tests.e2e.conftest import _stop_service, throwaway_settings

REPO = Path(__file__).resolve().parents[1]
SIPP_DIR = Path(__file__).resolve().parent / "sipp"
DTMF_PCAP_DIR = Path("/usr/share/sip-tester")

KEY = "1"
"""The branch the callers choose (desks 1101, 1102 in the shipped YAML)."""
PROMPT_SECONDS = {"greeting": 0.9, "menu": 0.5, "connecting": 0.02}
"""Greeting + menu = the issue's 1.4 s prompt; "connecting" kept short because the
fallback plays it before Dial (the service plays it over the ringing)."""
OTHER_PROMPT_SECONDS = 0.5
RING_MS = 1000
TALK_SECONDS = 3.0
SLACK_MS = 500
"""How late the desk may get the call and still have its full 3 s of talk."""
DTMF_END_OFFSET = 0.14
"""In /usr/share/sip-tester/dtmf_2833_N.pcap the first end-of-event packet is sent
140 ms after the first packet; Asterisk reports the digit (to Read() and to ARI's
ChannelDtmfReceived) at the end, so latency is measured from there."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
FLOWS = ("hotline", "dialplan")


class BenchError(Exception):
    """The harness itself could not run (setup, SIPp, the service)."""


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_pair() -> int:
    """An even UDP port whose +1 and +2 are free too (SIPp's media port uses mp and mp+2)."""
    for _ in range(200):
        port = random.randrange(40000, 60000, 2)
        socks = []
        try:
            for p in (port, port + 1, port + 2, port + 3):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise BenchError("no free UDP port quadruple for SIPp media")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def bench_config(out: Path) -> Path:
    """The shipped YAML, open round the clock, survey off: same menu, same desks."""
    data = yaml.safe_load((REPO / "config" / "hotline.yaml").read_text(encoding="utf-8"))
    data["hours"].update(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         periods=["00:00-24:00"], holidays=[], extra_working_days=[])
    for branch in data["branches"]:
        branch["survey"] = False
        # One SIPp UAS answers any number of calls as the branch's first desk: a queue
        # would hold them back one by one, and this measures answering, not queueing.
        branch["queue"] = {"enabled": False}
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


def write_prompt_overrides(out: Path) -> Path:
    """Recorded-prompt overrides (tones) of the lengths the benchmark's flow needs."""
    out.mkdir(parents=True, exist_ok=True)
    for prompt in Prompt:
        seconds = PROMPT_SECONDS.get(prompt.value, OTHER_PROMPT_SECONDS)
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(out / f"{prompt.value}.wav"),
             "synth", f"{seconds}", "sine", "440"],
            check=True, capture_output=True,
        )
    return out


@dataclass
class CallTimes:
    answered: float | None = None
    dtmf: float | None = None
    done: float | None = None
    invite: float | None = None
    desk_answer: float | None = None
    bye: float | None = None

    @property
    def talk(self) -> float | None:
        if self.desk_answer is None or self.bye is None:
            return None
        return self.bye - self.desk_answer

    @property
    def ok(self) -> bool:
        """The desk got the call, answered, and the caller's full 3 s talk and BYE/200 happened."""
        talk = self.talk
        return self.done is not None and self.invite is not None and talk is not None \
            and talk >= TALK_SECONDS

    @property
    def dtmf_to_invite(self) -> float | None:
        if self.dtmf is None or self.invite is None:
            return None
        return self.invite - (self.dtmf + DTMF_END_OFFSET)


@dataclass
class StepResult:
    flow: str
    rate: float
    seconds: float
    placed: int
    succeeded: int
    failed: int
    shed: int
    """Calls the service sent to the fallback IVR (overload): served, but not by it."""
    refused: int
    """Calls the service turned away (overload): among the failed ones."""
    failures: dict[str, int]
    sipp_exit: int
    asterisk_cpu_ms_per_call: float | None
    service_cpu_ms_per_call: float | None
    sipp_cpu_ms_per_call: float | None
    """SIPp's own share of the box (caller and desk): the same work in every flow."""
    dtmf_to_invite_ms_p50: float | None
    dtmf_to_invite_ms_p99: float | None
    dtmf_to_invite_ms_max: float | None
    peak_concurrent_calls: int
    service_rss_kib_start: int | None
    service_rss_kib_peak: int | None
    service_rss_kib_per_call: float | None
    asterisk_rss_kib_peak: int
    channels_left: int
    wall_seconds: float
    correlation: str
    callers: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("callers")
        return out


def _parse_log(path: Path, kinds: set[str]) -> dict[str, dict[str, float]]:
    """`<kind> <caller> <date>\t<time>\t<epoch>` lines -> {caller: {kind: epoch}}."""
    events: dict[str, dict[str, float]] = {}
    if not path.is_file():
        return events
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in kinds:
            try:
                events.setdefault(parts[1], {})[parts[0]] = float(parts[-1])
            except ValueError:
                continue
    return events


def _parse_desk_log(path: Path) -> list[dict[str, Any]]:
    """`<kind> <desk call number> <caller> <date>\t<time>\t<epoch>` -> one dict per desk call."""
    calls: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] in ("invite", "answer", "bye"):
            try:
                stamp = float(parts[-1])
            except ValueError:
                continue
            call = calls.setdefault(parts[1], {"caller": parts[2]})
            call[parts[0]] = stamp
    return sorted((c for c in calls.values() if "invite" in c), key=lambda c: c["invite"])


def _correlate(
    callers: list[str], caller_events: dict[str, dict[str, float]],
    desk_calls: list[dict[str, Any]],
) -> tuple[dict[str, CallTimes], str]:
    """Each placed call with its desk leg: by the caller number the desk sees or,
    when the desk INVITE carries none (From: anonymous), by arrival order: each
    desk INVITE goes to the earliest unmatched caller whose digit was already sent."""
    times = {number: CallTimes(answered=e.get("answered"), dtmf=e.get("dtmf"), done=e.get("done"))
             for number in callers for e in [caller_events.get(number, {})]}
    wanted = set(callers)
    by_number = [c for c in desk_calls if c["caller"] in wanted]
    correlation = "caller number"
    if len(by_number) < len(desk_calls) // 2 or not desk_calls:
        correlation = "arrival order (desk INVITE has no caller number)" if desk_calls \
            else correlation
        waiting = sorted((t.dtmf, n) for n, t in times.items() if t.dtmf is not None)
        for call in desk_calls:
            candidates = [i for i, (sent, _) in enumerate(waiting)
                          if sent + DTMF_END_OFFSET <= call["invite"] + 0.002]
            if not candidates:
                continue
            _, number = waiting.pop(candidates[0])
            call["caller"] = number
    for call in desk_calls:
        t = times.get(call["caller"])
        if t is not None and t.invite is None:
            t.invite, t.desk_answer, t.bye = call["invite"], call.get("answer"), call.get("bye")
    return times, correlation


def _stop_sipp(proc: subprocess.Popen[bytes]) -> None:
    """SIGUSR1 asks SIPp to stop taking calls and quit; then terminate, then kill."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGUSR1)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Sampler(threading.Thread):
    """RSS of the service and of Asterisk every `interval` s, with the wall clock."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            sample = {}
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError):
                    sample[name] = rss_kib(pid)
            self.samples.append((time.time(), sample))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class LoadBench:
    """One PBX, one SIPp desk UAS, our service (started and stopped per flow)."""

    def __init__(self, workdir: Path | None = None, *, rtp_ports: int = 200,
                 keep: bool = False, log: bool = True, trace_sip: bool = False) -> None:
        if shutil.which("sipp") is None:
            raise BenchError("sipp is not installed (Debian package: sip-tester)")
        self.tmp = workdir or Path(tempfile.mkdtemp(prefix="hotline-load-"))
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.trace_sip = trace_sip
        self.leftover_channels_hung_up = 0
        self.dialplan_ready = False
        self.verbose = log
        self.rtp_ports = rtp_ports
        self.pbx: EmbeddedAsterisk | None = None
        self.service: subprocess.Popen[bytes] | None = None
        self.desk_port = free_port(socket.SOCK_DGRAM)
        self.desk_media = free_udp_pair()
        self.caller_media = free_udp_pair()
        self.desks: list[str] = []
        self.steps = 0
        self.settings: Settings
        self.config: HotlineConfig
        self.placed: dict[str, list[str]] = {flow: [] for flow in FLOWS}

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    # -- setup ------------------------------------------------------------------

    def start(self) -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # Asterisk: 2 sockets per leg
        config_path = bench_config(self.tmp / "hotline.yaml")
        self.config = load_config(config_path)
        branch = self.config.branch(int(KEY))
        if branch is None or not branch.desks:
            raise BenchError(f"branch {KEY} has no desks")
        self.desks = list(branch.desks)
        settings = throwaway_settings(config_path, self.tmp)
        self.settings = settings.model_copy(
            update={"prompt_overrides": write_prompt_overrides(self.tmp / "prompts")})
        if self.rtp_ports > 200:
            rtp_start = 20000  # below the ephemeral range; e2e sessions use 10000-19999
            ports = PbxPorts(sip=free_port(socket.SOCK_DGRAM), http=free_port(), ami=free_port(),
                             rtp_start=rtp_start, rtp_end=rtp_start + self.rtp_ports - 1)
        else:
            ports = PbxPorts.free()
        self.pbx = embedded_pbx(self.settings, name=f"load-{os.getpid()}", ports=ports)
        provision(self.pbx, self.config, self.settings)
        self.pbx.start()
        self.say(f"asterisk up: sip {ports.sip}, rtp {ports.rtp_start}-{ports.rtp_end}")
        self.register_desk()

    @property
    def prompt_seconds(self) -> float:
        assert self.pbx is not None
        sounds = self.pbx.sounds_host_dir
        return wav_seconds(sounds / "greeting.wav") + wav_seconds(sounds / "menu.wav")

    def _scenario(self, name: str, values: dict[str, str]) -> Path:
        text = (SIPP_DIR / name).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        out = self.tmp / "sipp" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        return out

    def _sip_target(self) -> str:
        assert self.pbx is not None
        return f"127.0.0.1:{self.pbx.ports.sip}"

    def register_desk(self) -> None:
        """REGISTER the branch's desks from the port the desk UAS will listen on (one
        SIPp answers for all of them; the first in the branch's order gets the calls)."""
        scenario = self._scenario("desk_register.xml", {})
        secret = self.settings.sip_secret.get_secret_value()
        for desk in self.desks:
            argv = ["sipp", "-sf", str(scenario), self._sip_target(), "-i", "127.0.0.1",
                    "-p", str(self.desk_port), "-m", "1", "-key", "desk", desk,
                    "-au", desk, "-ap", desk_password(secret, desk),
                    "-nostdin", "-timeout", "10s", "-timeout_error"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                                  check=False, cwd=self.tmp)
            if proc.returncode != 0:
                raise BenchError(f"desk {desk} registration failed ({proc.returncode}): "
                                 f"{proc.stderr[-2000:]}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(self.endpoint_state(desk) == "online" for desk in self.desks):
                return
            time.sleep(0.2)
        raise BenchError(f"desks {self.desks} registered but Asterisk does not show them online")

    def endpoint_state(self, extension: str) -> str | None:
        assert self.pbx is not None
        auth = (self.settings.ari_user, self.settings.ari_password.get_secret_value())
        r = httpx.get(f"{self.pbx.ari_url}/endpoints/PJSIP/{extension}", auth=auth, timeout=2)
        return str(r.json().get("state")) if r.status_code == 200 else None

    def app_registered(self) -> bool:
        assert self.pbx is not None
        auth = (self.settings.ari_user, self.settings.ari_password.get_secret_value())
        r = httpx.get(f"{self.pbx.ari_url}/applications/{self.settings.app}", auth=auth,
                      timeout=2)
        return r.status_code == 200

    def admissions(self) -> dict[str, int]:
        """The service's counts of new calls sent to the fallback IVR and turned away
        because of overload (`hotline/overload.py`)."""
        counts = {"shed": 0, "refused": 0}
        if self.service is None:
            return counts
        try:
            text = httpx.get(f"http://127.0.0.1:{self.settings.health_port}/metrics",
                             timeout=5).text
        except httpx.HTTPError:
            return counts
        for key in counts:
            match = re.search(rf"^hotline_calls_{key}_total (\S+)$", text, re.MULTILINE)
            counts[key] = int(float(match.group(1))) if match else 0
        return counts

    def start_service(self) -> None:
        """`hotline serve` as in production: info logging, no asyncio debug mode."""
        assert self.pbx is not None
        pbx, settings = self.pbx, self.settings
        env = {
            **os.environ,
            "HOTLINE_SECRETS_FILE": "/nonexistent",
            "HOTLINE_CONFIG": str(settings.config),
            "HOTLINE_DATABASE_URL": settings.database_url,
            "HOTLINE_ARI_URL": pbx.ari_url,
            "HOTLINE_ARI_USER": settings.ari_user,
            "HOTLINE_ARI_PASSWORD": settings.ari_password.get_secret_value(),
            "HOTLINE_PROMPTS_DIR": pbx.sounds_pbx_dir,
            "HOTLINE_PROMPTS_HOST_DIR": str(pbx.sounds_host_dir),
            "HOTLINE_PROMPT_OVERRIDES": str(settings.prompt_overrides),
            "HOTLINE_ASTERISK_ETC_DIR": str(pbx.etc_dir),
            "HOTLINE_CEL_DB": str(pbx.cel_db),
            "HOTLINE_SPOOL_DIR": str(settings.spool_dir),
            "HOTLINE_SIP_SECRET": settings.sip_secret.get_secret_value(),
            "HOTLINE_HEALTH_PORT": str(settings.health_port),
            "HOTLINE_LOG_LEVEL": "info",
        }
        env.pop("PYTHONASYNCIODEBUG", None)
        log = self.tmp / "service.log"
        with log.open("ab") as out:
            self.service = subprocess.Popen(
                [sys.executable, "-m", "hotline.cli", "serve"], env=env, stdout=out,
                stderr=subprocess.STDOUT, cwd=REPO,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.service.poll() is not None:
                tail = log.read_text(errors="replace")[-4000:]
                raise BenchError(f"hotline serve exited:\n{tail}")
            if self.app_registered():
                return
            time.sleep(0.2)
        raise BenchError("hotline serve never registered its Stasis app")

    def stop_service(self) -> None:
        proc, self.service = self.service, None
        if proc is None or proc.poll() is not None:
            return
        _stop_service(proc)

    def close(self) -> None:
        try:
            self.stop_service()
        finally:
            if self.pbx is not None:
                (self.tmp / "asterisk.log").write_text(self.pbx.log_tail(500))
                self.pbx.stop()
                self.pbx.remove()
                self.pbx = None
            if not self.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> LoadBench:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one step of load -------------------------------------------------------

    def use_flow(self, flow: str) -> None:
        """Run the service for "hotline"; stop it for "dialplan" (Stasis fails -> fallback)."""
        if flow == "hotline":
            self.dialplan_ready = False
            if self.service is None:
                self.start_service()
        elif flow == "dialplan":
            if self.service is None and self.dialplan_ready:
                return
            self.stop_service()
            self.dialplan_ready = True
            # Asterisk keeps an app registered while channels it had linger: clear them.
            assert self.pbx is not None
            deadline = time.monotonic() + 30
            left = self.active_channels()
            if left > 0:
                self.say(f"{left} channels left behind by the service: hanging them up")
                self.leftover_channels_hung_up += left
            quiet_since = time.monotonic()
            while self.app_registered() and time.monotonic() < deadline:
                if self.active_channels() > 0:
                    self.pbx.cli("channel request hangup all")
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > 3:
                    break
                time.sleep(0.5)
            if self.app_registered():
                # Registered but inactive (no websocket): Stasis() still fails over.
                self.say("the Stasis app is still listed by ARI with the service stopped")
        else:
            raise ValueError(flow)

    def active_channels(self) -> int:
        assert self.pbx is not None
        match = re.search(r"(\d+) active channel", self.pbx.cli("core show channels count"))
        return int(match.group(1)) if match else -1

    def run_step(self, flow: str, rate: float, seconds: float) -> StepResult:
        assert self.pbx is not None
        self.use_flow(flow)
        self.steps += 1
        calls = max(1, round(rate * seconds))
        prefix = f"09{FLOWS.index(flow) + 1}{self.steps:03d}0"
        step_dir = self.tmp / f"step-{self.steps:03d}-{flow}-{rate:g}"
        step_dir.mkdir(parents=True, exist_ok=True)
        digit_pcap = DTMF_PCAP_DIR / f"dtmf_2833_{KEY}.pcap"
        talk_ms = round(DTMF_END_OFFSET * 1000 + RING_MS + TALK_SECONDS * 1000 + SLACK_MS)
        caller_xml = self._scenario("caller.xml", {
            "PROMPT_MS": str(round(self.prompt_seconds * 1000) + 100),
            "TALK_MS": str(talk_ms), "DTMF_PCAP": str(digit_pcap)})
        desk_xml = self._scenario("desk.xml", {"RING_MS": str(RING_MS)})
        desk_log, caller_log = step_dir / "desk.log", step_dir / "caller.log"
        desk_err = (step_dir / "desk.stderr").open("wb")
        caller_err = (step_dir / "caller.stderr").open("wb")
        desk = subprocess.Popen(
            ["sipp", "-sf", str(desk_xml), "-i", "127.0.0.1", "-p", str(self.desk_port),
             "-mp", str(self.desk_media), "-nostdin", "-trace_logs", "-log_file", str(desk_log),
             "-trace_err", "-error_file", str(step_dir / "desk-errors.log"),
             "-recv_timeout", "30000",
             *(["-trace_msg", "-message_file", str(step_dir / "desk-messages.log")]
               if self.trace_sip else [])],
            stdout=subprocess.DEVNULL, stderr=desk_err,
            cwd=step_dir,
        )
        try:
            pids = {"asterisk": self.pbx_pid, "sipp desk": desk.pid}
            if self.service is not None:
                pids["service"] = self.service.pid
            time.sleep(0.3)
            rss_start = rss_kib(self.service.pid) if self.service is not None else None
            admitted_before = self.admissions()
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            sampler = _Sampler(pids)
            sampler.start()
            started = time.monotonic()
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            caller = subprocess.run(
                ["sipp", "-sf", str(caller_xml), self._sip_target(), "-s",
                 self.config.hotline.number, "-i", TEST_TRUNK_ADDRESS,
                 "-p", str(free_port(socket.SOCK_DGRAM)),
                 "-mp", str(self.caller_media), "-r", f"{rate:g}", "-m", str(calls),
                 "-key", "caller_prefix", prefix, "-nostdin", "-trace_logs", "-log_file",
                 str(caller_log), "-trace_err", "-error_file", str(step_dir / "caller-errors.log"),
                 "-recv_timeout", "20000", "-timeout", f"{seconds + 60:.0f}s"],
                stdout=subprocess.DEVNULL, stderr=caller_err,
                cwd=step_dir, check=False,
            )
            # Read before the `asterisk -rx` polls below: only the caller SIPp was reaped.
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_before["sipp caller"] = children_before.ru_utime + children_before.ru_stime
            cpu_after_caller = children.ru_utime + children.ru_stime
            # Let the last BYEs land at the desk and Asterisk tear the channels down.
            channels_left = -1
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                channels_left = self.active_channels()
                if channels_left == 0:
                    break
                time.sleep(0.5)
            if channels_left > 0:  # what was left behind, for --keep
                (step_dir / "channels-left.txt").write_text(
                    self.pbx.cli("core show channels concise"))
            wall = time.monotonic() - started
            cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
            cpu_after["sipp caller"] = cpu_after_caller
            sampler.stop()
            admitted = self.admissions()
            shed = admitted["shed"] - admitted_before["shed"]
            refused = admitted["refused"] - admitted_before["refused"]
        finally:
            _stop_sipp(desk)
            desk_err.close()
            caller_err.close()
        callers = [f"{prefix}{n}" for n in range(1, calls + 1)]
        self.placed[flow].extend(callers)
        caller_events = _parse_log(caller_log, {"answered", "dtmf", "done"})
        desk_calls = _parse_desk_log(desk_log)
        times, correlation = _correlate(callers, caller_events, desk_calls)
        failures: Counter[str] = Counter()
        for t in times.values():
            if t.ok:
                continue
            if t.answered is None:
                failures["not answered"] += 1
            elif t.invite is None:
                failures["desk never rung"] += 1
            elif t.desk_answer is None:
                failures["desk answer not confirmed"] += 1
            elif t.talk is None or t.talk < TALK_SECONDS:
                failures["talk cut short"] += 1
            else:
                failures["caller BYE failed"] += 1
        succeeded = sum(t.ok for t in times.values())
        # Every call whose desk got the INVITE, failed or not (a slow INVITE is a failure).
        latencies = [lat * 1000 for t in times.values() if (lat := t.dtmf_to_invite) is not None]

        # Concurrency at each RSS sample: calls between the caller's answer and its end.
        spans = [(t.answered, t.done or t.bye or t.answered) for t in times.values()
                 if t.answered is not None]
        peak_calls, service_peak, asterisk_peak = 0, None, 0
        per_call: list[float] = []
        for at, sample in sampler.samples:
            active = sum(1 for a, b in spans if a is not None and b is not None and a <= at <= b)
            peak_calls = max(peak_calls, active)
            asterisk_peak = max(asterisk_peak, sample.get("asterisk", 0))
            if "service" in sample:
                service_peak = max(service_peak or 0, sample["service"])
                if rss_start is not None and active >= 5:
                    per_call.append((sample["service"] - rss_start) / active)
        rss_per_call = None
        if rss_start is not None and service_peak is not None and peak_calls:
            rss_per_call = round((service_peak - rss_start) / peak_calls, 1)

        def per_call_ms(name: str) -> float | None:
            if name not in cpu_before or not succeeded:
                return None
            return round((cpu_after[name] - cpu_before[name]) * 1000 / calls, 2)

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return StepResult(
            flow=flow, rate=rate, seconds=seconds, placed=calls, succeeded=succeeded,
            failed=calls - succeeded, shed=shed, refused=refused, failures=dict(failures),
            sipp_exit=caller.returncode,
            asterisk_cpu_ms_per_call=per_call_ms("asterisk"),
            service_cpu_ms_per_call=per_call_ms("service"),
            sipp_cpu_ms_per_call=_sum_or_none(per_call_ms("sipp caller"),
                                              per_call_ms("sipp desk")),
            dtmf_to_invite_ms_p50=ms(statistics.median(latencies) if latencies else None),
            dtmf_to_invite_ms_p99=ms(percentile(latencies, 99)),
            dtmf_to_invite_ms_max=ms(max(latencies) if latencies else None),
            peak_concurrent_calls=peak_calls, service_rss_kib_start=rss_start,
            service_rss_kib_peak=service_peak, service_rss_kib_per_call=rss_per_call,
            asterisk_rss_kib_peak=asterisk_peak, channels_left=channels_left,
            wall_seconds=round(wall, 1), correlation=correlation, callers=callers,
        )

    @property
    def pbx_pid(self) -> int:
        assert self.pbx is not None
        proc = self.pbx._proc  # `chroot` execs asterisk: the same pid
        if proc is None:
            raise BenchError("asterisk is not running")
        return proc.pid

    def call_log_rows(self, callers: list[str]) -> dict[str, int]:
        """How many call-log rows each of `callers` has."""
        return asyncio.run(_row_counts(self.settings.database_url, set(callers)))


def _sum_or_none(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else round(sum(v or 0 for v in values), 2)


async def _row_counts(url: str, callers: set[str]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        rows = await CallLogStore(make_sessionmaker(engine)).list_calls(limit=10_000_000)
    finally:
        await engine.dispose()
    counts = Counter(r.caller_number for r in rows if r.caller_number in callers)
    return {number: counts.get(number, 0) for number in callers}
