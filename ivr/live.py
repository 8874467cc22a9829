"""The calls in progress and the desks' registration, kept live for the wallboard
(`GET /live` on the service's loopback HTTP server; the models: `routing.live`).

`LiveCalls` is told by each call's flow where it is (`CallContext.step`) and forgets
the call when its task ends. Every change bumps `version` and wakes the clients
waiting for one (long-poll), so a client learns of a change at once and costs nothing
while nothing changes.

`DeskPresence` asks Asterisk for the desks' registration (`GET /endpoints`) every
`interval` s, but only while somebody watches (a snapshot was asked for lately): a
service nobody watches asks nothing. Polling rather than asking on each request: one
request per interval whatever the number of clients, and a long-poll learns of a
desk registering without a client having to ask again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime

import structlog

from calllog.model import CallRecord
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from routing.clock import Clock
from routing.config import HotlineConfig
from routing.live import LiveBranch, LiveCall, LiveSnapshot, Step, summarise

log = structlog.get_logger(__name__)

WATCHED_FOR_SECONDS = 30.0
"""A snapshot asked for keeps the desks' registration polled this long."""
LINGER_SECONDS = 0.25
"""A waiting client is answered this long after the change that woke it: the changes of
a burst (a call's step, then its desks) go out together, and the clients woken together
share one snapshot (`REUSE_JSON_SECONDS`)."""
REUSE_JSON_SECONDS = 0.5
"""A snapshot's JSON is served again, unchanged, for this long while its version holds:
the clients a change wakes together cost one snapshot (their `at` may be this late)."""


class LiveCalls:
    def __init__(
        self, clock: Clock, config: Callable[[], HotlineConfig], *,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._clock = clock
        self._linger = linger
        self._config = config
        self._calls: dict[str, LiveCall] = {}
        self._registered: dict[str, bool] = {}
        self._checked_at: datetime | None = None
        self._started_at = clock.now()
        self._watched_at: float | None = None
        self.version = 0
        self._changed = asyncio.Event()
        self._json: tuple[int, float, bytes] | None = None
        """The last JSON served: its version, when it was made (monotonic), the bytes."""

    # --- told by the calls ---------------------------------------------------------

    def step(self, record: CallRecord, step: Step, desks: Iterable[str] = ()) -> None:
        """The call of `record` is now at `step` (with `desks` rung or talking); its
        branch is read off the record. The step's start is kept while it stays the same."""
        before = self._calls.get(record.call_id)
        branch = None
        if record.branch_key is not None:
            branch = LiveBranch(key=record.branch_key, name=record.branch_name or "",
                                agency=record.agency or "")
        desks = tuple(desks)
        if (before is not None and before.step == step and before.branch == branch
                and before.desks == desks):
            return
        since = before.step_since if before is not None and before.step == step else None
        self._calls[record.call_id] = LiveCall(
            call_id=record.call_id, caller_number=record.caller_number,
            started_at=record.started_at, step=step, step_since=since or self._clock.now(),
            branch=branch, desks=desks,
        )
        self._bump()

    def forget(self, call_id: str) -> None:
        """The call's task ended (whatever the path)."""
        if self._calls.pop(call_id, None) is not None:
            self._bump()

    def __len__(self) -> int:
        return len(self._calls)

    def calls(self) -> list[LiveCall]:
        return list(self._calls.values())

    # --- told by the desk poller ---------------------------------------------------

    def desks_seen(self, registered: dict[str, bool]) -> None:
        self._checked_at = self._clock.now()
        if registered != self._registered:
            self._registered = registered
            self._bump()

    def desks_unknown(self) -> None:
        """Not asked lately (nobody watched) or Asterisk could not say."""
        self._checked_at = None
        if self._registered:
            self._registered = {}
            self._bump()

    @property
    def watched(self) -> bool:
        """Whether a snapshot was asked for in the last `WATCHED_FOR_SECONDS`."""
        return (self._watched_at is not None
                and self._clock.monotonic() - self._watched_at < WATCHED_FOR_SECONDS)

    # --- asked by the HTTP endpoint ------------------------------------------------

    def snapshot(self) -> LiveSnapshot:
        self._watched_at = self._clock.monotonic()
        return summarise(
            version=self.version, service_started_at=self._started_at, at=self._clock.now(),
            calls=self._calls.values(), config=self._config(), registered=self._registered,
            desks_checked_at=self._checked_at,
        )

    async def snapshot_after(self, version: int | None, wait: float) -> LiveSnapshot:
        """The snapshot once its version differs from `version` (None: at once), or after
        `wait` s of no change (the same version, for the client to ask again)."""
        await self._changed_from(version, wait)
        return self.snapshot()

    async def json_after(self, version: int | None, wait: float) -> bytes:
        """`snapshot_after` as JSON, made once for all the clients asking within
        `REUSE_JSON_SECONDS` of each other while nothing changes (a change wakes every
        waiting client at the same moment)."""
        await self._changed_from(version, wait)
        now = self._clock.monotonic()
        if self._json is not None:
            version_made, made_at, body = self._json
            if version_made == self.version and now - made_at < REUSE_JSON_SECONDS:
                return body
        body = self.snapshot().model_dump_json().encode()
        self._json = (self.version, now, body)
        return body

    async def _changed_from(self, version: int | None, wait: float) -> None:
        self._watched_at = self._clock.monotonic()
        if version == self.version:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    while version == self.version:
                        await self._changed.wait()
            if version != self.version:
                await asyncio.sleep(self._linger)

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()


class DeskPresence:
    """Polls the desks' registration into `live` while it is watched."""

    def __init__(self, ari: AriClient, live: LiveCalls, interval: float = 2.0) -> None:
        self._ari = ari
        self._live = live
        self._interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # the wallboard's desks are not worth a stopped poller
                log.warning("desk registration poll failed", exc_info=True)
                self._live.desks_unknown()
            await asyncio.sleep(self._interval)

    async def poll_once(self) -> None:
        if not self._live.watched:
            self._live.desks_unknown()
            return
        try:
            endpoints = await self._ari.list_endpoints()
        except AriError as exc:
            log.debug("could not ask the desks' registration", error=str(exc))
            self._live.desks_unknown()
            return
        self._live.desks_seen({e.resource: e.state != "offline"
                               for e in endpoints if e.technology == "PJSIP"})
