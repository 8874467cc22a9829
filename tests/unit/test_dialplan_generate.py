"""The generated dialplan reaches the hotline, desks and stations, and nothing else."""

from __future__ import annotations

import re

from dialplan.generate import desk_password, render_extensions, render_pjsip_desks
from routing.config import load_config

CONFIG = load_config("config/hotline.yaml")


def contexts(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if m := re.fullmatch(r"\[([\w-]+)\]", line):
            current = m.group(1)
            found[current] = []
        elif line and current:
            found[current].append(line)
    return found


def test_public_callers_reach_only_the_hotline_number() -> None:
    public = contexts(render_extensions(CONFIG, "/s"))["hotline-public"]
    extens = {line.split("=>")[1].split(",")[0].strip() for line in public
              if line.startswith("exten")}
    assert extens == {CONFIG.hotline.number, "i", "_[0-9*#+]."}
    catch_all = [line for line in public if "_[0-9*#+]." in line]
    assert catch_all == ["exten => _[0-9*#+].,1,Hangup(1)"]
    assert not any("Dial(" in line for line in public)


def test_desks_and_stations_reach_each_other_and_the_hotline_only() -> None:
    ctx = contexts(render_extensions(CONFIG, "/s"))
    assert ctx["hotline-desks"][-1] == "include => hotline-internal"
    assert ctx["hotline-stations"] == ["include => hotline-internal"]
    dials = {m.group(1) for line in ctx["hotline-internal"]
             if (m := re.search(r"Dial\(PJSIP/(\d+),", line))}
    internal = {d.extension for d in CONFIG.desks} | {s.extension for s in CONFIG.stations}
    assert dials == internal
    assert not any(re.search(r"Dial\((?!PJSIP/\d+,)", line) for line in ctx["hotline-internal"])


def test_desk_presence_codes_reach_only_our_stasis_app() -> None:
    desks = contexts(render_extensions(CONFIG, "/s"))["hotline-desks"][:-1]
    assert desks == [
        "exten => *45,1,Stasis(hotline,presence,login)", "same => n,Hangup()",
        "exten => *46,1,Stasis(hotline,presence,pause)", "same => n,Hangup()",
        "exten => _*46X,1,Stasis(hotline,presence,pause,${EXTEN:3})", "same => n,Hangup()",
    ]


def test_presence_codes_follow_the_yaml() -> None:
    data = CONFIG.model_dump(mode="json")
    data["presence"] = {"login_code": "*71", "pause_code": "*720"}
    desks = contexts(render_extensions(type(CONFIG).model_validate(data), "/s"))["hotline-desks"]
    assert "exten => *71,1,Stasis(hotline,presence,login)" in desks
    assert "exten => _*720X,1,Stasis(hotline,presence,pause,${EXTEN:4})" in desks


def test_fallback_ivr_rings_each_branch_desks_in_the_configured_order() -> None:
    branches = contexts(render_extensions(CONFIG, "/s"))["hotline-fallback-branch"]
    for branch in CONFIG.branches:
        lines = [line for line in branches if line.startswith(f"exten => {branch.key},")]
        assert lines == [f"exten => {branch.key},1,CELGenUserEvent(hotline_branch,{branch.key})"]
    dials = [m.groups() for line in branches
             if (m := re.search(r"Dial\(PJSIP/(\d+),(\d+)\)", line))]
    assert dials == [(desk, str(b.ring_timeout_seconds))
                     for b in sorted(CONFIG.branches, key=lambda b: b.key) for desk in b.desks]


def test_fallback_ivr_rings_all_desks_at_once_for_a_ringall_branch() -> None:
    data = CONFIG.model_dump(mode="json")
    data["branches"][0].update(strategy="ringall", desks=["1101", "1102"])
    config = CONFIG.model_validate(data)
    branches = contexts(render_extensions(config, "/s"))["hotline-fallback-branch"]
    assert "same => n,Dial(PJSIP/1101&PJSIP/1102,20)" in branches


def test_fallback_ivr_plays_the_service_prompts_and_follows_the_menu_rules() -> None:
    fallback = contexts(render_extensions(CONFIG, "/s"))["hotline-fallback"]
    assert "same => n,Set(MENU=/s/greeting&/s/menu)" in fallback
    timeout = round(CONFIG.menu.digit_timeout_seconds)
    assert f"same => n,Read(DIGIT,${{MENU}},1,,1,{timeout})" in fallback
    assert f"same => n(again),GotoIf($[${{TRIES}} < {CONFIG.menu.max_attempts}]?menu)" in fallback
    assert (f"same => n,Goto(hotline-fallback-branch,{CONFIG.menu.default_branch},1)"
            in fallback)
    # Nothing but our desks: no Dial in the fallback menu itself.
    assert not any("Dial(" in line for line in fallback)


def test_fallback_ivr_knows_the_hours_holidays_and_make_up_days() -> None:
    ctx = contexts(render_extensions(CONFIG, "/s"))
    hours = ctx["hotline-fallback-hours"]
    assert any("STRFTIME(${EPOCH},Asia/Ho_Chi_Minh,%Y%m%d)" in line for line in hours)
    assert ("same => n(time),ExecIf($[(${HM} >= 0700 & ${HM} < 1130) | "
            "(${HM} >= 1330 & ${HM} < 1700)]?Set(HOTLINE_OPEN=open))") in hours
    assert 'same => n,ExecIf($[${REGEX("^[12345]$" ${WD})} = 0]?Return())' in hours
    holidays = {line.split(",")[0].removeprefix("exten => ")
                for line in ctx["hotline-fallback-holidays"]}
    assert holidays == {f"{h.date:%Y%m%d}" for h in CONFIG.hours.holidays}
    workdays = {line.split(",")[0].removeprefix("exten => ")
                for line in ctx["hotline-fallback-workdays"]}
    assert workdays == {f"{h.date:%Y%m%d}" for h in CONFIG.hours.extra_working_days}


def test_every_desk_and_station_gets_its_own_derived_password() -> None:
    text = render_pjsip_desks(CONFIG, "site-secret")
    passwords = re.findall(r"^password = (\w+)$", text, flags=re.M)
    assert len(passwords) == len(CONFIG.desks) + len(CONFIG.stations) == len(set(passwords))
    assert desk_password("site-secret", "1101") in passwords
    assert desk_password("other-secret", "1101") not in passwords
    assert "context = hotline-stations" in text and "context = hotline-desks" in text
