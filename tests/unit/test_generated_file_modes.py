"""Generated files that hold secrets are created private, never narrowed afterwards:
`pjsip_desks.conf` (every desk's and station's SIP password, also as written by
`hotline asterisk-config --out`) and the embedded PBX's `ari.conf`/`manager.conf`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialplan.generate import write_asterisk_config
from hotline.pbx import EmbeddedAsterisk, PbxCredentials, PbxPorts
from routing.config import load_config
from tests.filemodes import born_private, mode

__all__ = ["born_private"]

CONFIG = load_config("config/hotline.yaml")
ASTERISK_CONF = Path(__file__).resolve().parents[2] / "asterisk-conf"


@pytest.mark.usefixtures("born_private")
def test_desk_passwords_are_written_to_a_file_other_users_cannot_read(tmp_path: Path) -> None:
    changed = write_asterisk_config(CONFIG, "s3cret", tmp_path, "/s")

    assert {p.name for p in changed} == {"pjsip_desks.conf", "extensions.conf"}
    assert mode(tmp_path / "pjsip_desks.conf") == 0o640  # Asterisk may read it as a group
    assert mode(tmp_path / "extensions.conf") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extensions.conf", "pjsip_desks.conf"]


@pytest.mark.usefixtures("born_private")
def test_a_rewritten_desk_file_is_private_even_if_the_old_one_was_not(tmp_path: Path) -> None:
    old = tmp_path / "pjsip_desks.conf"
    old.write_text("; from an older version\n", encoding="utf-8")
    assert mode(old) == 0o666

    write_asterisk_config(CONFIG, "s3cret", tmp_path, "/s")

    assert mode(old) == 0o640
    assert "password = " in old.read_text(encoding="utf-8")


@pytest.mark.usefixtures("born_private")
def test_embedded_pbx_credentials_are_created_private(tmp_path: Path) -> None:
    root = tmp_path / "chroot"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").touch()
    (root / "etc").mkdir()
    (root / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    pbx = EmbeddedAsterisk(
        root=root, name="t", conf_src=ASTERISK_CONF,
        ports=PbxPorts(sip=5060, http=8088, ami=5038, rtp_start=10000, rtp_end=10199),
        credentials=PbxCredentials("ari", "ari-pw", "ami", "ami-pw"),
    )

    pbx.prepare()

    assert "ari-pw" in (pbx.etc_dir / "ari.conf").read_text(encoding="utf-8")
    assert mode(pbx.etc_dir / "ari.conf") == 0o600
    assert mode(pbx.etc_dir / "manager.conf") == 0o600
    assert mode(pbx.etc_dir / "pjsip_desks.conf") == 0o600
    assert mode(pbx.cel_db) == 0o600
