"""Caller numbers as the call log keeps them, and whether one can be called back.

A caller id is whatever the caller's side sent: `=1+2`, `'%3B--` or 500 nines
reach us as readily as `0939123456`. Only a phone number (an optional `+`, then
3 to 15 ASCII digits, E.164's longest) is stored as the caller's number and
offered for a call back; anything else is stored as `UNKNOWN_CALLER` and the
raw value goes to the call's timeline (`number_as_given`), cut to a sane length.
Pure: the service, the CEL import and the reports use the same rule.
"""

from __future__ import annotations

import re

from calllog.model import Callback

CALLER_NUMBER = re.compile(r"\+?[0-9]{3,15}")
"""Matched whole (`fullmatch`: a `$` would let a trailing newline through)."""
UNKNOWN_CALLER = "unknown"
AS_GIVEN_MAX_LEN = 64
"""How much of an unusable caller id the timeline keeps."""


def stored_caller_number(given: str) -> str:
    """`given` when it is a phone number, else `UNKNOWN_CALLER`."""
    return given if CALLER_NUMBER.fullmatch(given) else UNKNOWN_CALLER


def number_as_given(given: str) -> str:
    """The raw caller id, cut to `AS_GIVEN_MAX_LEN` characters for the timeline."""
    return given[:AS_GIVEN_MAX_LEN]


def callback_for(number: str) -> Callback:
    """What a call not served is owed: a call back, unless there is no number to call."""
    return Callback.PENDING if CALLER_NUMBER.fullmatch(number) else Callback.NO_NUMBER
