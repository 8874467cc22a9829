"""Mobile numbers in the form ZNS wants: `84` + the nine digits after the leading 0.

Vietnamese mobile numbers are ten digits starting 03, 05, 07, 08 or 09 (the 2018
renumbering moved the old 01x prefixes there); 02x numbers are landlines (Hậu Giang's
is 0293), which ZNS cannot reach.
"""

from __future__ import annotations

import re

MOBILE_FIRST_DIGITS = frozenset("35789")
_SEPARATORS = re.compile(r"[\s.\-()]")


class NotAMobileNumber(ValueError):
    """The number is not a Vietnamese mobile number (a landline, too short, letters)."""


def normalise_mobile(number: str) -> str:
    """`0912345678`, `+84912345678`, `84912345678`, `091 234 5678` -> `84912345678`."""
    digits = _SEPARATORS.sub("", number)
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("0084"):
        digits = digits[2:]
    if not (digits.isascii() and digits.isdigit()):
        raise NotAMobileNumber("a phone number has digits only")
    if digits.startswith("84") and len(digits) == 11:
        national = digits[2:]
    elif digits.startswith("0") and len(digits) == 10:
        national = digits[1:]
    else:
        raise NotAMobileNumber("not a 10-digit Vietnamese mobile number")
    if national[0] not in MOBILE_FIRST_DIGITS:
        raise NotAMobileNumber("a landline or unallocated number: ZNS reaches mobiles only")
    return "84" + national
