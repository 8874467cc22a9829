"""`hotline.terminal.printable`: stored text shown on a terminal, its control characters
as visible escapes; Vietnamese (combining marks included) untouched."""

from __future__ import annotations

import pytest

from hotline.terminal import printable, table


@pytest.mark.parametrize(("text", "shown"), [
    ("Nguyễn Văn Ánh", "Nguyễn Văn Ánh"),
    ("Nguye\u0302\u0303n", "Nguye\u0302\u0303n"),  # decomposed marks stay
    ("\x1b[2Jx", "\\x1b[2Jx"),  # ESC (C0)
    ("\x9b31m", "\\x9b31m"),  # CSI (C1)
    ("a\x00b\x7fc", "a\\x00b\\x7fc"),
    ("\u202eabc\u2066\u200f", "\\u202eabc\\u2066\\u200f"),  # bidi override, isolate, RLM
    ("a\r\nb\tc", "a\\x0d\\x0ab\\x09c"),
    ("a\u2028b", "a\\u2028b"),
])
def test_control_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(shown) == shown  # once is enough


def test_newlines_can_be_kept_for_a_whole_printout() -> None:
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_table_aligns_the_escaped_cells() -> None:
    assert table(("A", "B"), [("\x1b", "x"), ("yyyy", "z")]).splitlines() == [
        "A     B", "\\x1b  x", "yyyy  z"]
