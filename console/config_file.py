"""A new YAML for the hotline, as an admin uploads it: checked, then written in one step.

`check` runs the same validation as `hotline config check` (`routing.config`): every
problem as `file:line field: message`. `write_atomically` replaces the configured file
the way the service's reload expects a change to land: a temporary file in the same
directory, written and fsync'ed, given the old file's mode, then renamed over it (and
the directory fsync'ed), so a reader sees either the old file or the new one, never a
half-written one. The service (hotline/reload.py) then picks it up through its normal
reload, and records its verdict in the reload list.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path, PurePath

from routing.config import ConfigError, HotlineConfig, config_from_bytes

NEW_FILE_MODE = 0o640
"""The mode of a configuration file written where none was (it names desks and staff)."""


@dataclass(frozen=True)
class Checked:
    """An uploaded file and what `config check` says of it."""

    name: str
    data: bytes
    config: HotlineConfig | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.config is not None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def check(data: bytes, name: str) -> Checked:
    """The file's problems as `hotline config check` prints them (named after `name`)."""
    shown = PurePath(name.replace("\\", "/")).name or "hotline.yaml"
    try:
        config = config_from_bytes(data, Path(shown))
    except ConfigError as exc:
        return Checked(shown, data, None, tuple(exc.problems))
    return Checked(shown, data, config, ())


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one rename, keeping the old file's permission bits
    (`NEW_FILE_MODE` for a new file)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Born with the old file's mode, never wider. Only if the umask narrowed it (a 0660
    # file under umask 022) is it set back to that mode, before a byte is written.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
