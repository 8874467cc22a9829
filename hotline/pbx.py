"""The embedded PBX: Debian sid's Asterisk 22 run from a debootstrap chroot.

Each instance (the `make run` one, each test session's) lives in its own
directory inside the chroot, with its own configuration rendered from
`asterisk-conf/` plus the files generated from the YAML, its own ports, logs,
spool and prompts. So two instances never collide, and the chroot itself is a
read-mostly cache shared by all checkouts (`scripts/install-asterisk.sh`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from dialplan.files import PRIVATE, PUBLIC, write_file
from ivr.cel import use_wal

log = structlog.get_logger(__name__)

TEMPLATED = ("http.conf", "ari.conf", "manager.conf", "rtp.conf", "pjsip.conf", "asterisk.conf")
READY_POLL_SECONDS = 0.2
SECRET_CONFS = ("ari.conf", "manager.conf", "pjsip_desks.conf")
"""Created readable by their owner only (credentials, SIP passwords)."""
# The embedded PBX's test trunk: public callers (e2e phones, SIPp, a `make run` test
# call) send from this loopback address and are identified by it (pjsip.conf
# [trunk-identify]); desk phones register from 127.0.0.1.
TEST_TRUNK_ADDRESS = "127.0.0.2"
# Where Debian's Asterisk keeps all its ~350 modules (inside the chroot, under the
# machine's multiarch triplet). The instance loads its modules from a directory of its
# own holding only modules.conf's list, so nothing (an ARI `PUT
# /asterisk/modules/func_shell.so`, a CLI `module load`) can add app_system or func_shell
# to a running PBX.
SYSTEM_MODULES_GLOB = "usr/lib/*/asterisk/modules"
LOAD_LINE = re.compile(r"^\s*load\s*=>\s*(\S+\.so)\s*(?:;.*)?$", re.MULTILINE)


class PbxError(Exception):
    """The embedded Asterisk could not be set up or started."""


def sync_hosts_file(root: Path, host_file: Path = Path("/etc/hosts")) -> None:
    """Give the chroot the host's /etc/hosts, with our hostname in it.

    debootstrap leaves none, so Asterisk's "which address is ours" lookup
    (acl.c `ast_find_ourip`, done for every outgoing RTP session) asked DNS for the
    hostname and then for A.ROOT-SERVERS.NET on every call; under load those
    lookups took seconds and held the channel threads (the load benchmark's
    dialplan flow failed at 10 calls/s with DTMF -> desk INVITE p50 8.8 s).
    """
    text = host_file.read_text(encoding="utf-8") if host_file.is_file() else ""
    lines = text.splitlines()
    names = {name for line in lines for name in line.split("#", 1)[0].split()[1:]}
    wanted = [f"127.0.0.1 {name}" for name in ("localhost", socket.gethostname())
              if name not in names]
    text = "\n".join([*lines, *wanted]) + "\n"
    target = root / "etc" / "hosts"
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        return
    tmp = target.with_name(f".hosts.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)


@dataclass(frozen=True)
class PbxPorts:
    sip: int
    http: int
    ami: int
    rtp_start: int
    rtp_end: int

    @classmethod
    def free(cls) -> PbxPorts:
        """Free loopback ports chosen by the kernel (RTP: a random 200-port range)."""
        sip, http, ami = _free_port(socket.SOCK_DGRAM), _free_port(), _free_port()
        rtp = 10000 + (_free_port() % 50) * 200
        return cls(sip=sip, http=http, ami=ami, rtp_start=rtp, rtp_end=rtp + 199)


@dataclass(frozen=True)
class PbxCredentials:
    ari_user: str
    ari_password: str
    ami_user: str
    ami_password: str


class EmbeddedAsterisk:
    def __init__(
        self,
        *,
        root: Path,
        name: str,
        conf_src: Path,
        ports: PbxPorts,
        credentials: PbxCredentials,
    ) -> None:
        if not (root / "usr/sbin/asterisk").exists():
            raise PbxError(f"no Asterisk in {root}: run scripts/install-asterisk.sh first")
        self.root = root
        self.name = name
        self.conf_src = conf_src
        self.ports = ports
        self.credentials = credentials
        self.pbx_dir = f"/var/lib/hotline/{name}"
        self.host_dir = root / self.pbx_dir.lstrip("/")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Asterisk's process id (`chroot` execs asterisk: the same process)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def etc_dir(self) -> Path:
        return self.host_dir / "etc"

    @property
    def cel_db(self) -> Path:
        """Asterisk's CEL trail (cel_sqlite3_custom.conf writes `<astlogdir>/cel.db`)."""
        return self.host_dir / "log" / "cel.db"

    @property
    def sounds_host_dir(self) -> Path:
        return self.host_dir / "sounds"

    @property
    def sounds_pbx_dir(self) -> str:
        return f"{self.pbx_dir}/sounds"

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}/ari"

    @property
    def log_path(self) -> Path:
        return self.host_dir / "log" / "console.log"

    def prepare(self) -> None:
        """Render the base configuration into the instance's etc/ directory."""
        for sub in ("etc", "lib", "spool/recording", "run", "log", "sounds"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        c = self.credentials
        values = {
            "@INSTANCE_DIR@": self.pbx_dir,
            "@SIP_PORT@": str(self.ports.sip),
            "@HTTP_PORT@": str(self.ports.http),
            "@AMI_PORT@": str(self.ports.ami),
            "@RTP_START@": str(self.ports.rtp_start),
            "@RTP_END@": str(self.ports.rtp_end),
            "@TRUNK_ADDRESS@": TEST_TRUNK_ADDRESS,
            "@ARI_USER@": c.ari_user,
            "@ARI_PASSWORD@": c.ari_password,
            "@AMI_USER@": c.ami_user,
            "@AMI_PASSWORD@": c.ami_password,
        }
        for src in sorted(self.conf_src.glob("*.conf")):
            text = src.read_text(encoding="utf-8")
            if src.name in TEMPLATED:
                for key, value in values.items():
                    text = text.replace(key, value)
            write_file(self.etc_dir / src.name, text,
                       PRIVATE if src.name in SECRET_CONFS else PUBLIC)
        for generated in ("pjsip_desks.conf", "extensions.conf"):
            if not (self.etc_dir / generated).exists():
                write_file(self.etc_dir / generated, "",
                           PRIVATE if generated in SECRET_CONFS else PUBLIC)
        # Asterisk's CEL holds callers' numbers: private from birth (SQLite gives its
        # -wal and -shm files the database file's mode).
        os.close(os.open(self.cel_db, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE))
        use_wal(self.cel_db)  # before Asterisk's first CEL write
        sync_hosts_file(self.root)
        self._link_modules()

    def _link_modules(self) -> None:
        """The instance's module directory: links to modules.conf's modules, nothing else."""
        wanted = set(LOAD_LINE.findall((self.conf_src / "modules.conf").read_text("utf-8")))
        modules = self.host_dir / "modules"
        modules.mkdir(exist_ok=True)
        for link in modules.iterdir():
            if link.name not in wanted:
                link.unlink()
        system = next(self.root.glob(SYSTEM_MODULES_GLOB), None)
        if system is None:
            raise PbxError(f"no Asterisk modules under {self.root}/{SYSTEM_MODULES_GLOB}")
        for name in wanted:
            link = modules / name
            if not link.is_symlink():  # resolved inside the chroot
                link.symlink_to(f"/{system.relative_to(self.root)}/{name}")

    def start(self, timeout: float = 60.0) -> None:
        if self._proc is not None:
            raise PbxError("already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        console = self.log_path.open("wb")
        argv = ["chroot", str(self.root), "asterisk", "-C", f"{self.pbx_dir}/etc/asterisk.conf"]
        self._proc = subprocess.Popen(
            [*argv, "-f", "-n", "-q"], stdout=console, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        console.close()
        try:
            self._wait_ready(timeout)
        except PbxError:
            self.stop()
            raise
        log.info("asterisk started", instance=self.name, ari=self.ari_url, sip=self.ports.sip)

    def _wait_ready(self, timeout: float) -> None:
        auth = (self.credentials.ari_user, self.credentials.ari_password)
        for _ in range(max(1, round(timeout / READY_POLL_SECONDS))):  # counted: no clock read
            if self._proc is not None and self._proc.poll() is not None:
                raise PbxError(f"asterisk exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                r = httpx.get(f"{self.ari_url}/asterisk/info", auth=auth, timeout=1.0)
                if r.status_code == 200 and self.fully_booted():
                    return
            except httpx.TransportError:
                pass
            time.sleep(READY_POLL_SECONDS)
        raise PbxError(f"ARI did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def fully_booted(self) -> bool:
        try:
            return "System uptime" in self.cli("core show uptime")
        except PbxError:
            return False

    def cli(self, command: str) -> str:
        argv = ["chroot", str(self.root), "asterisk", "-C", f"{self.pbx_dir}/etc/asterisk.conf"]
        proc = subprocess.run(
            [*argv, "-rx", command], capture_output=True, text=True, timeout=15, check=False
        )
        if proc.returncode != 0:
            raise PbxError(f"asterisk -rx {command!r} failed: {proc.stderr.strip()}")
        return proc.stdout

    def stop(self, timeout: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            self.cli("core stop now")
            proc.wait(timeout=timeout)
        except (PbxError, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("asterisk stopped", instance=self.name)

    def wait(self) -> int:
        if self._proc is None:
            return 0
        return self._proc.wait()

    def remove(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        texts = []
        for path in (self.log_path, self.host_dir / "log" / "messages.log"):
            if path.is_file():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts) or "(Asterisk wrote no log)"


def _free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
