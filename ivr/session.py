"""One call's view of ARI: its channels, its events in order, and waiting on them.

The application routes every event that concerns a channel of this call into
`events` (one queue per call keeps them in order and never blocks the
websocket reader). The call flow awaits what it needs with `next_event`; the
caller hanging up surfaces as `CallerHungUp`, raised from wherever the flow is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ivr.ari.models import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    StasisEnd,
)
from routing.clock import Clock


class ChannelVanished(Event):
    """Not from Asterisk: after a reconnect, one of our channels no longer exists
    (its hangup events were lost while the websocket was down)."""

    channel_id: str

    def channel_ids(self) -> set[str]:
        return {self.channel_id}


class CallerHungUp(Exception):
    """The caller's channel left Stasis or hung up; the call is over."""

    def __init__(self, cause: int | None) -> None:
        super().__init__(f"caller hung up (cause {cause})")
        self.cause = cause


@dataclass(eq=False)
class CallSession:
    channel_id: str
    clock: Clock = field(repr=False)
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    channel_ids: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    """Channels of this call Asterisk has sent an event about: known to have existed."""
    caller_gone: bool = False
    caller_hangup_cause: int | None = None
    routes: dict[str, CallSession] | None = field(default=None, repr=False)
    """The app's channel -> call table: a channel this call owns is routed to it."""

    def __post_init__(self) -> None:
        self.channel_ids.add(self.channel_id)
        self.seen.add(self.channel_id)  # a call starts with its caller's StasisStart

    def own(self, channel_id: str) -> None:
        """Route this channel's events (a desk leg) to this call from now on."""
        self.channel_ids.add(channel_id)
        if self.routes is not None:
            self.routes[channel_id] = self

    def deliver(self, event: Event, about: set[str] | None = None) -> None:
        """Queue `event` for the call; `about` are the channels it names."""
        if about:
            self.seen.update(about & self.channel_ids)
        if isinstance(event, ChannelDestroyed):
            # Known to be gone: the reconciliation has nothing more to tell about it
            # (a queued caller's many desk legs would be reported gone every round).
            self.seen.discard(event.channel.id)
        self.events.put_nowait(event)

    def vanished(self, channel_id: str) -> None:
        """Reconciliation found `channel_id` gone: wake the call as if its hangup arrived."""
        self.deliver(ChannelVanished(type="ChannelVanished", channel_id=channel_id))

    async def next_event(self, timeout: float | None) -> Event | None:
        """The next event of this call, or None when `timeout` seconds pass first."""
        if self.caller_gone:
            raise CallerHungUp(self.caller_hangup_cause)
        if not self.events.empty():
            event = self.events.get_nowait()
        elif timeout is None:
            event = await self.events.get()
        else:
            # Not wait_for: on Python 3.11 it wraps the get in a task of its own.
            try:
                async with asyncio.timeout(timeout):
                    event = await self.events.get()
            except TimeoutError:
                return None
        self._check_caller(event)
        return event

    async def events_until(self, deadline: float | None) -> Event | None:
        """Like `next_event`, with a monotonic deadline instead of a timeout."""
        if deadline is None:
            return await self.next_event(None)
        return await self.next_event(max(0.0, deadline - self.clock.monotonic()))

    def _check_caller(self, event: Event) -> None:
        if isinstance(event, ChannelVanished) and event.channel_id == self.channel_id:
            self.caller_gone = True
        if isinstance(event, ChannelHangupRequest) and event.channel.id == self.channel_id:
            # With soft=true, `cause` is Asterisk's soft-hangup flag, not a Q.850 cause.
            self.caller_hangup_cause = None if event.soft else event.cause
            self.caller_gone = True
        elif (
            isinstance(event, StasisEnd | ChannelDestroyed)
            and event.channel.id == self.channel_id
        ):
            if isinstance(event, ChannelDestroyed):
                self.caller_hangup_cause = self.caller_hangup_cause or event.cause
            self.caller_gone = True
        if self.caller_gone:
            raise CallerHungUp(self.caller_hangup_cause)
