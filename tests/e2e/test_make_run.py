"""`make run` as a user runs it: `hotline serve --embedded` starts the embedded Asterisk,
the service and the console (a child process), prints the banner, and stops all three
on a signal, leaving no process behind.

Its own PBX instance (`HOTLINE_PBX_INSTANCE`) on free loopback ports, a temp var
directory with SQLite and a secrets file made by `hotline secrets init`, as `make run`
does: it runs beside the e2e session's PBX (or a developer's `make run`) without
touching it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hotline.pbx import PbxPorts
from tests.e2e.conftest import REPO, e2e_config

pytestmark = pytest.mark.e2e
START_SECONDS = 120.0
STOP_SECONDS = 60.0
ASTERISK_ROOT = Path(
    os.environ.get("HOTLINE_ASTERISK_ROOT", "~/.cache/hotline/asterisk-sid")).expanduser()


def _free_tcp_port() -> int:
    return PbxPorts.free().http


def _children(pid: int) -> set[int]:
    """The live child processes of `pid` (from /proc: every thread's children)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:  # the thread or the process ended meanwhile
            continue
    return found


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def _wait_for(check: Callable[[], bool], seconds: float, what: str,
              proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            pytest.fail(f"hotline serve --embedded exited ({proc.returncode}) before "
                        f"{what}:\n{log.read_text(errors='replace')[-6000:]}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {seconds:.0f} s:\n{log.read_text(errors='replace')[-6000:]}")


@pytest.fixture
def run_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a `make run` on free ports, in `tmp_path`, with its own PBX
    instance (removed afterwards)."""
    ports = PbxPorts.free()
    instance = f"e2e-make-run-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({  # nothing of a developer's own settings leaks in
        "HOTLINE_SECRETS_FILE": str(tmp_path / "secrets.env"),
        "HOTLINE_CONFIG": str(e2e_config(REPO / "config" / "hotline.yaml",
                                         tmp_path / "hotline.yaml")),
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'var' / 'hotline.db'}",
        "HOTLINE_SPOOL_DIR": str(tmp_path / "var" / "spool"),
        "HOTLINE_PROMPT_OVERRIDES": str(tmp_path / "no-overrides"),
        "HOTLINE_ASTERISK_ROOT": str(ASTERISK_ROOT),
        "HOTLINE_PBX_INSTANCE": instance,
        "HOTLINE_SIP_PORT": str(ports.sip),
        "HOTLINE_HTTP_PORT": str(ports.http),
        "HOTLINE_AMI_PORT": str(ports.ami),
        "HOTLINE_RTP_START": str(ports.rtp_start),
        "HOTLINE_RTP_END": str(ports.rtp_end),
        "HOTLINE_HEALTH_PORT": str(_free_tcp_port()),
        "HOTLINE_CONSOLE_HOST": "127.0.0.1",
        "HOTLINE_CONSOLE_PORT": str(_free_tcp_port()),
    })
    (tmp_path / "var").mkdir()
    try:
        yield env
    finally:
        shutil.rmtree(ASTERISK_ROOT / "var/lib/hotline" / instance, ignore_errors=True)


def test_make_run_starts_the_console_and_a_signal_stops_every_process(
    run_env: dict[str, str], tmp_path: Path,
) -> None:
    _make_run(run_env, tmp_path, signal_when_ready=True)


def test_a_signal_while_the_service_is_still_starting_stops_every_process(
    run_env: dict[str, str], tmp_path: Path,
) -> None:
    """SIGTERM as soon as the banner is out: before the service's loop takes the signal."""
    _make_run(run_env, tmp_path, signal_when_ready=False)


def _make_run(run_env: dict[str, str], tmp_path: Path, *, signal_when_ready: bool) -> None:
    hotline = [sys.executable, "-m", "hotline.cli"]
    made = subprocess.run([*hotline, "secrets", "init"], env=run_env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    out, log = tmp_path / "banner.txt", tmp_path / "serve.log"
    with out.open("wb") as stdout, log.open("wb") as stderr:
        serve = subprocess.Popen([*hotline, "serve", "--embedded"], env=run_env, cwd=REPO,
                                 stdout=stdout, stderr=stderr)
    consoles: list[int] = []
    asterisks: list[int] = []
    console_url = f"http://127.0.0.1:{run_env['HOTLINE_CONSOLE_PORT']}/"
    ready_url = f"http://127.0.0.1:{run_env['HOTLINE_HEALTH_PORT']}/readyz"
    try:
        _wait_for(lambda: "console        :" in out.read_text(errors="replace"),
                  START_SECONDS, "banner", serve, log)
        banner = out.read_text()
        assert f"console        : {console_url}" in banner
        assert "first admin: `hotline users add admin --role admin`" in banner
        assert f"127.0.0.1:{run_env['HOTLINE_SIP_PORT']}" in banner

        children = _children(serve.pid)
        consoles = [p for p in children if "hotline.cli console" in _cmdline(p)]
        asterisks = [p for p in children if "asterisk" in _cmdline(p)]
        assert len(consoles) == 1 and len(asterisks) == 1, {p: _cmdline(p) for p in children}
        if signal_when_ready:
            _wait_for(lambda: answers(console_url + "login"), START_SECONDS, "console",
                      serve, log)
            _wait_for(lambda: answers(ready_url), START_SECONDS, "ready service", serve, log)
            page = httpx.get(console_url, follow_redirects=True, timeout=5.0)
            assert page.status_code == 200
            assert str(page.url) == console_url + "login"
            assert '<html lang="vi">' in page.text
            assert "Đăng nhập" in page.text and "Tên đăng nhập" in page.text

        serve.send_signal(signal.SIGTERM)  # as `kill` or systemd would; Ctrl-C is SIGINT
        # 0 once the service's loop has the signal; 128 + SIGTERM before it does
        assert serve.wait(STOP_SECONDS) in (0, 128 + signal.SIGTERM), (
            log.read_text(errors="replace")[-6000:])
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        leftovers = {p: _cmdline(p) for p in [*consoles, *asterisks] if _alive(p)}
        for pid in leftovers:  # never leave them running for the next tests
            os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"left running after hotline serve stopped: {leftovers}"
    assert not answers(console_url + "login")
