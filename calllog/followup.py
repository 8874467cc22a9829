"""Calling a citizen back: staff record each attempt, and its result decides the queue.

- `reached`: the citizen was spoken to; the call back is done.
- `wrong_number`: nobody to call back at that number; done too (nothing more to try).
- `not_reached`: no answer or busy; it stays pending, its attempts counted, so the
  operator tries again (the queue shows attempts and the last result).

Each attempt is a `callback_attempts` row; the call's row holds the summary (result,
who, when, attempts). Only a pending call back takes an attempt, in one conditional
UPDATE: of two operators recording at once, one wins and the other is told.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import Callback, as_utc
from calllog.tables import CallbackAttemptRow, CallRow


class CallbackResult(StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    WRONG_NUMBER = "wrong_number"


CLOSING_RESULTS = frozenset({CallbackResult.REACHED, CallbackResult.WRONG_NUMBER})
"""Results after which nothing is left to do: the call back is done."""


class CallbackActions:
    """Staff's writes on call backs (the CLI's `callbacks done`, the console's form)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def record(
        self,
        call_id: str,
        *,
        at: datetime,
        by: str,
        result: CallbackResult | str,
        note: str = "",
    ) -> bool:
        """Record one call back of `call_id`'s caller. False, and nothing recorded, if the
        call does not exist or its call back is not pending (done, or never needed)."""
        outcome = CallbackResult(result)
        at = as_utc(at, "at")
        if not by.strip():
            raise ValueError("a call back needs who made it (by), got an empty name")
        values: dict[str, object] = {
            "callback_result": outcome.value,
            "callback_by": by,
            "callback_last_at": at,
            "callback_attempts": CallRow.callback_attempts + 1,
        }
        if outcome in CLOSING_RESULTS:
            values |= {"callback": Callback.DONE.value, "callback_done_at": at,
                       "callback_note": note or None}
        stmt = (
            update(CallRow)
            .where(CallRow.call_id == call_id, CallRow.callback == Callback.PENDING.value)
            .values(values)
            .returning(CallRow.call_id)
            .execution_options(synchronize_session=False)
        )
        async with self._sessionmaker.begin() as session:
            if (await session.execute(stmt)).scalar_one_or_none() is None:
                return False
            await session.execute(insert(CallbackAttemptRow).values(
                call_id=call_id, at=at, by=by, result=outcome.value, note=note))
        return True
