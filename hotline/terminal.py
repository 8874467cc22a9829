"""Text from the call log made safe to print on an operator's terminal.

Caller names, agencies, categories and notes come from outside (a phone's caller id, a
Zalo message, what a desk typed): an escape sequence in one can clear the screen, retitle
the window or hide text, a bidi override can show a number backwards. `printable` turns
every such character into its visible escape (`\\x1b`, `\\u202e`) so the operator sees
that it is there and the terminal does nothing with it; `table` lays rows out with it.
Every `hotline` printout of stored text goes through one of the two.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Arabic letter mark, LRM/RLM, the embeddings and overrides, the isolates."""
_LINE_BREAKS = frozenset("\u2028\u2029\u0085")


def _unsafe(char: str, keep_newlines: bool) -> bool:
    if char == "\n":
        return not keep_newlines
    return (
        unicodedata.category(char) == "Cc"  # C0, DEL and C1: ESC, CR, BEL, CSI, ...
        or char in _BIDI_CONTROLS
        or char in _LINE_BREAKS
    )


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character (C0, C1 with ESC and CSI, bidi overrides and
    isolates, line separators; newlines too unless `keep_newlines`) written as its escape."""
    return "".join(_escaped(c) if _unsafe(c, keep_newlines) else c for c in text)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, every cell `printable`."""
    cells = [[printable(value) for value in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
