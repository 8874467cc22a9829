"""The running configuration, swapped atomically when the YAML changes.

New calls take `holder()` at their start; calls in progress keep the config
they started with. A file that does not validate is refused with the same
messages `hotline config check` prints, and the previous config stays in force.
A valid file is first applied to Asterisk (`apply`: generated endpoints and
dialplan written, prompts rebuilt, modules reloaded, which leaves calls in
progress alone), then swapped in. Every attempt, with the file's SHA-256, is
logged and handed to `record` (the call log's reload history).

The file is read once per attempt: its hash and its config come from the same bytes.
The 2 s poll (`poll`, run by `watch`) takes a change only once the file is stable, the
same bytes, size and modification time at two polls in a row: an editor's save caught
half-way (cut at a line end, it may even validate) is never applied. A signal
(`reload`, SIGHUP: the admin says the file is ready) takes the file at once.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from calllog.model import ConfigReload
from routing.clock import Clock
from routing.config import ConfigError, HotlineConfig, config_from_bytes, unreadable

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    status: Literal["applied", "refused", "unchanged", "settling"]
    """settling: the file changed since the last poll; it is taken once it stays the same."""
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
        self._sha256 = _Snapshot.of(path).sha256
        self._seen: _Snapshot | None = None
        """The file at the last poll, while it differs from the config in force."""
        self._apply = apply
        self._record = record
        self._lock = asyncio.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self) -> HotlineConfig:
        return self._config

    async def reload(self) -> ReloadResult:
        """Take the file as it is now (SIGHUP)."""
        async with self._lock:  # SIGHUP during a poll: one reload at a time
            result = await self._reload(_Snapshot.of(self.path))
        return await self._recorded(result)

    async def poll(self) -> ReloadResult:
        """Take the file once it is the same as at the previous poll."""
        async with self._lock:
            now = _Snapshot.of(self.path)
            if now.sha256 == self._sha256:
                self._seen = None
                return ReloadResult("unchanged", now.sha256)
            if not now.same_as(self._seen):
                self._seen = now
                log.debug("config file changed; waiting for it to settle", sha256=now.sha256)
                return ReloadResult("settling", now.sha256)
            self._seen = None
            result = await self._reload(now)
        return await self._recorded(result)

    async def _recorded(self, result: ReloadResult) -> ReloadResult:
        if result.status in ("applied", "refused"):
            try:
                await self._record(ConfigReload(
                    at=self._clock.now(), file=str(self.path), sha256=result.sha256,
                    status=result.status, problems="\n".join(result.problems),
                    pbx_error=result.pbx_error,
                ))
            except Exception:
                log.exception("could not record the reload", sha256=result.sha256)
        return result

    async def _reload(self, file: _Snapshot) -> ReloadResult:
        sha256 = file.sha256
        if sha256 == self._sha256:
            return ReloadResult("unchanged", sha256)
        try:
            config = file.config(self.path)
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
                await self.poll()
            except Exception:  # never stop watching: the next edit may fix it
                log.exception("config reload failed", file=str(self.path))


@dataclass(frozen=True)
class _Snapshot:
    """The file as read once: its bytes (or why it could not be read), size and mtime."""

    sha256: str
    data: bytes | None
    error: OSError | None
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> _Snapshot:
        try:
            with path.open("rb") as file:
                data = file.read()
                stat = os.fstat(file.fileno())
        except OSError as exc:
            return cls("unreadable", None, exc, -1, -1)
        return cls(hashlib.sha256(data).hexdigest(), data, None, stat.st_size,
                   stat.st_mtime_ns)

    def same_as(self, other: _Snapshot | None) -> bool:
        """Unchanged since `other` was read, and not growing while this was read."""
        return (other is not None
                and (self.sha256, self.size, self.mtime_ns)
                == (other.sha256, other.size, other.mtime_ns)
                and (self.data is None or self.size == len(self.data)))

    def config(self, path: Path) -> HotlineConfig:
        if self.data is None:
            assert self.error is not None
            raise unreadable(path, self.error)
        return config_from_bytes(self.data, path)
