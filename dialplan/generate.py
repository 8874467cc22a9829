"""What Asterisk itself runs, generated from the same YAML the service reads.

* ``pjsip_desks.conf``: one endpoint/aor/auth per desk phone and per station. Passwords are
  derived from a secret kept outside the repository (see `desk_password`), so
  nothing secret is committed and the admin never types one into the YAML.
* ``extensions.conf``: the hotline's dialplan. Public callers land in
  ``hotline-public``, which reaches the Stasis application and, only if the
  application is down (``STASISSTATUS=FAILED``), a static fallback that rings
  the general desk. Desks land in ``hotline-desks``, which reaches desks and the
  hotline number; stations land in ``hotline-stations``, which reaches stations,
  desks and the hotline. Nothing else is dialable: no route leaves the PBX.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from routing.config import HotlineConfig

STASIS_APP = "hotline"
PUBLIC_CONTEXT = "hotline-public"
DESK_CONTEXT = "hotline-desks"
STATION_CONTEXT = "hotline-stations"
FALLBACK_CONTEXT = "hotline-fallback"


def desk_password(secret: str, extension: str) -> str:
    """Per-desk SIP password: HMAC of the extension under the site secret."""
    digest = hmac.new(secret.encode(), f"desk:{extension}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def render_pjsip_desks(config: HotlineConfig, secret: str) -> str:
    blocks = ["; Generated from the hotline YAML by `hotline asterisk-config`. Do not edit.\n"]
    for desk in config.desks:
        blocks.append(_phone(desk.extension, desk.name, DESK_CONTEXT, secret))
    for station in config.stations:
        blocks.append(_phone(station.extension, station.agency, STATION_CONTEXT, secret))
    return "".join(blocks)


def _phone(ext: str, label: str, context: str, secret: str) -> str:
    return f"""
; {label}
[{ext}]
type = endpoint
context = {context}
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
language = vi
auth = {ext}-auth
aors = {ext}
callerid = "{_quote(label)}" <{ext}>
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
direct_media = no

[{ext}-auth]
type = auth
auth_type = userpass
username = {ext}
password = {desk_password(secret, ext)}

[{ext}]
type = aor
max_contacts = 1
remove_existing = yes
qualify_frequency = 0
"""


def render_extensions(config: HotlineConfig, fallback_sound: str) -> str:
    number = config.hotline.number
    general = config.branch(9) or config.branches[-1]
    fallback_dial = "&".join(f"PJSIP/{ext}" for ext in general.desks)
    internal = [d.extension for d in config.desks] + [s.extension for s in config.stations]
    internal_lines = "\n".join(
        f"exten => {ext},1,Dial(PJSIP/{ext},60)\n same => n,Hangup()" for ext in internal
    )
    return f"""; Generated from the hotline YAML by `hotline asterisk-config`. Do not edit.
[general]
static = yes
writeprotect = yes
clearglobalvars = no

[{PUBLIC_CONTEXT}]
exten => {number},1,NoOp(hotline call from ${{CALLERID(num)}})
 same => n,Stasis({STASIS_APP})
 same => n,GotoIf($["${{STASISSTATUS}}" = "FAILED"]?{FALLBACK_CONTEXT},s,1)
 same => n,Hangup()
exten => i,1,Hangup(1)
exten => _[0-9*#+].,1,Hangup(1)

[{FALLBACK_CONTEXT}]
; The application is unreachable: never leave the caller in silence.
exten => s,1,Answer()
 same => n,Playback({fallback_sound})
 same => n,Dial({fallback_dial},60)
 same => n,Hangup()

[hotline-internal]
; Desks and stations: each other and the hotline, nothing else.
exten => {number},1,Goto({PUBLIC_CONTEXT},{number},1)
{internal_lines}
exten => i,1,Hangup(1)
exten => _[0-9*#+].,1,Hangup(1)

[{DESK_CONTEXT}]
include => hotline-internal

[{STATION_CONTEXT}]
include => hotline-internal
"""


def write_asterisk_config(
    config: HotlineConfig, secret: str, out_dir: Path, fallback_sound: str
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "pjsip_desks.conf": render_pjsip_desks(config, secret),
        "extensions.conf": render_extensions(config, fallback_sound),
    }
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _quote(text: str) -> str:
    return text.replace('"', "'")
