"""What a follower is told and how their messages are read (no database, no socket)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calllog.model import CaseStatus
from calllog.zalo_cases import LookupCase
from tests.zalo_fake import DATA
from zalo.cases import case_code_in, lookup_answer, not_found, same_phone, written_forms
from zalo.models import WebhookEvent


@pytest.mark.parametrize(("text", "code"), [
    ("PA-2026-00042", "PA-2026-00042"), ("pa-2026-00042", "PA-2026-00042"),
    (" PA 2026 00042. ", "PA-2026-00042"), ("PA202600042", "PA-2026-00042"),
    ("Mã PA-2026-00042 sao rồi?", None), ("hồ sơ", None), ("", None),
])
def test_a_case_code_is_read_with_spaces_and_lowercase(text: str, code: str | None) -> None:
    assert case_code_in(text) == code


def test_a_lookup_answer_gives_status_agency_and_deadline_in_local_dd_mm_yyyy() -> None:
    case = LookupCase("PA-2026-00042", CaseStatus.VERIFYING, "Sở Tư pháp",
                      datetime(2026, 1, 19, 17, 30, tzinfo=UTC), None, None, None)
    assert lookup_answer(case) == ("Phản ánh PA-2026-00042: đang xác minh, xử lý. Cơ quan xử "
                                   "lý: Sở Tư pháp. Hạn giải quyết: 20/01/2026.")
    assert "PA-2026-00042" in not_found("PA-2026-00042")


def test_phones_match_however_written_and_landlines_never() -> None:
    assert same_phone("84912345678", "0912 345 678")
    assert same_phone("+84912345678", "0912345678")
    assert not same_phone("84912345678", "0987654321")
    assert not same_phone("02933123456", "02933123456")
    assert not same_phone(None, "0912345678")
    assert written_forms("84912345678") == [
        "0912345678", "84912345678", "+84912345678", "0084912345678"]


def test_the_recorded_user_submit_info_event_reads_name_and_phone() -> None:
    event = WebhookEvent.model_validate_json(
        (DATA / "user_submit_info.json").read_text(encoding="utf-8"))
    assert event.info is not None
    assert (event.info.name, event.info.phone) == ("Nguyễn Thị Lan", "84912345678")
    assert event.user_id == "2468013579246801357"
