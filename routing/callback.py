"""Calling a citizen back through the outgoing trunk: to which numbers, and what next.

A caller id is whatever the caller's side sent, so a number is dialled only when it
is a national number the YAML allows (`callback.allowed`: Vietnamese mobiles and
landlines by default). `+84`/`84` forms are read as the national `0...` number; an
international (`00...`) number, anything with a character other than a digit, or a
number that is not a single `0` and 10-11 digits (premium 1900/1800, short codes, wrong
lengths: whatever the patterns say) or that no pattern matches is refused with a reason
the operator reads on the call-back list.

After each try at the citizen, `after_attempt` says whether to try again (and when)
or to leave the call back on the list. Pure: no I/O, times are parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

MOBILE: Final = r"0[35789][0-9]{8}"
"""Vietnamese mobiles: 03x, 05x, 07x, 08x, 09x, 10 digits."""
LANDLINE: Final = r"02[0-9]{9}"
"""Vietnamese landlines since 2017: 02 + area code + subscriber, 11 digits."""
DEFAULT_ALLOWED: Final = (MOBILE, LANDLINE)
MAX_DIGITS: Final = 15
"""E.164's longest: longer input is refused before any pattern sees it."""
NATIONAL_LENGTHS: Final = range(10, 12)
"""A national number the service dials has 10 or 11 digits and starts with a single `0`,
whatever the patterns say: no admin's pattern can open premium 1900/1800 numbers,
short codes (113, 114, 115) or international numbers."""
PROBE_NUMBERS: Final = ("19001234", "1900123456", "18001234", "113", "0", "0123",
                        "0912345678999")
"""Numbers no `callback.allowed` pattern may match (checked when the config loads)."""
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Verdict:
    """Whether `number` may be dialled; `reason` (Vietnamese, for the operator) when not."""

    number: str
    """The number as it would be dialled (national form), or as given when refused."""
    allowed: bool
    reason: str = ""


def national(given: str) -> str | None:
    """The national form of `given` (`+84xx`/`84xx` -> `0xx`); None when it is not a
    string of ASCII digits (an optional leading `+`), or is international."""
    plus = given.startswith("+")
    digits = given[1:] if plus else given
    if not _DIGITS.fullmatch(digits) or len(digits) > MAX_DIGITS:
        return None
    if plus:
        return "0" + digits[2:] if digits.startswith("84") else None
    if digits.startswith("00"):
        return None
    if digits.startswith("84") and len(digits) in (11, 12):
        return "0" + digits[2:]
    return digits


def check_number(given: str, allowed: Sequence[str] = DEFAULT_ALLOWED) -> Verdict:
    """May the service call `given` back? Only a national number one of the `allowed`
    patterns matches whole (each a regular expression over the digits)."""
    if not given:
        return Verdict(given, False, "Không có số máy để gọi lại")
    digits = given.removeprefix("+")
    if not _DIGITS.fullmatch(digits) or len(digits) > MAX_DIGITS:
        return Verdict(given, False, "Số máy có ký tự không phải chữ số hoặc quá dài")
    number = national(given)
    if number is None:
        return Verdict(given, False, "Số quốc tế: không gọi lại")
    if number.removeprefix("0").startswith(("1900", "1800")):  # +841900... too
        return Verdict(given, False, "Số dịch vụ 1900/1800: không gọi lại")
    if (not number.startswith("0") or number.startswith("00")
            or len(number) not in NATIONAL_LENGTHS):
        return Verdict(given, False, "Số máy không thuộc dạng số trong nước được phép gọi lại")
    if any(re.fullmatch(pattern, number) for pattern in allowed):
        return Verdict(number, True)
    return Verdict(given, False, "Số máy không thuộc dạng số trong nước được phép gọi lại")


# Q.850 causes of a citizen leg that did not answer -> how it is recorded and whether
# trying again can help.
CitizenResult = Literal["answered", "busy", "no_answer", "unreachable", "wrong_number"]
CAUSE_RESULT: Final[dict[int, CitizenResult]] = {
    16: "no_answer", 17: "busy", 18: "no_answer", 19: "no_answer", 21: "busy",
    1: "wrong_number", 22: "wrong_number", 28: "wrong_number",
}
RESULT_TEXT: Final[dict[CitizenResult, str]] = {
    "answered": "Người dân đã nghe máy",
    "busy": "Máy bận",
    "no_answer": "Không nghe máy",
    "unreachable": "Không liên lạc được",
    "wrong_number": "Số máy không tồn tại",
}


def citizen_result(cause: int | None) -> CitizenResult:
    """Why the citizen's leg ended unanswered, from its Q.850 cause."""
    return CAUSE_RESULT.get(cause or 0, "unreachable")


@dataclass(frozen=True)
class NextStep:
    retry: bool
    at: datetime | None = None
    """When to try again (the call back keeps its place in the queue till then)."""
    reason: str = ""
    """Why it stops (for the operator): after the last try or a number that cannot answer."""


def after_attempt(
    result: CitizenResult, attempts_made: int, *, attempts: int, retry_seconds: int,
    now: datetime,
) -> NextStep:
    """What follows the `attempts_made`-th try at the citizen (1: the first) that ended
    with `result`: another try `retry_seconds` later while fewer than `attempts` were
    made, else stop (the call back stays on the list for an operator)."""
    if result == "answered":
        return NextStep(retry=False, reason=RESULT_TEXT[result])
    if result == "wrong_number":
        return NextStep(retry=False, reason=RESULT_TEXT[result])
    if attempts_made >= attempts:
        return NextStep(retry=False, reason=f"{RESULT_TEXT[result]} sau {attempts_made} lần "
                        "gọi lại tự động")
    return NextStep(retry=True, at=now + timedelta(seconds=retry_seconds))


def desk_display(number: str) -> str:
    """What the desk phone shows while it rings for a call back."""
    return f"Gọi lại: {number}"
