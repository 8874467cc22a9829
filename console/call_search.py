"""The calls search form: what people type (dd/mm/yyyy, a piece of a number) into a
`CallFilter`, and back into the query string of the next page.

Pure: the days are the province's (Asia/Ho_Chi_Minh): "từ 01/12/2026 đến 07/12/2026"
is every call from 01/12 00:00 up to 08/12 00:00 local time, in UTC for the query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from calllog.model import Outcome
from calllog.queries import CallFilter
from console.fmt import LOCAL

PAGE_SIZE = 50
COUNT_CAP = 10_000
"""The search counts its matches up to here, then says "hơn 10.000" (more than)."""
MAX_PAGE = 100_000
FIELDS = ("from", "to", "number", "branch", "agency", "outcome")


@dataclass(frozen=True)
class CallSearch:
    """The form as given (to fill it in again) and what it means."""

    values: dict[str, str]
    filters: CallFilter
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def query(self, page: int) -> str:
        """The query string of another page of the same search."""
        given = {k: v for k, v in self.values.items() if v}
        return urlencode({**given, "page": page} if page > 1 else given)


def parse_day(text: str) -> date:
    """"07/12/2026" (or 7/12/2026) -> a date; ValueError otherwise."""
    return datetime.strptime(text.strip(), "%d/%m/%Y").date()


def day_start(day: date) -> datetime:
    """Midnight opening `day` in the province, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=LOCAL)


def parse_search(params: Mapping[str, str], agency_scope: str | None = None) -> CallSearch:
    """The search the query string asks for. Errors are Vietnamese sentences for the
    page; a field in error is left out of the filter. `agency_scope` is the agency an
    agency user is bound to: it is the agency filter when the form names none."""
    values = {name: params.get(name, "").strip() for name in FIELDS}
    errors: list[str] = []
    since = until = None
    try:
        since = day_start(parse_day(values["from"])) if values["from"] else None
    except ValueError:
        errors.append(f"Từ ngày “{values['from']}” không đúng dạng ngày/tháng/năm.")
    try:
        until = (day_start(parse_day(values["to"]) + timedelta(days=1))
                 if values["to"] else None)
    except ValueError:
        errors.append(f"Đến ngày “{values['to']}” không đúng dạng ngày/tháng/năm.")
    if since is not None and until is not None and until <= since:
        errors.append("Đến ngày phải sau hoặc bằng từ ngày.")
        until = None
    branch = None
    if values["branch"]:
        if values["branch"].isdigit() and 1 <= int(values["branch"]) <= 9:
            branch = int(values["branch"])
        else:
            errors.append(f"Lĩnh vực “{values['branch']}” không có.")
    outcome = None
    if values["outcome"]:
        try:
            outcome = Outcome(values["outcome"])
        except ValueError:
            errors.append(f"Kết quả “{values['outcome']}” không có.")
    number = "".join(ch for ch in values["number"] if not ch.isspace())
    page_text = params.get("page", "1").strip()
    page = int(page_text) if page_text.isdigit() and 1 <= int(page_text) <= MAX_PAGE else 1
    filters = CallFilter(
        since=since, until=until, number=number or None, number_prefix=True,
        branch_key=branch, agency=values["agency"] or agency_scope, outcome=outcome)
    return CallSearch(values, filters, page, errors)
