"""The generated Asterisk files cannot be rewritten from the YAML (defence in depth).

`routing.config` refuses control characters in names, but the generator does not rely
on it: given a model built without validation (`model_copy`, `model_construct`), free
text is escaped so that it stays inside its one line, and a value that must be a token
(an extension, the hotline number, a time zone) is refused rather than written.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dialplan.escape import UnsafeValue
from dialplan.generate import render_extensions, render_pjsip_desks
from routing.config import HotlineConfig, load_config

CONFIG = load_config("config/hotline.yaml")

HOSTILE_TEXTS = [
    "Sở Nội vụ\n\n[9999]\ntype = endpoint\ncontext = hotline-desks\nauth =",
    "Sở Nội vụ\r[9999]\r\ntype = endpoint",
    'Sở "Nội" vụ; [9999] ;-- block comment',
    "Sở Nội vụ\\;\n[9999]",
    "Sở Nội vụ --; ] [ , ${SHELL(rm -rf /)} <9999> \\",
    "Sở\u2028[9999]\u2029type = endpoint\x00\x1b",
    "#include /etc/shadow",
]


def significant_lines(text: str) -> list[str]:
    """The lines Asterisk's config parser acts on: comments (`;` unless escaped as `\\;`,
    and `;-- ... --;` blocks) removed, blank lines dropped."""
    kept: list[str] = []
    in_block = False
    for raw in text.split("\n"):
        line, i = "", 0
        while i < len(raw):
            if in_block:
                if raw.startswith("--;", i):
                    in_block, i = False, i + 3
                else:
                    i += 1
            elif raw[i] == ";" and i > 0 and raw[i - 1] == "\\":  # escaped: a plain ;
                line += raw[i]
                i += 1
            elif raw.startswith(";--", i):
                in_block, i = True, i + 3
            elif raw[i] == ";":
                break
            else:
                line += raw[i]
                i += 1
        if line.strip():
            kept.append(line.strip())
    return kept


def sections(text: str) -> list[str]:
    return [line for line in significant_lines(text) if line.startswith("[")]


def with_desk_name(config: HotlineConfig, name: str) -> HotlineConfig:
    desks = [config.desks[0].model_copy(update={"name": name}), *config.desks[1:]]
    return config.model_copy(update={"desks": desks})


def with_station_agency(config: HotlineConfig, agency: str) -> HotlineConfig:
    stations = [config.stations[0].model_copy(update={"agency": agency}), *config.stations[1:]]
    return config.model_copy(update={"stations": stations})


def with_holiday_name(config: HotlineConfig, name: str) -> HotlineConfig:
    holidays = [config.hours.holidays[0].model_copy(update={"name": name}),
                *config.hours.holidays[1:]]
    workdays = [h.model_copy(update={"name": name}) for h in config.hours.extra_working_days]
    hours = config.hours.model_copy(update={"holidays": holidays,
                                            "extra_working_days": workdays})
    return config.model_copy(update={"hours": hours})


@pytest.mark.parametrize("hostile", HOSTILE_TEXTS)
def test_a_hostile_desk_or_station_name_stays_inside_its_caller_id(hostile: str) -> None:
    clean = significant_lines(render_pjsip_desks(CONFIG, "s"))
    config = with_station_agency(with_desk_name(CONFIG, hostile), hostile)
    text = render_pjsip_desks(config, "s")
    lines = significant_lines(text)
    assert len(lines) == len(clean)
    assert sections(text) == sections(render_pjsip_desks(CONFIG, "s"))
    assert [i for i, (a, b) in enumerate(zip(lines, clean, strict=True)) if a != b] == [
        clean.index(f'callerid = "{CONFIG.desks[0].name}" <{CONFIG.desks[0].extension}>'),
        clean.index(f'callerid = "{CONFIG.stations[0].agency}" '
                    f'<{CONFIG.stations[0].extension}>'),
    ]
    desk_callerid = next(line for line in lines if line.startswith("callerid = ")
                         and line.endswith(f"<{CONFIG.desks[0].extension}>"))
    assert desk_callerid.count('"') == 2 and desk_callerid.startswith('callerid = "')
    assert all(ord(c) >= 0x20 and c not in "\u2028\u2029" for c in text if c != "\n")


@pytest.mark.parametrize("hostile", HOSTILE_TEXTS)
def test_a_hostile_holiday_name_adds_no_line_to_the_dialplan(hostile: str) -> None:
    clean = render_extensions(CONFIG, "/s")
    text = render_extensions(with_holiday_name(CONFIG, hostile), "/s")
    assert significant_lines(text) == significant_lines(clean)
    assert text.count("\n") == clean.count("\n")


def desk_extension(config: HotlineConfig, value: Any) -> HotlineConfig:
    return config.model_copy(update={
        "desks": [config.desks[0].model_copy(update={"extension": value}), *config.desks[1:]]})


def station_extension(config: HotlineConfig, value: Any) -> HotlineConfig:
    return config.model_copy(update={"stations": [
        config.stations[0].model_copy(update={"extension": value}), *config.stations[1:]]})


def branch_desk(config: HotlineConfig, value: Any) -> HotlineConfig:
    branch = config.branches[0].model_copy(update={"desks": [value]})
    return config.model_copy(update={"branches": [branch, *config.branches[1:]]})


def branch_key(config: HotlineConfig, value: Any) -> HotlineConfig:
    branch = config.branches[0].model_copy(update={"key": value})
    return config.model_copy(update={"branches": [branch, *config.branches[1:]]})


def ring_timeout(config: HotlineConfig, value: Any) -> HotlineConfig:
    branch = config.branches[0].model_copy(update={"ring_timeout_seconds": value})
    return config.model_copy(update={"branches": [branch, *config.branches[1:]]})


def hotline_number(config: HotlineConfig, value: Any) -> HotlineConfig:
    return config.model_copy(update={
        "hotline": config.hotline.model_copy(update={"number": value})})


def time_zone(config: HotlineConfig, value: Any) -> HotlineConfig:
    return config.model_copy(update={"hours": config.hours.model_copy(update={"timezone": value})})


def holiday_date(config: HotlineConfig, value: Any) -> HotlineConfig:
    holidays = [config.hours.holidays[0].model_copy(update={"date": value})]
    return config.model_copy(update={
        "hours": config.hours.model_copy(update={"holidays": holidays})})


def max_attempts(config: HotlineConfig, value: Any) -> HotlineConfig:
    return config.model_copy(update={"menu": config.menu.model_copy(
        update={"max_attempts": value})})


HOSTILE_TOKENS = [
    pytest.param(desk_extension, "1101\n[9999]\ntype = endpoint", id="desk-extension"),
    pytest.param(station_extension, "2001;", id="station-extension"),
    pytest.param(branch_desk, "1101,1)\n same => n,Dial(PJSIP/9999", id="branch-desk"),
    pytest.param(branch_desk, "1101&PJSIP/9999", id="branch-desk-ampersand"),
    pytest.param(branch_key, "1,1,Dial(PJSIP/9999)\nexten => 2", id="branch-key"),
    pytest.param(ring_timeout, "20)\n same => n,System(id)", id="ring-timeout"),
    pytest.param(hotline_number, "_X.", id="hotline-number-pattern"),
    pytest.param(hotline_number, "19001080,1,Dial(PJSIP/9999)\nexten => 1", id="hotline-number"),
    pytest.param(time_zone, "Asia/Ho_Chi_Minh,%Y)}\n[9999]", id="time-zone"),
    pytest.param(time_zone, "${SHELL(id)}", id="time-zone-variable"),
    pytest.param(holiday_date, "20260101,1,Dial(PJSIP/9999)\nexten => x", id="holiday-date"),
    pytest.param(max_attempts, "3]?menu)\n same => n,Dial(PJSIP/9999", id="max-attempts"),
]


@pytest.mark.parametrize(("edit", "value"), HOSTILE_TOKENS)
def test_a_value_that_must_be_a_token_is_refused_not_written(edit: Any, value: Any) -> None:
    config = edit(CONFIG, value)
    with pytest.raises(UnsafeValue) as info:
        render_extensions(config, "/s")
        render_pjsip_desks(config, "s")
    assert repr(value)[:20] in str(info.value)


@pytest.mark.parametrize("sounds_dir", ["/s,1)\n[9999]", "/s&/x", "/s dir", "/s${X}"])
def test_a_sounds_directory_that_would_break_an_application_argument_is_refused(
    sounds_dir: str,
) -> None:
    with pytest.raises(UnsafeValue):
        render_extensions(CONFIG, sounds_dir)


def test_the_shipped_config_renders_unchanged_by_the_checks() -> None:
    text = render_pjsip_desks(CONFIG, "s")
    assert f'callerid = "{CONFIG.desks[0].name}" <{CONFIG.desks[0].extension}>' in text
    dialplan = render_extensions(CONFIG, "/var/lib/hotline/sounds")
    first = CONFIG.hours.holidays[0]
    assert f"exten => {first.date:%Y%m%d},1,NoOp() ; {first.name}" in dialplan
    assert isinstance(first.date, datetime.date)
