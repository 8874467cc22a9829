"""`hotline callbacks`: the list of citizens to call back, and marking one handled."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallRecord
from calllog.store import CallLogStore

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


async def list_callbacks(url: str, *, include_done: bool) -> str:
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        calls = await CallLogStore(make_sessionmaker(engine)).list_callbacks(
            include_done=include_done
        )
    finally:
        await engine.dispose()
    if not calls:
        return "No calls waiting for a call back."
    rows = [_row(c) for c in calls]
    header = ("ID", "CALLED AT (ICT)", "CALLER", "BRANCH", "WHY", "MESSAGE", "STATUS")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def _row(call: CallRecord) -> tuple[str, ...]:
    caller = call.caller_number + (f" ({call.caller_agency})" if call.caller_agency else "")
    branch = f"{call.branch_key}. {call.branch_name}" if call.branch_key else "-"
    message = f"{call.recording}.wav ({call.recording_seconds or 0} s)" if call.recording else "-"
    return (call.call_id, call.started_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M"), caller,
            branch, str(call.outcome or "-"), message, call.callback or "-")


async def mark_done(url: str, call_id: str, note: str | None, *, at: datetime) -> tuple[bool, str]:
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        matches = [c for c in await store.find_call(call_id) if c.callback == "pending"]
        if len(matches) != 1:
            found = "no pending call back" if not matches else f"{len(matches)} pending calls"
            return False, f"{call_id}: {found} matches this id"
        done = await store.mark_callback_done(matches[0].call_id, at=at, note=note)
    finally:
        await engine.dispose()
    return done, f"{matches[0].call_id}: marked handled" if done else f"{call_id}: not pending"
