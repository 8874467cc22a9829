"""Numbers as Vietnamese words, spliced from a few short clips.

A prompt with a number ("vị trí thứ 21", "khoảng 3 phút") is played as a sequence of
clips, each one word synthesised once (`NUMBER_WORDS`), never synthesised per call.
Pure.
"""

from __future__ import annotations

from typing import Final

NUMBER_WORDS: Final[dict[str, str]] = {
    "0": "không", "1": "một", "2": "hai", "3": "ba", "4": "bốn", "5": "năm", "6": "sáu",
    "7": "bảy", "8": "tám", "9": "chín", "10": "mười", "muoi": "mươi", "mot": "mốt",
    "tu": "tư", "lam": "lăm", "tram": "trăm", "linh": "linh", "nhat": "nhất",
}
"""Clip name -> the word it says."""
LARGEST: Final = 999


def number_clips(n: int) -> list[str]:
    """The clip names that say `n` (1..999; larger numbers are said as 999)."""
    n = max(0, min(n, LARGEST))
    if n < 10:
        return [str(n)]
    hundreds, rest = divmod(n, 100)
    clips = [str(hundreds), "tram"] if hundreds else []
    if hundreds and rest == 0:
        return clips
    if hundreds and rest < 10:
        return [*clips, "linh", str(rest)]
    tens, units = divmod(rest, 10)
    if tens == 1:
        clips.append("10")
        if units:
            clips.append("lam" if units == 5 else str(units))
        return clips
    clips += [str(tens), "muoi"]
    if units == 1:
        clips.append("mot")
    elif units == 4:
        clips.append("tu")
    elif units == 5:
        clips.append("lam")
    elif units:
        clips.append(str(units))
    return clips


def ordinal_clips(n: int) -> list[str]:
    """The clips after "thứ": "thứ nhất", "thứ tư", else the number ("thứ hai mươi mốt")."""
    return {1: ["nhat"], 4: ["tu"]}.get(n) or number_clips(n)


def number_text(n: int, *, ordinal: bool = False) -> str:
    """The words of `n` as the clips say them (for logs and tests)."""
    clips = ordinal_clips(n) if ordinal else number_clips(n)
    return " ".join(NUMBER_WORDS[c] for c in clips)
