"""Everything one call's coroutine needs, passed down the steps of the flow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from calllog.model import CallEvent, CallRecord
from calllog.store import CallLog
from ivr.ari.client import AriClient
from ivr.live import LiveCalls
from ivr.prompts import Prompt, PromptLibrary
from ivr.session import CallSession
from routing.clock import Clock
from routing.config import HotlineConfig
from routing.live import Step

if TYPE_CHECKING:
    from ivr.callback import Callbacks
    from ivr.override import OverrideSource
    from ivr.presence import DeskBoard
    from ivr.queue import QueueRoom


@dataclass
class CallContext:
    ari: AriClient
    session: CallSession
    record: CallRecord
    calllog: CallLog
    config: HotlineConfig
    prompts: PromptLibrary
    clock: Clock
    log: structlog.typing.FilteringBoundLogger
    fallback_context: str = "hotline-fallback"
    caller_as_given: str | None = None
    """The caller id as Asterisk gave it when it is no phone number (the row says
    "unknown"); None when the row holds it."""
    handed_over: bool = False
    """The caller was sent on to the fallback dialplan (the row stays open)."""
    desk_states: DeskStates | None = None
    """Shared by the calls: desks' registration, asked of Asterisk at most every
    `DeskStates.ttl` s (None: asked for every call)."""
    live: LiveCalls | None = None
    """The calls in progress, for the wallboard (None: not kept)."""
    override: OverrideSource | None = None
    """The announcement override in force (None: never any)."""
    queue: QueueRoom | None = None
    """The branch queues, shared by the calls (None: no queueing, busy means a message)."""
    desk_results: dict[str, str] = field(default_factory=dict)
    """Each desk's dial status in the last ring of the branch (busy ones may queue)."""
    desks: DeskBoard | None = None
    """The desks' presence (None: every desk taken as logged in and free)."""
    callbacks: Callbacks | None = None
    """Keep-your-place call backs (None: the call-back key is not offered)."""

    @property
    def channel_id(self) -> str:
        return self.session.channel_id

    async def note(self, kind: str, **detail: str | int | None) -> None:
        """Append one step to the call's timeline in the log."""
        await self.calllog.append_event(
            CallEvent(call_id=self.record.call_id, at=self.clock.now(), kind=kind, detail=detail)
        )
        self.log.debug(kind, **detail)

    def step(self, step: Step, *desks: str) -> None:
        """Tell the wallboard where the call is now (and which desks it rings or talks to)."""
        if self.live is not None:
            self.live.step(self.record, step, desks)

    async def save(self) -> None:
        await self.calllog.save(self.record)

    def media(self, *prompts: Prompt) -> list[str]:
        return [self.prompts.media(p) for p in prompts]

    async def play(self, kind: str, prompts: list[Prompt], *extra_media: str) -> str:
        """Start playing `prompts` (then `extra_media`) to the caller; returns the
        playback id. The timeline notes it, so a restarted service can stop it."""
        playback_id = new_id(kind)
        await self.note("prompt", playback=playback_id,
                        prompts=",".join(p.value for p in prompts))
        await self.ari.play(self.channel_id, [*self.media(*prompts), *extra_media],
                            playback_id=playback_id)
        return playback_id


class DeskStates:
    """Recently seen desk registration states ("online", "offline", ...): a burst of
    calls to one branch asks Asterisk once, not once per call per desk. A desk that
    registers is seen at most `ttl` s late; one that went away costs a failed dial."""

    def __init__(self, clock: Clock, ttl: float = 0.5) -> None:
        self.clock = clock
        self.ttl = ttl
        self._seen: dict[str, tuple[float, bool]] = {}

    def get(self, extension: str) -> bool | None:
        seen = self._seen.get(extension)
        if seen is None or self.clock.monotonic() - seen[0] > self.ttl:
            return None
        return seen[1]

    def put(self, extension: str, registered: bool) -> None:
        self._seen[extension] = (self.clock.monotonic(), registered)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
