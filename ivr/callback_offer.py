"""The call-back key while queued: whether it is offered, and what pressing it raises.

Apart from `ivr.callback` so that `ivr.queue` can offer it without importing the call
backs' machinery (which waits in the same queues)."""

from __future__ import annotations

from datetime import datetime

from ivr.context import CallContext
from ivr.prompts import Prompt
from routing.callback import check_number


class CallbackChosen(Exception):
    """The queued caller pressed the call-back key (raised out of `wait_in_queue`)."""

    def __init__(self, joined_at: datetime) -> None:
        super().__init__("caller chose a call back")
        self.joined_at = joined_at


def offers_callback(ctx: CallContext) -> bool:
    """Whether this queued caller is offered a call back: the trunk is configured and
    their number is one the service may call (`routing.callback.check_number`) and has
    no kept place waiting already (one per number: a planted caller id cannot queue many)."""
    settings = ctx.config.callback
    if not settings.enabled or ctx.callbacks is None:
        return False
    verdict = check_number(ctx.record.caller_number, settings.allowed)
    return verdict.allowed and not ctx.callbacks.keeps(verdict.number)


def offer_media(ctx: CallContext) -> list[str]:
    """What the queue announcement adds: "press 1 to be called back" (or nothing)."""
    return ctx.media(Prompt.CALLBACK_OFFER) if offers_callback(ctx) else []
