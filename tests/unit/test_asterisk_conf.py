"""The shipped Asterisk configuration and what the embedded PBX makes of it (issue 14).
The e2e tests (tests/e2e/test_pbx_exposure.py) show the same against a running PBX."""

from __future__ import annotations

import re
from pathlib import Path

from dialplan.generate import render_pjsip_desks
from hotline.pbx import EmbeddedAsterisk, PbxCredentials, PbxPorts
from routing.config import load_config

SYSTEM_MODULES_DIR = "/usr/lib/aarch64-linux-gnu/asterisk/modules"
"""Any multiarch triplet: the link targets follow the chroot's."""

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "asterisk-conf"
CONFIG = load_config(REPO / "config" / "hotline.yaml")


def _sections(text: str) -> list[tuple[str, str]]:
    """(header line such as "[1101](hotline-media)", body) of every section, in order
    (an endpoint and its aor share a name)."""
    parts = re.split(r"^(\[[^\]]+\](?:\([^)]*\))?)[ \t]*$", text, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def test_every_generated_endpoint_takes_its_media_address_from_the_shipped_template() -> None:
    endpoints = [head for head, body in _sections(render_pjsip_desks(CONFIG, "s"))
                 if re.search(r"^type = endpoint$", body, re.MULTILINE)]
    assert len(endpoints) == len(CONFIG.desks) + len(CONFIG.stations)
    assert all(head.endswith("(hotline-media)") for head in endpoints), endpoints
    template = dict(_sections((CONF / "pjsip.conf").read_text()))["[hotline-media](!)"]
    assert re.search(r"^media_address = \S+$", template, re.MULTILINE)
    assert re.search(r"^bind_rtp_to_media_address = yes$", template, re.MULTILINE)


def test_no_catch_all_endpoint_takes_unidentified_requests() -> None:
    pjsip = (CONF / "pjsip.conf").read_text()
    order = re.search(r"^endpoint_identifier_order = (.+)$", pjsip, re.MULTILINE)
    assert order is not None and order[1].split(",") == ["ip", "username"]
    assert "identifier_anonymous" not in (CONF / "modules.conf").read_text()
    trunk = dict(_sections(pjsip))["[trunk-identify]"]
    assert re.search(r"^endpoint = trunk$", trunk, re.MULTILINE)


def test_embedded_pbx_module_directory_holds_only_the_modules_conf_list(tmp_path: Path) -> None:
    root = tmp_path / "chroot"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").touch()
    (root / "etc").mkdir()
    (root / SYSTEM_MODULES_DIR.lstrip("/")).mkdir(parents=True)
    pbx = EmbeddedAsterisk(
        root=root, name="t", conf_src=CONF, ports=PbxPorts(5060, 8088, 5038, 10000, 10199),
        credentials=PbxCredentials("a", "b", "c", "d"),
    )
    stale = pbx.host_dir / "modules" / "app_system.so"
    stale.parent.mkdir(parents=True)
    stale.symlink_to(f"{SYSTEM_MODULES_DIR}/app_system.so")

    pbx.prepare()

    listed = set(re.findall(r"^load => (\S+)$", (CONF / "modules.conf").read_text(), re.MULTILINE))
    links = {p.name: str(p.readlink()) for p in (pbx.host_dir / "modules").iterdir()}
    assert set(links) == listed
    assert all(target == f"{SYSTEM_MODULES_DIR}/{name}" for name, target in links.items())
    assert "astmoddir => /var/lib/hotline/t/modules" in (pbx.etc_dir / "asterisk.conf").read_text()
