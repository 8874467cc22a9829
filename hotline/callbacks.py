"""`hotline callbacks`: the list of citizens to call back, and marking one handled.

The list comes a page at a time, the pending call backs first (oldest first, the order
they are worked in), and says when there are more pages. `done` takes a call's id or
the start of one, and marks it only if exactly one pending call back matches it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.followup import CallbackActions, CallbackResult
from calllog.model import Callback, CallRecord
from calllog.store import CallLogStore
from hotline.terminal import printable, table

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
PAGE_SIZE = 50
AMBIGUOUS_SHOWN = 5
"""At most this many of the pending call backs a prefix matches are named."""


async def list_callbacks(
    url: str, *, include_done: bool, page: int = 1, limit: int = PAGE_SIZE
) -> str:
    """Page `page` (from 1) of the call backs, `limit` a page, and a line saying which
    rows of how many it shows when there is more than one page."""
    if page < 1 or limit < 1:
        raise ValueError(f"page and limit start at 1, got page {page}, limit {limit}")
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        total = await store.count_callbacks(include_done=include_done)
        pending = await store.count_callbacks() if include_done else total
        calls = await store.list_callbacks(
            include_done=include_done, limit=limit, offset=(page - 1) * limit
        )
    finally:
        await engine.dispose()
    if not total:
        return "No calls waiting for a call back." if not include_done else "No call backs."
    again = "--all " if include_done else ""
    size = "" if limit == PAGE_SIZE else f" --limit {limit}"
    last_page = -(-total // limit)
    if not calls:
        return (f"page {page} is past the end: {total} call backs, {last_page} page(s) of "
                f"{limit}; last: {again}--page {last_page}{size}")
    header = ("ID", "CALLED AT (ICT)", "CALLER", "BRANCH", "WHY", "MESSAGE", "STATUS")
    text = table(header, [_row(c) for c in calls])
    if total > len(calls):
        first = (page - 1) * limit + 1
        notice = f"showing {first}–{first + len(calls) - 1} of {total}"
        if include_done:
            notice += f" ({pending} pending)"
        if page < last_page:
            notice += f"; next: {again}--page {page + 1}{size}"
        text += f"\n({notice})"
    return text


def _row(call: CallRecord) -> tuple[str, ...]:
    caller = call.caller_number
    if call.caller_name:
        caller += f" {call.caller_name}"
    if call.caller_agency:
        caller += f" ({call.caller_agency})"
    branch = f"{call.branch_key}. {call.branch_name}" if call.branch_key else "-"
    message = f"{call.recording}.wav ({call.recording_seconds or 0} s)" if call.recording else "-"
    return (call.call_id, call.started_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M"), caller,
            branch, str(call.outcome or "-"), message, call.callback or "-")


async def mark_done(
    url: str, call_id: str, note: str | None, *, at: datetime, by: str = "operator",
    result: CallbackResult | str = CallbackResult.REACHED,
) -> tuple[bool, str]:
    """Record a call back (`result`, default reached) of the one pending call back whose
    id is `call_id` or starts with it: (whether it was recorded, what to tell the
    operator). Reached and wrong_number mark it handled; not_reached leaves it pending."""
    result = CallbackResult(result)
    if not call_id.strip():
        return False, "which call? give its id (or the start of it): an empty id matches all"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        store = CallLogStore(sessions)
        found = await _one_pending(store, call_id)
        if isinstance(found, str):
            return False, printable(found)
        done = await CallbackActions(sessions).record(
            found.call_id, at=at, by=by, result=result, note=note or "")
    finally:
        await engine.dispose()
    if not done:
        said = f"{found.call_id}: not pending"
    elif result is CallbackResult.NOT_REACHED:
        said = f"{found.call_id}: not reached, still pending (try again later)"
    elif result is CallbackResult.WRONG_NUMBER:
        said = f"{found.call_id}: marked handled (wrong number)"
    else:
        said = f"{found.call_id}: marked handled"
    return done, printable(said)


async def _one_pending(store: CallLogStore, prefix: str) -> CallRecord | str:
    """The pending call back `prefix` names (its whole id, or the start of one pending
    call back's id only), or why not."""
    exact = await store.get(prefix)
    if exact is not None and exact.callback is Callback.PENDING:
        return exact
    matches = await store.pending_callbacks_matching(prefix, limit=AMBIGUOUS_SHOWN + 1)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        if exact is not None and exact.callback is Callback.DONE:
            return f"{prefix}: its call back is already marked handled"
        return f"{prefix}: no pending call back has this id"
    count = (f"{len(matches)}" if len(matches) <= AMBIGUOUS_SHOWN
             else f"more than {AMBIGUOUS_SHOWN}")
    some = ", ".join(c.call_id for c in matches[:AMBIGUOUS_SHOWN])
    return f"{prefix}: {count} pending call backs match this id ({some}): give more of it"
