"""The console's follow-up rules without a database: what a case change needs, how an
age is written, which agencies a case can go to (console/casework.py, callbacks.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calllog.model import Case, CaseChange, CaseStatus
from console.callbacks import duration_vn
from console.casework import FollowupWork, Refused, agencies_of
from tests.console_client import hotline_config

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


class FakeCaseStore:
    def __init__(self) -> None:
        self.updates: list[dict[str, object]] = []

    async def create_case(self, case: Case) -> Case:
        return case

    async def update_case(self, case_id: int, *, status: CaseStatus | str, by: str,
                          at: datetime, agency: str | None = None, note: str = "") -> Case:
        self.updates.append({"status": status, "agency": agency, "note": note})
        return Case(case_id, None, "Chung", at, by, CaseStatus(status), agency,
                    history=(CaseChange(at, by, CaseStatus(status), agency, note),))


def work(store: FakeCaseStore) -> FollowupWork:
    return FollowupWork(callbacks=None, cases=store,  # type: ignore[arg-type]
                        agencies=("Sở Tư pháp", "Sở Tài chính"))


@pytest.mark.parametrize(("span", "said"), [
    (timedelta(seconds=59), "0 phút"), (timedelta(minutes=12), "12 phút"),
    (timedelta(hours=2), "2 giờ"), (timedelta(hours=4, minutes=5), "4 giờ 5 phút"),
    (timedelta(days=1), "1 ngày"), (timedelta(days=3, hours=2, minutes=9), "3 ngày 2 giờ"),
    (timedelta(minutes=-5), "0 phút"),
])
def test_an_age_is_written_as_people_say_it(span: timedelta, said: str) -> None:
    assert duration_vn(span) == said


def test_cases_go_to_the_branches_agencies_first_then_the_stations_each_once() -> None:
    config = hotline_config()
    names = agencies_of(config)
    branch_agencies = list(dict.fromkeys(b.agency for b in config.branches))
    assert list(names[:len(branch_agencies)]) == branch_agencies
    assert len(names) == len(set(names))
    assert {s.agency for s in config.stations} <= set(names)


async def test_forwarding_passes_the_agency_and_a_note_only_change_keeps_it() -> None:
    store = FakeCaseStore()
    await work(store).change_case(1, CaseStatus.RECEIVED, status="forwarded",
                                  agency="Sở Tư pháp", note=" chuyển ", by="lan", at=AT)
    await work(store).change_case(1, CaseStatus.FORWARDED, status="forwarded",
                                  agency="Sở Tư pháp", note="đã gọi Sở", by="lan", at=AT)
    await work(store).change_case(1, CaseStatus.FORWARDED, status="verifying",
                                  agency="Sở Tư pháp", note="", by="lan", at=AT)
    assert store.updates == [
        {"status": CaseStatus.FORWARDED, "agency": "Sở Tư pháp", "note": "chuyển"},
        {"status": CaseStatus.FORWARDED, "agency": None, "note": "đã gọi Sở"},
        {"status": CaseStatus.VERIFYING, "agency": None, "note": ""},
    ]


@pytest.mark.parametrize(("current", "status", "agency", "note", "message"), [
    (CaseStatus.RECEIVED, "forwarded", None, "", "chọn một cơ quan"),
    (CaseStatus.VERIFYING, "forwarded", "Sở Ngoài Danh Sách", "", "chọn một cơ quan"),
    (CaseStatus.VERIFYING, "resolved", None, " ", "ghi kết quả hoặc lý do"),
    (CaseStatus.FORWARDED, "rejected", None, "", "ghi kết quả hoặc lý do"),
    (CaseStatus.RECEIVED, "resolved", None, "xong", "Không thể chuyển"),
    (CaseStatus.RESOLVED, "verifying", None, "mở lại", "Không thể chuyển"),
    (CaseStatus.RESOLVED, "resolved", None, "", "Hãy nhập ghi chú"),
    (CaseStatus.RECEIVED, "đã xong", None, "x", "Hãy chọn bước"),
    (CaseStatus.RECEIVED, "rejected", None, "x" * 2001, "Ghi chú dài quá"),
])
async def test_a_change_missing_what_it_needs_is_refused_before_the_store(
    current: CaseStatus, status: str, agency: str | None, note: str, message: str,
) -> None:
    store = FakeCaseStore()
    with pytest.raises(Refused, match=message):
        await work(store).change_case(7, current, status=status, agency=agency, note=note,
                                      by="lan", at=AT)
    assert store.updates == []
