"""The running configuration, swapped atomically when the YAML changes.

New calls take `holder()` at their start; calls in progress keep the config
they started with. A file that does not validate is refused with the same
messages `hotline config check` prints, and the previous config stays in force.
Every attempt is logged with the file's SHA-256.
(Applying the generated Asterisk config on reload is issue 5's AMI part.)
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from routing.config import ConfigError, HotlineConfig, load_config

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    status: Literal["applied", "refused", "unchanged"]
    sha256: str
    problems: tuple[str, ...] = ()


class ConfigHolder:
    def __init__(self, path: Path, config: HotlineConfig) -> None:
        self.path = path
        self._config = config
        self._sha256 = _digest(path)
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self) -> HotlineConfig:
        return self._config

    def reload(self) -> ReloadResult:
        sha256 = _digest(self.path)
        if sha256 == self._sha256:
            return ReloadResult("unchanged", sha256)
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            log.error("config refused; the previous one stays in force", file=str(self.path),
                      sha256=sha256, problems=exc.problems)
            self._sha256 = sha256  # do not refuse the same bytes every poll
            self.counts["refused"] += 1
            return ReloadResult("refused", sha256, tuple(exc.problems))
        self._config, self._sha256 = config, sha256
        self.counts["applied"] += 1
        log.info("config applied to new calls", file=str(self.path), sha256=sha256,
                 branches=len(config.branches), desks=len(config.desks))
        return ReloadResult("applied", sha256)

    async def watch(self, interval: float = 2.0) -> None:
        """Poll the file and reload on change (no inotify dependency; cheap at 2 s)."""
        while True:
            await asyncio.sleep(interval)
            self.reload()


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"
