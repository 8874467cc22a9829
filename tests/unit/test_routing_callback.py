"""The call-back allow-list and retry plan (`routing.callback`): a caller id is set by the
caller, so only national numbers the YAML allows are ever dialled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from routing.callback import (
    LANDLINE,
    MOBILE,
    after_attempt,
    check_number,
    citizen_result,
    desk_display,
    national,
)
from routing.config import CallbackConfig

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("number", [
    "0912345678", "0381234567", "0561234567", "0701234567", "0861234567", "0999999999",
])
def test_vietnamese_mobiles_are_allowed(number: str) -> None:
    verdict = check_number(number)
    assert verdict.allowed and verdict.number == number


@pytest.mark.parametrize("number", ["02933123456", "02438123456", "02838123456"])
def test_vietnamese_landlines_are_allowed(number: str) -> None:
    assert check_number(number).allowed


@pytest.mark.parametrize(("given", "dialled"), [
    ("+84912345678", "0912345678"),
    ("84912345678", "0912345678"),
    ("+842933123456", "02933123456"),
    ("842933123456", "02933123456"),
])
def test_plus_84_and_84_forms_are_dialled_as_the_national_number(given: str, dialled: str) -> None:
    verdict = check_number(given)
    assert verdict.allowed and verdict.number == dialled


@pytest.mark.parametrize("number", [
    "0084912345678", "00123456789", "+12025550123", "+447911123456", "001900123456",
])
def test_international_numbers_are_never_called_back(number: str) -> None:
    verdict = check_number(number)
    assert not verdict.allowed
    assert "quốc tế" in verdict.reason


@pytest.mark.parametrize("number", ["19001080", "1900123456", "18001090", "1800123456"])
def test_premium_and_free_service_numbers_are_refused_even_if_a_pattern_lists_them(
        number: str) -> None:
    verdict = check_number(number)
    assert not verdict.allowed and "1900/1800" in verdict.reason
    assert not check_number(number, [MOBILE, LANDLINE, r"1[89]00[0-9]{4,6}"]).allowed


@pytest.mark.parametrize("number", [
    "113", "1022", "091234567", "09123456789", "0112345678", "0412345678", "0212345678",
    "0612345678", "0012", "9123456789",
])
def test_short_codes_and_wrong_lengths_or_prefixes_are_refused(number: str) -> None:
    assert not check_number(number).allowed


@pytest.mark.parametrize("number", [
    "", " ", "0912 345 678", "0912-345-678", "09123456a8", "0912345678;1900", "*0912345678",
    "unknown", "+", "0912345678\n", "\u0660912345678", "+84 912345678",
    "9" * 500,
])
def test_anything_with_a_non_digit_is_refused(number: str) -> None:
    verdict = check_number(number)
    assert not verdict.allowed and verdict.reason


def test_a_planted_premium_number_in_plus_84_form_is_refused() -> None:
    assert not check_number("+8419001080").allowed
    assert not check_number("8419001080").allowed


@pytest.mark.parametrize("given", [
    "19001234", "1900123456", "18001234", "113", "1", "0", "0123", "0912345678999",
    "+84190012345", "001234567890", "912345678",
])
def test_a_wide_pattern_cannot_open_numbers_that_are_not_national(given: str) -> None:
    for wide in ([r".*"], [r"\d+"], [r"[0-9]{1,15}"], [r"0[35789][0-9]{8,}"]):
        assert not check_number(given, wide).allowed, (given, wide)
    assert check_number("0912345678", [r".*"]).allowed


@pytest.mark.parametrize("wide", [
    r".*", r"\d+", r"[0-9]{1,15}", r"0[35789][0-9]{8,}", r"1900[0-9]{4,6}", r"11[345]",
    r"0[0-9]*",
])
def test_the_config_refuses_a_pattern_that_matches_a_probe_number(wide: str) -> None:
    with pytest.raises(ValidationError, match="too wide") as raised:
        CallbackConfig(trunk="pstn", allowed=[MOBILE, wide])
    assert repr(wide) in str(raised.value)
    assert CallbackConfig(trunk="pstn", allowed=[MOBILE, LANDLINE, r"0[35789][0-9]{8,9}"])


def test_national_form() -> None:
    assert national("+84912345678") == "0912345678"
    assert national("0084912345678") is None
    assert national("+1202") is None
    assert national("09a") is None


def test_the_patterns_are_matched_whole() -> None:
    assert not check_number("0912345678", [r"09"]).allowed
    assert check_number("0912345678", [r"09[0-9]{8}"]).allowed


def test_a_citizen_who_does_not_answer_is_tried_again_after_retry_seconds() -> None:
    step = after_attempt("no_answer", 1, attempts=3, retry_seconds=120, now=NOW)
    assert step.retry and step.at == NOW + timedelta(seconds=120)
    step = after_attempt("busy", 2, attempts=3, retry_seconds=120, now=NOW)
    assert step.retry


def test_after_the_last_attempt_the_call_back_stays_on_the_list_with_a_reason() -> None:
    step = after_attempt("busy", 3, attempts=3, retry_seconds=120, now=NOW)
    assert not step.retry and step.at is None
    assert step.reason == "Máy bận sau 3 lần gọi lại tự động"


def test_an_answered_call_back_or_a_number_that_does_not_exist_is_not_retried() -> None:
    assert not after_attempt("answered", 1, attempts=3, retry_seconds=60, now=NOW).retry
    step = after_attempt("wrong_number", 1, attempts=3, retry_seconds=60, now=NOW)
    assert not step.retry and step.reason == "Số máy không tồn tại"


@pytest.mark.parametrize(("cause", "result"), [
    (17, "busy"), (21, "busy"), (19, "no_answer"), (18, "no_answer"), (16, "no_answer"),
    (1, "wrong_number"), (28, "wrong_number"), (34, "unreachable"), (None, "unreachable"),
])
def test_citizen_results_from_q850_causes(cause: int | None, result: str) -> None:
    assert citizen_result(cause) == result


def test_the_desk_display() -> None:
    assert desk_display("0912345678") == "Gọi lại: 0912345678"
