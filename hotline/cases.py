"""`hotline cases`: complaint cases ("phản ánh, kiến nghị") on the operator's side.

Open a case for a past call or a recorded message of a call in the log (a desk flags the
call in progress itself, from its phone), list cases, show one with its call and its
history, move it along the workflow. Each command talks to the database directly (the
straight-to-the-store operations of `CallLogStore`, not the spool) and returns its exit
code and text (stored text made `printable`):
0 on success, 2 for anything the operator must correct (unknown or ambiguous id, a change
the workflow does not allow), the message saying why.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from calllog.codes import CaseDeadline
from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.errors import CallLogError
from calllog.model import CallRecord, Case, CaseChange, CaseStatus
from calllog.store import CallLogStore
from hotline.terminal import printable, table

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_CATEGORY = "Chung"
"""The category of a case whose call went to no branch."""
LIST_LIMIT = 100
CASE_ID_MAX = 2**63 - 1
USAGE_ERROR = 2

_STATUSES = [status.value for status in CaseStatus]


def add_cases_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `cases` command and its sub-commands, on the `hotline` parser."""
    p_cases = sub.add_parser("cases", help="complaint cases (phản ánh, kiến nghị)")
    cases_sub = p_cases.add_subparsers(dest="cases_command", required=True)

    p_open = cases_sub.add_parser("open", help="open a case for a past call or a message")
    p_open.add_argument("call_id", nargs="?", help="the call's id (a unique prefix is enough)")
    p_open.add_argument("--recording", metavar="NAME",
                        help="a recorded message, e.g. vm-1795464328-0 (its call is found)")
    p_open.add_argument("--category", help="default: the call's branch, else Chung")
    p_open.add_argument("--by", metavar="NAME", help="who opens it (default: $USER)")
    p_open.add_argument("--note", default="")
    p_open.add_argument("--new", action="store_true",
                        help="open another case even if the call already has one")

    p_list = cases_sub.add_parser("list", help="cases, newest first")
    p_list.add_argument("--status", choices=_STATUSES)
    p_list.add_argument("--agency", help="the agency it was forwarded to (exact name)")
    p_list.add_argument("--category", help="exact name")
    p_list.add_argument("--from", dest="from_day", type=_day, metavar="YYYY-MM-DD",
                        help="opened on or after this day (local time)")
    p_list.add_argument("--to", dest="to_day", type=_day, metavar="YYYY-MM-DD",
                        help="opened on or before this day (local time)")
    p_list.add_argument("--limit", type=int, default=LIST_LIMIT)

    p_show = cases_sub.add_parser("show", help="a case, its call and its history")
    p_show.add_argument("case_id", type=_case_id, metavar="ID")

    p_update = cases_sub.add_parser("update", help="move a case on, or add a note")
    p_update.add_argument("case_id", type=_case_id, metavar="ID")
    p_update.add_argument("--status", required=True, choices=_STATUSES,
                          help="the new status (the current one to only add a note)")
    p_update.add_argument("--agency", help="the agency it is forwarded to")
    p_update.add_argument("--note", default="")
    p_update.add_argument("--by", required=True, metavar="NAME", help="who makes the change")


async def run_cases(
    url: str, args: argparse.Namespace, *, now: datetime,
    case_deadline: CaseDeadline | None = None,
) -> tuple[int, str]:
    """Run `hotline cases <command>` against the database at `url`: (exit code, text).
    A case opened gets its deadline from `case_deadline` (the YAML's working days)."""
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        store = CallLogStore(make_sessionmaker(engine), case_deadline=case_deadline)
        match args.cases_command:
            case "open":
                return await _open(store, args, now)
            case "list":
                return await _list(store, args)
            case "show":
                return await _show(store, args.case_id)
            case "update":
                return await _update(store, args, now)
        raise AssertionError(f"unknown cases command {args.cases_command!r}")
    except (CallLogError, ValueError) as exc:  # the store's refusals say what is wrong
        return USAGE_ERROR, str(exc)
    finally:
        await engine.dispose()


def default_operator() -> str:
    return os.environ.get("USER") or "operator"


async def _open(store: CallLogStore, args: argparse.Namespace, now: datetime) -> tuple[int, str]:
    if args.call_id is None and args.recording is None:
        return USAGE_ERROR, "which call? give its id, or --recording NAME for a message"
    call: CallRecord
    if args.call_id is not None:
        found = await _find_call(store, args.call_id)
        if isinstance(found, str):
            return USAGE_ERROR, found
        call = found
    else:
        with_message = await store.find_recording(args.recording)
        if not with_message:
            return USAGE_ERROR, (f"{args.recording}: no call in the log has this message "
                                 "(see `hotline callbacks --all` for the messages left)")
        call = with_message[0]
    if not args.new:
        existing = await store.cases_for_call(call.call_id)
        if existing:
            ids = ", ".join(f"{c.id} ({c.status.value})" for c in existing)
            return USAGE_ERROR, (
                f"call {call.call_id} already has case {ids}: `hotline cases show "
                f"{existing[0].id}`, or open another with --new"
            )
    by = args.by or default_operator()
    category = args.category or call.branch_name or DEFAULT_CATEGORY
    case = await store.create_case(Case(
        id=None,
        call_id=call.call_id,
        category=category,
        opened_at=now,
        opened_by=by,
        recording=args.recording or call.recording,
        history=(CaseChange(now, by, CaseStatus.RECEIVED, note=args.note),),
    ))
    what = f"call {call.call_id}"
    if case.recording:
        what += f" (message {case.recording})"
    return 0, printable(f"case {case.id} opened for {what}: {category}, received")


async def _find_call(store: CallLogStore, prefix: str) -> CallRecord | str:
    """The call `prefix` names (its whole id, or a prefix of one id only), or why not."""
    matches = await store.find_call(prefix)
    exact = [c for c in matches if c.call_id == prefix]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return f"{prefix}: no call has this id"
    some = ", ".join(c.call_id for c in matches[:5])
    return f"{prefix}: {len(matches)} calls match this id ({some}...): give more of it"


async def _list(store: CallLogStore, args: argparse.Namespace) -> tuple[int, str]:
    since = None if args.from_day is None else _local_midnight(args.from_day)
    until = None if args.to_day is None else _local_midnight(args.to_day + timedelta(days=1))
    if since is not None and until is not None and since >= until:
        return USAGE_ERROR, "--from is after --to"
    cases = await store.list_cases(
        status=args.status, agency=args.agency, category=args.category,
        since=since, until=until, limit=args.limit,
    )
    if not cases:
        filtered = any(v is not None for v in (args.status, args.agency, args.category,
                                               args.from_day, args.to_day))
        return 0, "No cases match these filters." if filtered else "No cases."
    calls: dict[str, CallRecord | None] = {}
    for case in cases:
        if case.call_id is not None and case.call_id not in calls:
            calls[case.call_id] = await store.get(case.call_id)
    header = ("ID", "OPENED (ICT)", "STATUS", "CATEGORY", "AGENCY", "CALLER", "CALL")
    rows = [_list_row(case, calls.get(case.call_id or "")) for case in cases]
    text = table(header, rows)
    if len(cases) == args.limit:
        text += f"\n(the newest {args.limit}; --limit for more)"
    return 0, text


def _list_row(case: Case, call: CallRecord | None) -> tuple[str, ...]:
    return (
        str(case.id), _local(case.opened_at), case.status.value, case.category,
        case.agency or "-", call.caller_number if call else "-",
        case.call_id or f"(message {case.recording})",
    )


async def _show(store: CallLogStore, case_id: int) -> tuple[int, str]:
    case = await store.get_case(case_id)
    if case is None:
        return USAGE_ERROR, f"no case {case_id}"
    lines = [
        f"Case {case.id}: {case.status.value}",
        f"  category : {case.category}",
        f"  agency   : {case.agency or '-'}",
        f"  opened   : {_local(case.opened_at)} (ICT) by {case.opened_by}",
    ]
    if case.recording:
        lines.append(f"  message  : {case.recording}")
    if case.key:
        lines.append(f"  key      : {case.key}")
    call = None if case.call_id is None else await store.get(case.call_id)
    if call is not None:
        lines += ["", *_call_summary(call)]
    elif case.call_id is not None:
        lines += ["", f"Call {case.call_id}: not in the log"]
    lines += ["", "History"]
    history = [
        (_local(c.at), c.status.value, c.by, c.agency or "-", c.note) for c in case.history
    ]
    lines += ["  " + line for line in
              table(("AT (ICT)", "STATUS", "BY", "AGENCY", "NOTE"), history).splitlines()]
    return 0, "\n".join(printable(line) for line in lines)


def _call_summary(call: CallRecord) -> list[str]:
    caller = call.caller_number
    if call.caller_name:
        caller += f" {call.caller_name}"
    if call.caller_agency:
        caller += f" ({call.caller_agency})"
    branch = "-"
    if call.branch_name:
        branch = f"{call.branch_key}. {call.branch_name}" if call.branch_key else call.branch_name
        if call.agency:
            branch += f" ({call.agency})"
    outcome = call.outcome.value if call.outcome else "in progress"
    if call.desk_answered:
        outcome += f", answered by desk {call.desk_answered}"
    lines = [
        f"Call {call.call_id}",
        f"  started  : {_local(call.started_at)} (ICT)",
        f"  caller   : {caller}",
        f"  branch   : {branch}",
        f"  outcome  : {outcome}",
    ]
    if call.recording:
        lines.append(f"  message  : {call.recording}.wav ({call.recording_seconds or 0} s)")
    return lines


async def _update(
    store: CallLogStore, args: argparse.Namespace, now: datetime
) -> tuple[int, str]:
    case = await store.update_case(  # a refused change raises CaseTransitionError
        args.case_id, status=args.status, by=args.by, at=now,
        agency=args.agency, note=args.note,
    )
    before, after = case.history[-2].status, case.history[-1].status
    change = f"{before.value} -> {after.value}" if before is not after else "note added"
    agency = f", agency {case.agency}" if case.agency else ""
    return 0, printable(f"case {case.id}: {change} ({after.value}{agency})")


def _local(at: datetime) -> str:
    return at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL)


def _case_id(text: str) -> int:
    """A case's id as the databases store it (a signed 64-bit integer, from 1)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= CASE_ID_MAX:
        raise argparse.ArgumentTypeError(
            f"a case id is a whole number from 1 to {CASE_ID_MAX}, got {text!r}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None
