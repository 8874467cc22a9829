"""Checking that a file holding secrets or personal data is born private.

`born_private` (a fixture: `from tests.filemodes import born_private`) clears the
umask, so a file created without an explicit mode comes out world-readable (0666),
and makes every chmod fail: a file that ends up 0600 under it was created 0600, not
created readable and narrowed afterwards.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def born_private(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"chmod after creation: {args}")

    for name in ("chmod", "fchmod", "lchmod"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(Path, "chmod", refuse)
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
