"""Text fields of the YAML: names on one line, prose that may span lines.

Names (desks, stations, agencies, branches, holidays) are written into Asterisk's
own files (a caller-id, a comment), where a line break starts a new setting or a new
section: a control character there is refused when the file is loaded, with the
field's line. Prose (menu texts) is only ever spoken, so line breaks are allowed in
it, other control characters are not.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

LINE_BREAKS_IN_PROSE = frozenset("\n\t")


def _control_characters(value: str, allowed: frozenset[str] = frozenset()) -> str:
    for position, char in enumerate(value, start=1):
        if char not in allowed and unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            what = "must not contain" if allowed else "must be on one line, without"
            raise ValueError(f"{what} control characters (U+{ord(char):04X} at "
                             f"character {position})")
    return value


def _one_line(value: str) -> str:
    return _control_characters(value)


def _prose(value: str) -> str:
    return _control_characters(value, LINE_BREAKS_IN_PROSE)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                 AfterValidator(_one_line)]
"""A name on one line (it may end up in Asterisk's configuration)."""

Prose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                  AfterValidator(_prose)]
"""A text to be spoken; it may span lines."""
