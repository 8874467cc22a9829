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
    public = contexts(render_extensions(CONFIG, "/s/connecting"))["hotline-public"]
    extens = {line.split("=>")[1].split(",")[0].strip() for line in public
              if line.startswith("exten")}
    assert extens == {CONFIG.hotline.number, "i", "_[0-9*#+]."}
    catch_all = [line for line in public if "_[0-9*#+]." in line]
    assert catch_all == ["exten => _[0-9*#+].,1,Hangup(1)"]
    assert not any("Dial(" in line for line in public)


def test_desks_and_stations_reach_each_other_and_the_hotline_only() -> None:
    ctx = contexts(render_extensions(CONFIG, "/s/connecting"))
    assert ctx["hotline-desks"] == ["include => hotline-internal"]
    assert ctx["hotline-stations"] == ["include => hotline-internal"]
    dials = {m.group(1) for line in ctx["hotline-internal"]
             if (m := re.search(r"Dial\(PJSIP/(\d+),", line))}
    internal = {d.extension for d in CONFIG.desks} | {s.extension for s in CONFIG.stations}
    assert dials == internal
    assert not any(re.search(r"Dial\((?!PJSIP/\d+,)", line) for line in ctx["hotline-internal"])


def test_fallback_rings_the_general_desks_when_the_app_is_down() -> None:
    fallback = contexts(render_extensions(CONFIG, "/s/connecting"))["hotline-fallback"]
    assert "same => n,Dial(PJSIP/1901&PJSIP/1902,60)" in fallback


def test_every_desk_and_station_gets_its_own_derived_password() -> None:
    text = render_pjsip_desks(CONFIG, "site-secret")
    passwords = re.findall(r"^password = (\w+)$", text, flags=re.M)
    assert len(passwords) == len(CONFIG.desks) + len(CONFIG.stations) == len(set(passwords))
    assert desk_password("site-secret", "1101") in passwords
    assert desk_password("other-secret", "1101") not in passwords
    assert "context = hotline-stations" in text and "context = hotline-desks" in text
