"""What may be written into Asterisk's configuration files, and how.

Asterisk's config parser reads a line up to its end or its first unescaped `;`; a
`[` at the start of a line opens a section; in dialplan application arguments `,`
separates arguments, `)` ends them and `${` expands a variable. So a value from the
YAML is never written as it is:

* free text (desk and station names, holiday names) is made into one line
  (`one_line`) and, inside a caller-id, its quotes and `;` are escaped
  (`callerid_name`);
* a value that must be a token (extensions, the hotline number, numbers, dates,
  the time zone, the sounds directory) is checked against what it must look like
  and refused with `UnsafeValue` otherwise (`refuse_unsafe`).

`routing.config` already refuses most of this when the YAML is loaded; this is the
second line, for a model built without validation.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time

from routing.config import HotlineConfig
from routing.hours import WEEKDAYS

EXTENSION = re.compile(r"[0-9]{2,8}")
DIAL_NUMBER = re.compile(r"\+?[0-9]{3,15}")
TIME_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
FEATURE_CODE = re.compile(r"\*[0-9]{2,3}")
SOUNDS_DIR = re.compile(r"/?[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*/?")
TRUNK_NAME = re.compile(r"[a-z][a-z0-9_-]{1,30}")
SIP_CONTACT = re.compile(r"sips?:[A-Za-z0-9.-]+(:[0-9]{1,5})?")
CALLERID_NAME = str.maketrans({'"': "'", "\\": "/", "<": "(", ">": ")", ";": "\\;"})


class UnsafeValue(ValueError):
    """A configuration value cannot be written into Asterisk's files as it is."""


def one_line(text: str) -> str:
    """`text` on one line: every control character or line/paragraph separator is a space."""
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(text)
    )


def comment(text: str) -> str:
    """For after a `;`: anything goes but a line break."""
    return one_line(text)


def callerid_name(text: str) -> str:
    """The name in `callerid = "<name>" <ext>`: one line, no quote or `<>` of its own,
    `;` escaped (Asterisk reads `\\;` as a plain `;`)."""
    return one_line(text).translate(CALLERID_NAME)


def refuse_unsafe(config: HotlineConfig, sounds_dir: str | None = None) -> None:
    """Raise `UnsafeValue` if any value written as a token is not one."""
    _token(config.hotline.number, DIAL_NUMBER, "hotline.number")
    for i, desk in enumerate(config.desks):
        _token(desk.extension, EXTENSION, f"desks[{i}].extension")
    for i, station in enumerate(config.stations):
        _token(station.extension, EXTENSION, f"stations[{i}].extension")
    for i, branch in enumerate(config.branches):
        _integer(branch.key, f"branches[{i}].key")
        _integer(branch.ring_timeout_seconds, f"branches[{i}].ring_timeout_seconds")
        for j, desk_ext in enumerate(branch.desks):
            _token(desk_ext, EXTENSION, f"branches[{i}].desks[{j}]")
    _token(config.presence.login_code, FEATURE_CODE, "presence.login_code")
    _token(config.presence.pause_code, FEATURE_CODE, "presence.pause_code")
    if config.callback.trunk is not None:
        _token(config.callback.trunk, TRUNK_NAME, "callback.trunk")
    if config.callback.contact is not None:
        _token(config.callback.contact, SIP_CONTACT, "callback.contact")
    menu, voicemail = config.menu, config.voicemail
    _integer(menu.max_attempts, "menu.max_attempts")
    if menu.default_branch is not None:
        _integer(menu.default_branch, "menu.default_branch")
    if isinstance(menu.digit_timeout_seconds, bool) or not isinstance(
        menu.digit_timeout_seconds, int | float
    ):
        raise _unsafe("menu.digit_timeout_seconds", menu.digit_timeout_seconds, "a number")
    _integer(voicemail.max_seconds, "voicemail.max_seconds")
    _integer(voicemail.max_silence_seconds, "voicemail.max_silence_seconds")
    hours = config.hours
    _token(hours.timezone, TIME_ZONE, "hours.timezone")
    for day in hours.days:
        if day not in WEEKDAYS:
            raise _unsafe("hours.days", day, "a weekday (mon..sun)")
    for period in hours.periods:
        for moment in (period.start, period.end):
            if not isinstance(moment, time):
                raise _unsafe("hours.periods", moment, "a time of day")
    for field, days in (("holidays", hours.holidays),
                        ("extra_working_days", hours.extra_working_days)):
        for i, holiday in enumerate(days):
            if not isinstance(holiday.date, date):
                raise _unsafe(f"hours.{field}[{i}].date", holiday.date, "a date")
    if sounds_dir is not None:
        _token(sounds_dir, SOUNDS_DIR, "the sounds directory")


def _token(value: object, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise _unsafe(what, value, f"to match {pattern.pattern}")


def _integer(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _unsafe(what, value, "a whole number")


def _unsafe(what: str, value: object, expected: str) -> UnsafeValue:
    return UnsafeValue(
        f"{what} {value!r} cannot be written into Asterisk's configuration "
        f"(expected {expected})"
    )
