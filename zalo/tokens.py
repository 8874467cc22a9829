"""The OA's access token, and its renewal with the single-use refresh token.

`TokenKeeper.refresh` follows the protocol `calllog.zalo` describes (and says what it
guarantees): the lease and the "presented" mark are committed before the refresh token
leaves; the successor is committed in the transaction that retires its predecessor
(retried while the database refuses, the new pair held in memory meanwhile); a refresh
token Zalo refuses marks the pair refused, which asks for a new authorisation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from calllog.zalo import NewTokens, TokenPair, TokenStatus, ZaloTokenStore
from routing.clock import Clock

log = structlog.get_logger("zalo.tokens")
MAX_COMMIT_DELAY = 30.0
"""Seconds between tries to store a new token pair while the database refuses."""

Exchange = Callable[[str], Awaitable[NewTokens]]
"""Presents a refresh token to Zalo; the new pair, or `RefreshRefused`."""
Sleep = Callable[[float], Awaitable[None]]

REAUTHORISE = ("authorise the OA for the app again on Zalo's developer site, then store "
               "the new pair with `hotline zalo tokens`")


class TokenError(Exception):
    """No usable token: the message says what an administrator should do."""


class NoTokens(TokenError):
    def __init__(self) -> None:
        super().__init__(f"no Zalo token pair in the database: {REAUTHORISE}")


class ReauthorisationNeeded(TokenError):
    def __init__(self, why: str) -> None:
        super().__init__(f"{why}: {REAUTHORISE}")


class RefreshBusy(TokenError):
    """Another process holds the refresh lease and has not finished within it."""


class RefreshRefused(Exception):
    """Zalo answered the refresh with an error: the refresh token is spent or invalid."""


class TokenKeeper:
    def __init__(
        self, store: ZaloTokenStore, clock: Clock, *, lease: timedelta = timedelta(seconds=60),
        alarm_after_attempts: int = 5, sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lease = lease
        self._alarm_after = alarm_after_attempts
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def current(self) -> TokenPair:
        pair = await self._store.current()
        if pair is not None:
            return pair
        latest = await self._store.latest()
        if latest is not None and latest.status is TokenStatus.REFUSED:
            raise ReauthorisationNeeded("Zalo refused the stored refresh token")
        raise NoTokens()

    async def install(self, tokens: NewTokens) -> TokenPair:
        return await self._store.install(tokens, self._clock.now())

    async def refresh(self, exchange: Exchange, *, replacing: TokenPair | None = None) -> TokenPair:
        """A fresh pair. With `replacing` (the pair found expired), a pair that another
        task or process stored meanwhile is taken as it is, without a second refresh."""
        async with self._lock:
            pair = await self.current()
            if replacing is not None and pair.id != replacing.id:
                return pair
            return await self._refresh(pair, exchange)

    async def _refresh(self, pair: TokenPair, exchange: Exchange) -> TokenPair:
        now = self._clock.now()
        if pair.refresh_expires_at <= now:
            await self._store.mark_refused(pair.id, now)
            raise ReauthorisationNeeded(
                f"the refresh token expired on {pair.refresh_expires_at:%Y-%m-%d}")
        if pair.presented_at is not None:
            log.warning("zalo refresh token presented before, its answer never stored",
                        pair=pair.id, presented_at=pair.presented_at.isoformat())
        request_id = uuid.uuid4().hex
        if not await self._store.claim_refresh(
                pair.id, request_id, now, stale_before=now - self._lease):
            return await self._wait_for_other(pair)
        try:
            tokens = await exchange(pair.refresh_token)
        except RefreshRefused:
            await self._store.mark_refused(pair.id, self._clock.now())
            log.error("zalo refused the refresh token", pair=pair.id, request=request_id)
            raise ReauthorisationNeeded("Zalo refused the stored refresh token") from None
        except Exception:
            # Zalo may or may not have spent it: `presented_at` stays to say so.
            await self._store.release_refresh(pair.id, request_id)
            raise
        successor = await self._store_successor(pair, tokens)
        log.info("zalo tokens refreshed", pair=successor.id, replaced=pair.id,
                 request=request_id)
        return successor

    async def _store_successor(self, pair: TokenPair, tokens: NewTokens) -> TokenPair:
        """Commit the new pair; while the database refuses, keep trying for as long as
        this process lives (backoff up to `MAX_COMMIT_DELAY`): the old refresh token is
        spent, so this pair is the only one left. Sends wait meanwhile (they need it)."""
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._store.complete_refresh(pair.id, tokens, self._clock.now())
            except Exception as exc:
                alarm = attempt >= self._alarm_after
                (log.error if alarm else log.warning)(
                    "zalo new token pair not stored yet, retrying", pair=pair.id,
                    attempt=attempt, error=type(exc).__name__,
                    lost_if_this_process_stops=alarm)
                await self._sleep(delay)
                delay = min(delay * 2, MAX_COMMIT_DELAY)

    async def _wait_for_other(self, pair: TokenPair) -> TokenPair:
        """Another process is refreshing `pair`: its successor, once stored."""
        waited = timedelta()
        step = timedelta(milliseconds=500)
        while waited < self._lease:
            await self._sleep(step.total_seconds())
            waited += step
            now = await self._store.current()
            if now is not None and now.id != pair.id:
                return now
        raise RefreshBusy("another process is refreshing the Zalo tokens; try again later")


def expires_at(now: datetime, seconds: int | None, default: timedelta) -> datetime:
    return now + (timedelta(seconds=seconds) if seconds else default)
