"""The measures every figure uses: nearest-rank percentiles, ratios, whole seconds.
Pure; `reports.figures` states their definitions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from fractions import Fraction

MEDIAN = Fraction(1, 2)
P90 = Fraction(9, 10)


def rank(histogram: Mapping[int, int], p: Fraction) -> int | None:
    """The p-th percentile, nearest rank, of the values `histogram` counts (value -> n):
    the value at rank ceil(p * n) in sorted order; None if it counts none."""
    if not 0 < p <= 1:
        raise ValueError(f"percentile must be in (0, 1], got {p}")
    wanted, seen = math.ceil(p * sum(histogram.values())), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted and seen:
            return value
    return None


def ratio(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    """`end - start` in whole seconds, rounded down, 0 if negative; None without both."""
    if start is None or end is None:
        return None
    return max(0, (end - start) // timedelta(seconds=1))
