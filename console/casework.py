"""The console's writes on call backs and cases: one small action object, so the pages
hold no SQL and the rules a person must follow are checked in one place.

- A call back records its result through `calllog.followup.CallbackActions`.
- A case opens for a call (its voice message with it) through the store's `create_case`
  (the store gives it its code and its deadline, `routing.deadlines.case_deadline`), and
  moves along the workflow through `update_case` (`calllog.cases`). On top of the store's
  own rules the console asks what the operating team's procedure asks: forwarding names an
  agency of the YAML, resolving and rejecting say why (a note).

Whatever the person must correct is a `Refused` with a Vietnamese message.
Who may do it is not checked here: the routes ask `console.access` first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from calllog.callback_queue import CallbackQueue, QueuedCallback
from calllog.cases import CaseTransitionError, UnknownCaseError, allowed_next
from calllog.followup import CallbackActions, CallbackResult
from calllog.model import CallRecord, Case, CaseChange, CaseStatus
from reports.labels import CASE_STATUS_LABELS
from routing.callback import check_number
from routing.config import HotlineConfig

DEFAULT_CATEGORY = "Chung"
"""The category of a case whose call went to no branch (as `hotline cases open`)."""
NOTE_MAX = 2000

NEEDS_NOTE = frozenset({CaseStatus.RESOLVED, CaseStatus.REJECTED})


class CaseStore(Protocol):
    """The straight-to-the-database case writes of `calllog.store.CallLogStore`."""

    async def create_case(self, case: Case) -> Case: ...

    async def update_case(self, case_id: int, *, status: CaseStatus | str, by: str,
                          at: datetime, agency: str | None = None, note: str = "") -> Case: ...


class Refused(Exception):
    """A change the person must correct; the message says what, in Vietnamese."""


def agencies_of(config: HotlineConfig) -> tuple[str, ...]:
    """The agencies a case can be forwarded to: the branches' own first, then the
    stations' (departments, districts, communes), each once, in the YAML's order."""
    names: Iterable[str] = (*(b.agency for b in config.branches),
                            *(s.agency for s in config.stations))
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class FollowupWork:
    """What the operating team and the agencies do on the console: call back, open
    a case, move it on."""

    callbacks: CallbackActions
    cases: CaseStore
    agencies: tuple[str, ...]
    callback_queue: CallbackQueue | None = None
    """Where an operator's "Gọi lại" goes for the service to make (None: not offered)."""

    async def request_callback(self, call: CallRecord, *, desk: str, by: str, at: datetime,
                               config: HotlineConfig) -> bool:
        """Ask the service to ring `desk`, then call the citizen back through the trunk.
        False if the call back is no longer pending."""
        if self.callback_queue is None or not config.callback.enabled:
            raise Refused("Chưa cấu hình đường gọi ra: hãy gọi lại bằng điện thoại.")
        if config.desk(desk) is None:
            raise Refused("Hãy chọn máy bàn của quý vị trong danh sách.")
        verdict = check_number(call.caller_number, config.callback.allowed)
        if not verdict.allowed:
            raise Refused(f"Không thể gọi lại số {call.caller_number}: {verdict.reason}.")
        return await self.callback_queue.request(QueuedCallback(
            call_id=call.call_id, number=verdict.number, branch=call.branch_key,
            joined_at=call.started_at, requested_by=by, requested_at=at, desk=desk))

    async def record_callback(self, call_id: str, *, result: str, note: str, by: str,
                              at: datetime) -> bool:
        """False if the call back was not pending (done meanwhile, or never needed)."""
        try:
            outcome = CallbackResult(result)
        except ValueError:
            raise Refused("Hãy chọn kết quả gọi lại.") from None
        return await self.callbacks.record(call_id, at=at, by=by, result=outcome,
                                           note=_note(note))

    async def open_case(self, call: CallRecord, *, by: str, at: datetime, note: str,
                        agency: str | None = None) -> Case:
        """A case for `call` (with its voice message, if it left one), received now;
        `agency`: already its agency's (opened by that agency's staff)."""
        return await self.cases.create_case(Case(
            id=None, call_id=call.call_id,
            category=call.branch_name or DEFAULT_CATEGORY,
            opened_at=at, opened_by=by, agency=agency, recording=call.recording,
            history=(CaseChange(at, by, CaseStatus.RECEIVED, agency=agency,
                                note=_note(note)),),
        ))

    async def change_case(self, case_id: int, current: CaseStatus, *, status: str,
                          agency: str | None, note: str, by: str, at: datetime) -> Case:
        """Move the case from `current` to `status` (the same status: add a note)."""
        try:
            new = CaseStatus(status)
        except ValueError:
            raise Refused("Hãy chọn bước xử lý tiếp theo.") from None
        note = _note(note)
        if new is not current and new not in allowed_next(current):
            raise Refused(f"Không thể chuyển từ «{CASE_STATUS_LABELS[current]}» sang "
                              f"«{CASE_STATUS_LABELS[new]}».")
        if new is current and not note:
            raise Refused("Hãy nhập ghi chú cần lưu.")
        forwarding = new is CaseStatus.FORWARDED and new is not current
        if forwarding and agency not in self.agencies:
            raise Refused("Chuyển cơ quan xử lý: hãy chọn một cơ quan trong danh sách.")
        if new in NEEDS_NOTE and not note:
            raise Refused(f"«{CASE_STATUS_LABELS[new]}»: hãy ghi kết quả hoặc lý do "
                              "vào ô ghi chú.")
        try:
            return await self.cases.update_case(
                case_id, status=new, by=by, at=at, note=note,
                agency=agency if forwarding else None)
        except CaseTransitionError as exc:
            if exc.meanwhile:
                raise Refused("Phản ánh vừa được người khác thay đổi; không có gì được "
                                  "lưu. Hãy xem lại rồi thử lại.") from exc
            raise Refused("Thay đổi này không hợp lệ với trạng thái hiện tại.") from exc
        except UnknownCaseError as exc:
            raise Refused("Không tìm thấy phản ánh này.") from exc


def _note(note: str) -> str:
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise Refused(f"Ghi chú dài quá {NOTE_MAX} ký tự.")
    return note
