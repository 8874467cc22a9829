"""What Asterisk itself runs, generated from the same YAML the service reads.

* ``pjsip_desks.conf``: one endpoint/aor/auth per desk phone and per station. Passwords are
  derived from a secret kept outside the repository (see `desk_password`), so
  nothing secret is committed and the admin never types one into the YAML. Endpoints
  inherit ``[hotline-media]`` (asterisk-conf/pjsip.conf): RTP binds to its address only.
* ``extensions.conf``: the hotline's dialplan. Public callers land in
  ``hotline-public``, which reaches the Stasis application and, only if the
  application is down (``STASISSTATUS=FAILED``), a static fallback that rings
  the general desk. Desks land in ``hotline-desks``, which reaches desks and the
  hotline number; stations land in ``hotline-stations``, which reaches stations,
  desks and the hotline. Nothing else is dialable: no route leaves the PBX. The
  call-back trunk (``callback.trunk``) is dialled by the service alone, through ARI;
  its own context, ``hotline-callback-trunk``, only hangs up.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from datetime import time
from pathlib import Path

from dialplan.escape import callerid_name, comment, refuse_unsafe
from dialplan.files import PUBLIC, SHARED_WITH_GROUP, write_file
from routing.config import HotlineConfig
from routing.hours import WEEKDAYS
from routing.trail import (
    BRANCH_CONTEXT,
    BRANCH_EVENT,
    CALLBACK_TRUNK_CONTEXT,
    CLOSED_EVENT,
    DESK_CONTEXT,
    FALLBACK_CONTEXT,
    FALLBACK_EVENT,
    HOLIDAY_CONTEXT,
    HOURS_CONTEXT,
    MESSAGE_EVENT,
    NO_SELECTION_EVENT,
    PRESENCE_ARG,
    PUBLIC_CONTEXT,
    RECORDING_PREFIX,
    STATION_CONTEXT,
    UNREACHABLE_EVENT,
    WORKDAY_CONTEXT,
)

STASIS_APP = "hotline"


def desk_password(secret: str, extension: str) -> str:
    """Per-desk SIP password: HMAC of the extension under the site secret."""
    digest = hmac.new(secret.encode(), f"desk:{extension}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def render_pjsip_desks(config: HotlineConfig, secret: str) -> str:
    refuse_unsafe(config)
    blocks = ["; Generated from the hotline YAML by `hotline asterisk-config`. Do not edit.\n"]
    for desk in config.desks:
        blocks.append(_phone(desk.extension, desk.name, DESK_CONTEXT, secret))
    for station in config.stations:
        blocks.append(_phone(station.extension, station.agency, STATION_CONTEXT, secret))
    if config.callback.trunk is not None:
        blocks.append(_callback_trunk(config, secret))
    return "".join(blocks)


def _callback_trunk(config: HotlineConfig, secret: str) -> str:
    """The outgoing trunk for call-backs. Only the service dials it (ARI originate): no
    dialplan context names it, and what comes in from it reaches a hang-up only. With
    `contact`, the provider's address is fixed; without, the provider registers with
    the trunk's name and its password (derived like a desk's)."""
    name, contact = config.callback.trunk, config.callback.contact
    assert name is not None
    reach = (f"contact = {contact}\n" if contact is not None
             else "max_contacts = 1\nremove_existing = yes\n")
    # With a fixed contact nothing from outside is ever this endpoint's: not identified
    # by user name (`endpoint_identifier_order = ip,username` would give it an INVITE
    # "From: <trunk>@..." from anywhere) and no [identify] (the provider's address may be
    # the public trunk's too). No inbound `auth` either: Asterisk would challenge the
    # provider's in-dialog BYE when the citizen hangs up, and it has no credentials.
    auth = "identify_by = ip\n" if contact is not None else f"""auth = {name}-auth

[{name}-auth]
type = auth
auth_type = userpass
username = {name}
password = {desk_password(secret, name)}
"""
    return f"""
; The call-back trunk (callback.trunk): dialled by the service only.
[{name}](hotline-media)
type = endpoint
context = {CALLBACK_TRUNK_CONTEXT}
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
language = vi
aors = {name}
callerid = "{callerid_name(config.hotline.name)}" <{config.hotline.number}>
rtp_symmetric = yes
direct_media = no
{auth}
[{name}]
type = aor
{reach}qualify_frequency = 0
"""


def _phone(ext: str, label: str, context: str, secret: str) -> str:
    return f"""
; {comment(label)}
[{ext}](hotline-media)
type = endpoint
context = {context}
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
language = vi
auth = {ext}-auth
aors = {ext}
callerid = "{callerid_name(label)}" <{ext}>
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


def render_extensions(config: HotlineConfig, sounds_dir: str) -> str:
    """The dialplan; `sounds_dir` is where Asterisk finds the synthesised prompts."""
    refuse_unsafe(config, sounds_dir)
    number = config.hotline.number
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
{render_fallback(config, sounds_dir)}
[hotline-internal]
; Desks and stations: each other and the hotline, nothing else.
exten => {number},1,Goto({PUBLIC_CONTEXT},{number},1)
{internal_lines}
exten => i,1,Hangup(1)
exten => _[0-9*#+].,1,Hangup(1)

[{DESK_CONTEXT}]
{render_feature_codes(config)}
include => hotline-internal

[{STATION_CONTEXT}]
include => hotline-internal

[{CALLBACK_TRUNK_CONTEXT}]
; Calls from the call-back trunk: nothing to reach (the service dials out through it).
exten => s,1,Hangup(21)
exten => i,1,Hangup(21)
exten => _[0-9*#+].,1,Hangup(21)
"""


def render_feature_codes(config: HotlineConfig) -> str:
    """A desk's presence codes go to the service (log in/out; pause/resume, optionally
    with one reason digit): they reach nothing but our Stasis app."""
    login, pause = config.presence.login_code, config.presence.pause_code
    return f"""; Desk presence: {login} log in/out, {pause} (+ a reason digit) pause/resume.
exten => {login},1,Stasis({STASIS_APP},{PRESENCE_ARG},login)
 same => n,Hangup()
exten => {pause},1,Stasis({STASIS_APP},{PRESENCE_ARG},pause)
 same => n,Hangup()
exten => _{pause}X,1,Stasis({STASIS_APP},{PRESENCE_ARG},pause,${{EXTEN:{len(pause)}}})
 same => n,Hangup()"""


def render_fallback(config: HotlineConfig, sounds_dir: str) -> str:
    """The fallback IVR: the service's menu, hours and desks, run by Asterisk alone.

    Reached when `Stasis()` fails (our process is down) or when the service hands a
    call over. It leaves its trail in CEL (`CELGenUserEvent`, names from `routing.trail`):
    `hotline_fallback`, `hotline_branch,<key>`, `hotline_message,<name>`, ..., which the
    service imports into the call log once it is back (`ivr.cel`). Per-branch hours
    overrides are not applied here: the fallback only uses the hotline's own calendar.
    """
    menu = config.menu
    voicemail = config.voicemail

    def snd(prompt: str) -> str:
        return f"{sounds_dir.rstrip('/')}/{prompt}"

    default = menu.default_branch
    after_retries = (
        f"{BRANCH_CONTEXT},{default},1" if default is not None and config.branch(default)
        else "bye"
    )
    branches = []
    for branch in sorted(config.branches, key=lambda b: b.key):
        if branch.strategy == "ringall":
            dials = [f"Dial({'&'.join(f'PJSIP/{d}' for d in branch.desks)},"
                     f"{branch.ring_timeout_seconds})"]
        else:
            dials = [f"Dial(PJSIP/{d},{branch.ring_timeout_seconds})" for d in branch.desks]
        lines = [
            f"exten => {branch.key},1,CELGenUserEvent({BRANCH_EVENT},{branch.key})",
            f" same => n,Playback({snd('connecting')})",
            *(f" same => n,{dial}" for dial in dials),
            f" same => n,Goto({FALLBACK_CONTEXT},unreachable,1)",
        ]
        branches.append("\n".join(lines))
    branch_lines = "\n".join(branches)
    hours = render_fallback_hours(config)
    timeout = max(1, round(menu.digit_timeout_seconds))
    record_limits = f"{voicemail.max_silence_seconds},{voicemail.max_seconds}"
    return f"""
[{FALLBACK_CONTEXT}]
; The application is unreachable: the same menu and desks, run by Asterisk alone.
exten => s,1,Answer()
 same => n,CELGenUserEvent({FALLBACK_EVENT})
 same => n,Gosub({HOURS_CONTEXT},s,1)
 same => n,GotoIf($["${{HOTLINE_OPEN}}" != "open"]?closed,1)
 same => n,Set(TRIES=0)
 same => n,Set(MENU={snd('greeting')}&{snd('menu')})
 same => n(menu),Set(TRIES=$[${{TRIES}} + 1])
 same => n,Read(DIGIT,${{MENU}},1,,1,{timeout})
 same => n,Set(MENU={snd('menu')})
 same => n,GotoIf($["${{DIGIT}}" = ""]?nodigit)
 same => n,GotoIf($["${{DIGIT}}" = "*"]?again)
 same => n,GotoIf(${{DIALPLAN_EXISTS({BRANCH_CONTEXT},${{DIGIT}},1)}}?{BRANCH_CONTEXT},${{DIGIT}},1)
 same => n,Playback({snd('invalid')})
 same => n(again),GotoIf($[${{TRIES}} < {menu.max_attempts}]?menu)
 same => n,Goto({after_retries})
 same => n(nodigit),Playback({snd('no_input')})
 same => n,Goto(again)
 same => n(bye),CELGenUserEvent({NO_SELECTION_EVENT})
 same => n,Playback({snd('goodbye')})
 same => n,Hangup()
exten => closed,1,CELGenUserEvent({CLOSED_EVENT},${{HOTLINE_OPEN}})
 same => n,Playback({snd('${HOTLINE_OPEN}')})
 same => n,Goto(message,1)
exten => unreachable,1,CELGenUserEvent({UNREACHABLE_EVENT})
 same => n,Playback({snd('desk_unreachable')})
 same => n,Goto(message,1)
exten => message,1,Playback({snd('leave_message')})
 same => n,Set(MESSAGE={RECORDING_PREFIX}${{CUT(UNIQUEID,.,1)}}-${{CUT(UNIQUEID,.,2)}})
 same => n,CELGenUserEvent({MESSAGE_EVENT},${{MESSAGE}})
 same => n,Record(${{ASTSPOOLDIR}}/recording/${{MESSAGE}}.wav,{record_limits})
 same => n,Playback({snd('message_saved')})
 same => n,Hangup()

[{BRANCH_CONTEXT}]
{branch_lines}
{hours}"""


def render_fallback_hours(config: HotlineConfig) -> str:
    """A subroutine setting HOTLINE_OPEN to open, closed or holiday, as `routing.hours`
    decides for the hotline's calendar (days, periods, holidays, make-up days)."""
    cal = config.hours
    tz = cal.timezone
    days = ",".join(str(WEEKDAYS.index(d) + 1) for d in cal.days)
    periods = " | ".join(
        f"(${{HM}} >= {p.start:%H%M} & ${{HM}} < {_hhmm_end(p.end)})" for p in cal.periods
    )
    holidays = "\n".join(
        f"exten => {h.date:%Y%m%d},1,NoOp() ; {comment(h.name)}" for h in cal.holidays
    )
    workdays = "\n".join(
        f"exten => {h.date:%Y%m%d},1,NoOp() ; {comment(h.name)}"
        for h in cal.extra_working_days
    )
    return f"""
[{HOURS_CONTEXT}]
exten => s,1,Set(LOCAL(DAY)=${{STRFTIME(${{EPOCH}},{tz},%Y%m%d)}})
 same => n,Set(LOCAL(HM)=${{STRFTIME(${{EPOCH}},{tz},%H%M)}})
 same => n,Set(LOCAL(WD)=${{STRFTIME(${{EPOCH}},{tz},%u)}})
 same => n,Set(HOTLINE_OPEN=holiday)
 same => n,ExecIf(${{DIALPLAN_EXISTS({HOLIDAY_CONTEXT},${{DAY}},1)}}?Return())
 same => n,Set(HOTLINE_OPEN=closed)
 same => n,GotoIf(${{DIALPLAN_EXISTS({WORKDAY_CONTEXT},${{DAY}},1)}}?time)
 same => n,ExecIf($[${{REGEX("^[{days.replace(',', '')}]$" ${{WD}})}} = 0]?Return())
 same => n(time),ExecIf($[{periods or '0'}]?Set(HOTLINE_OPEN=open))
 same => n,Return()

[{HOLIDAY_CONTEXT}]
{holidays}

[{WORKDAY_CONTEXT}]
{workdays}
"""


def _hhmm_end(end: time) -> str:
    return "2400" if end == time.max else f"{end:%H%M}"


def write_asterisk_config(
    config: HotlineConfig, secret: str, out_dir: Path, sounds_dir: str
) -> list[Path]:
    """Write the generated files into `out_dir`; returns those whose content changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {  # the desks' SIP passwords: owner and Asterisk's group only
        "pjsip_desks.conf": (render_pjsip_desks(config, secret), SHARED_WITH_GROUP),
        "extensions.conf": (render_extensions(config, sounds_dir), PUBLIC),
    }
    changed = []
    for name, (text, mode) in files.items():
        path = out_dir / name
        if (path.is_file() and path.read_text(encoding="utf-8") == text
                and stat.S_IMODE(path.stat().st_mode) & ~mode == 0):
            continue
        # Asterisk may be reading the old file (a reload): replace it in one step.
        write_file(path, text, mode)
        changed.append(path)
    return changed
