"""Complaint cases ("phản ánh, kiến nghị"): the errors and the workflow rule every store
applies to a change.

A case opens `received`: from a desk's flag during the call (`CallLog.open_case`,
journaled by the spool, idempotent by its key) or from the CLI (`create_case`). Operators
then move it along `CASE_TRANSITIONS` (`update_case`); every change is appended to its
history with who and when. The stores check a change with `check_case_change` and then
apply it with an UPDATE conditional on the status they checked, so of two operators
changing a case at once only one passes.

    CallLogError
    ├── CaseTransitionError   (also a ValueError) not allowed from the case's status
    └── UnknownCaseError      (also a LookupError) no case with that id
"""

from __future__ import annotations

from datetime import datetime

from calllog.errors import CallLogError
from calllog.model import CASE_TRANSITIONS, CaseStatus, as_utc, parse_case_status

CASE_LIST_LIMIT = 500
"""`list_cases` returns at most this many cases by default."""


def allowed_next(status: CaseStatus) -> tuple[CaseStatus, ...]:
    """Where a case in `status` may go, in workflow order (empty: a final status)."""
    return tuple(s for s in CaseStatus if s in CASE_TRANSITIONS[status])


class CaseTransitionError(CallLogError, ValueError):
    """`update_case` to a status the workflow does not allow from the case's status, or
    a case that another operator changed while this change was being made."""

    def __init__(
        self,
        case_id: int,
        current: CaseStatus,
        wanted: CaseStatus,
        *,
        reason: str | None = None,
        meanwhile: bool = False,
    ) -> None:
        self.case_id = case_id
        self.current = current
        self.wanted = wanted
        self.allowed = allowed_next(current)
        self.meanwhile = meanwhile
        if self.allowed:
            allowed = (f"allowed next: {', '.join(s.value for s in self.allowed)} "
                       f"(or {current.value} again, to add a note)")
        else:
            allowed = f"{current.value} is final: only a note can be added"
        if meanwhile:
            reason = (f"changed by someone else meanwhile, it is now {current.value}; "
                      "nothing recorded, check the case and try again")
        elif reason is None:
            reason = f"cannot go from {current.value} to {wanted.value}"
        super().__init__(f"case {case_id}: {reason}; {allowed}")


class UnknownCaseError(CallLogError, LookupError):
    """`update_case` of a case id that is not in the log."""

    def __init__(self, case_id: int) -> None:
        super().__init__(f"no case {case_id} in the call log")
        self.case_id = case_id


def check_case_change(
    case_id: int,
    current: str,
    current_agency: str | None,
    *,
    status: str,
    agency: str | None,
    note: str,
) -> CaseStatus:
    """The status `update_case` moves the case to, once the change is known to be allowed.

    Keeping the status only adds a note (so it needs one, and cannot change the agency);
    forwarding needs an agency, given now or kept from before.
    """
    old, new = parse_case_status(current), parse_case_status(status)
    if agency is not None and not agency.strip():
        raise ValueError(f"case {case_id}: the agency must not be empty (None keeps it)")
    if new is old:
        if agency is not None and agency != current_agency:
            raise CaseTransitionError(
                case_id, old, new,
                reason=f"staying {old.value} only adds a note, it cannot change the agency",
            )
        if not note.strip():
            raise ValueError(f"case {case_id}: nothing to record (same status, no note)")
        return new
    if new not in CASE_TRANSITIONS[old]:
        raise CaseTransitionError(case_id, old, new)
    if new is CaseStatus.FORWARDED and agency is None and current_agency is None:
        raise ValueError(f"case {case_id}: forwarding needs the agency it goes to")
    return new


def checked_update_args(at: datetime, by: str, status: str) -> tuple[datetime, CaseStatus]:
    """`update_case`'s own arguments validated (before the case is looked up): `at` in
    UTC, a name in `by`, a known status."""
    at = as_utc(at, "at")
    if not by.strip():
        raise ValueError("a case change needs who made it (by), got an empty name")
    return at, parse_case_status(status)
