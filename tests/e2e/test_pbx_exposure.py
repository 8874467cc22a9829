"""What a scanner on the network sees of the embedded PBX (issue 14): no directory of
extensions, failed logins in a security log that the shipped fail2ban jail reads, no
AMI, no shell modules, no version banner, media on the configured address only."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.calls import answer_hotline
from tests.e2e.conftest import REPO, DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack
from tests.e2e.sipscan import sip_request

pytestmark = pytest.mark.e2e

MISSING = ["1999", "8123", "100"]
SCANNERS = ["127.0.0.1", "127.0.0.3"]  # the desks' address, and one the PBX knows nothing of
JAIL = REPO / "deploy" / "fail2ban" / "jail.d" / "hotline-asterisk.conf"


def _target(hotline: Hotline) -> tuple[str, int]:
    return ("127.0.0.1", hotline.pbx.ports.sip)


@pytest.mark.parametrize("method", ["REGISTER", "OPTIONS", "INVITE"])
@pytest.mark.parametrize("source_ip", SCANNERS)
def test_scanner_cannot_tell_existing_extensions_from_missing_ones(
    method: str, source_ip: str, hotline: Hotline,
) -> None:
    existing = [hotline.config.desks[0].extension, hotline.config.stations[0].extension]
    answers = {ext: sip_request(method, ext, _target(hotline), source_ip=source_ip)
               for ext in [*existing, *MISSING]}

    statuses = {ext: a.status for ext, a in answers.items()}
    assert set(statuses.values()) == {401}, statuses
    challenges = {(a.challenge.get("realm"), a.challenge.get("algorithm"), a.challenge.get("qop"))
                  for a in answers.values()}
    assert len(challenges) == 1, challenges


def test_failed_logins_reach_the_security_log_that_the_fail2ban_jail_bans_on(
    hotline: Hotline, tmp_path: Path,
) -> None:
    desk = hotline.config.desks[0].extension
    for _ in range(3):
        wrong = sip_request("REGISTER", desk, _target(hotline), source_ip="127.0.0.3",
                            password="guess-1234")
        assert wrong.status in (401, 403), wrong
    for ext in MISSING:
        sip_request("REGISTER", ext, _target(hotline), source_ip="127.0.0.3", password="x")

    log = hotline.pbx.host_dir / "log" / "security"
    failures = [line for line in log.read_text(errors="replace").splitlines()
                if "/127.0.0.3/" in line and re.search(
                    r'SecurityEvent="(ChallengeResponseFailed|InvalidPassword|InvalidAccountID)"',
                    line)]
    events = {re.search(r'SecurityEvent="(\w+)"', line)[1] for line in failures}  # type: ignore[index]
    assert events >= {"InvalidAccountID"} and events & {"ChallengeResponseFailed",
                                                        "InvalidPassword"}, events

    conf = _fail2ban_with_jail(tmp_path, log)
    dump = _run(["fail2ban-client", "-c", str(conf), "-d"])
    assert "['add', 'asterisk', 'auto']" in dump  # enabled, reading a file
    assert f"['set', 'asterisk', 'addlogpath', '{log}', 'head']" in dump
    maxretry = int(re.search(r"\['set', 'asterisk', 'maxretry', (\d+)\]", dump)[1])  # type: ignore[index]
    assert "nftables-multiport-udp" in dump

    only_ours = tmp_path / "security-127.0.0.3.log"
    only_ours.write_text("\n".join(failures) + "\n")
    hosts = _run(["fail2ban-regex", "-c", str(conf), "-o", "ip", str(only_ours),
                  "asterisk"]).split()
    assert len(hosts) == len(failures) >= maxretry  # every failure counts: a ban
    assert set(hosts) == {"127.0.0.3"}


def _fail2ban_with_jail(tmp: Path, log: Path) -> Path:
    """Debian's fail2ban configuration plus our jail, reading this PBX's security log."""
    conf = tmp / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    shutil.copy(JAIL, conf / "jail.d" / JAIL.name)
    (conf / "jail.d" / "zz-e2e.local").write_text(f"[asterisk]\nlogpath = {log}\n")
    return conf


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def test_ami_is_off(hotline: Hotline) -> None:
    assert re.search(r"Manager \(AMI\):\s+No", hotline.pbx.cli("manager show settings"))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hotline.pbx.ports.ami), timeout=2).close()


@pytest.mark.parametrize("module", ["app_system.so", "func_shell.so"])
def test_shell_modules_are_not_loaded_and_cannot_be_loaded(module: str, hotline: Hotline) -> None:
    assert "0 modules loaded" in hotline.pbx.cli(f"module show like {module[:-3]}")
    settings = hotline.settings
    loaded = httpx.post(f"{hotline.pbx.ari_url}/asterisk/modules/{module}",
                        auth=(settings.ari_user, settings.ari_password.get_secret_value()))
    assert loaded.status_code >= 400, loaded.text
    assert "0 modules loaded" in hotline.pbx.cli(f"module show like {module[:-3]}")


def test_http_server_does_not_state_the_asterisk_version(hotline: Hotline) -> None:
    settings = hotline.settings
    answer = httpx.get(f"{hotline.pbx.ari_url}/asterisk/info",
                       auth=(settings.ari_user, settings.ari_password.get_secret_value()))
    missing = httpx.get(f"http://127.0.0.1:{hotline.pbx.ports.http}/nothing-here")
    for r in (answer, missing):
        assert not re.search(r"\d+\.\d+", r.headers.get("server", "")), r.headers
        assert "Asterisk/" not in r.text


def test_call_media_is_bound_to_the_configured_address_only(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
) -> None:
    branch = hotline.config.branch(1)
    assert branch is not None
    desk = desk_bank.for_branch(1)[branch.desks[0]]
    call = answer_hotline(sip, caller, hotline)
    call.send_digits("1")
    sip.wait_until(lambda: any(c.confirmed for c in desk.calls), 15, "the desk to answer")

    ports = hotline.pbx.ports

    def rtp() -> list[tuple[str, int]]:
        return [(addr, port) for addr, port in _udp_sockets_of(hotline)
                if ports.rtp_start <= port <= ports.rtp_end]

    # RTP + RTCP of the caller's leg and of the desk's (the desk's may still be opening).
    sip.wait_until(lambda: len(rtp()) >= 4, 10, f"both legs' RTP sockets (now {rtp()})")
    assert {addr for addr, _ in rtp()} == {"127.0.0.1"}, rtp()
    call.hangup_now()


def _udp_sockets_of(hotline: Hotline) -> list[tuple[str, int]]:
    """(address, port) of every UDP socket Asterisk holds, IPv4 and IPv6 (/proc: no tool
    or privilege needed; a socket bound to "::" listens on every IPv4 address too)."""
    pid = hotline.pbx.pid
    assert pid is not None
    inodes = {m[1] for fd in Path(f"/proc/{pid}/fd").iterdir()
              if (m := re.fullmatch(r"socket:\[(\d+)\]", _readlink(fd)))}
    found = []
    for table, family in (("udp", socket.AF_INET), ("udp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                hex_addr, hex_port = fields[1].split(":")
                raw = bytes.fromhex(hex_addr)  # host-order 32-bit words
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def _readlink(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except FileNotFoundError:  # closed since the directory was listed
        return ""
