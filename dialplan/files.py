"""Writing Asterisk's configuration files: in one step, and private from birth.

A file is written to a temporary file beside it, created with its final mode
(`os.open` with O_CREAT|O_EXCL and the mode: never readable by more than the mode
allows, not even for a moment, and never chmod'ed afterwards), then renamed over the
target, so Asterisk reloading at that moment reads the old file or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600
"""Files holding secrets that only their owner reads (the embedded PBX's ARI/AMI
credentials: that Asterisk runs as the same user)."""
SHARED_WITH_GROUP = 0o640
"""Files holding secrets written for an Asterisk that may run as another user of the
file's group (a setgid `asterisk` config directory): the desks' SIP passwords."""
PUBLIC = 0o644


def write_file(path: Path, text: str, mode: int = PRIVATE) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # left by a process killed mid-write
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
