"""The running configuration, swapped atomically when the YAML changes.

New calls take `holder()` at their start; calls in progress keep the config
they started with. A file that does not validate is refused with the same
messages `hotline config check` prints, and the previous config stays in force.
A valid file is first applied to Asterisk (`apply`: generated endpoints and
dialplan written, prompts rebuilt, modules reloaded, which leaves calls in
progress alone), then swapped in. Every attempt, with the file's SHA-256, is
logged and handed to `record` (the call log's reload history).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from calllog.model import ConfigReload
from routing.clock import Clock
from routing.config import ConfigError, HotlineConfig, load_config

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    status: Literal["applied", "refused", "unchanged"]
    sha256: str
    problems: tuple[str, ...] = ()
    pbx_error: str | None = None
    """Applying to Asterisk failed (the config still took effect for new calls)."""


ApplyToPbx = Callable[[HotlineConfig], Awaitable[None]]
RecordReload = Callable[[ConfigReload], Awaitable[None]]


async def _nothing_to_apply(config: HotlineConfig) -> None:
    return None


async def _nothing_to_record(reload: ConfigReload) -> None:
    return None


class ConfigHolder:
    def __init__(
        self,
        path: Path,
        config: HotlineConfig,
        *,
        clock: Clock,
        apply: ApplyToPbx = _nothing_to_apply,
        record: RecordReload = _nothing_to_record,
    ) -> None:
        self.path = path
        self._config = config
        self._clock = clock
        self._sha256 = _digest(path)
        self._apply = apply
        self._record = record
        self._lock = asyncio.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self) -> HotlineConfig:
        return self._config

    async def reload(self) -> ReloadResult:
        async with self._lock:  # SIGHUP during a poll: one reload at a time
            result = await self._reload()
        if result.status != "unchanged":
            try:
                await self._record(ConfigReload(
                    at=self._clock.now(), file=str(self.path), sha256=result.sha256,
                    status=result.status, problems="\n".join(result.problems),
                    pbx_error=result.pbx_error,
                ))
            except Exception:
                log.exception("could not record the reload", sha256=result.sha256)
        return result

    async def _reload(self) -> ReloadResult:
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
        pbx_error = None
        try:
            await self._apply(config)
        except Exception as exc:
            pbx_error = f"{type(exc).__name__}: {exc}"
            log.exception("config not applied to Asterisk; new calls use it anyway",
                          sha256=sha256)
        self._config, self._sha256 = config, sha256
        self.counts["applied"] += 1
        log.info("config applied to new calls", file=str(self.path), sha256=sha256,
                 branches=len(config.branches), desks=len(config.desks))
        return ReloadResult("applied", sha256, pbx_error=pbx_error)

    def reload_soon(self) -> None:
        """For a signal handler: reload in the background."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._pending = task  # keep a reference until it is done

    async def watch(self, interval: float = 2.0) -> None:
        """Poll the file and reload on change (no inotify dependency; cheap at 2 s)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except Exception:  # never stop watching: the next edit may fix it
                log.exception("config reload failed", file=str(self.path))


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"
