"""Caller numbers as the call log keeps them: a number to call back, or unknown."""

from __future__ import annotations

import pytest

from calllog.callers import (
    AS_GIVEN_MAX_LEN,
    UNKNOWN_CALLER,
    callback_for,
    number_as_given,
    stored_caller_number,
)
from calllog.model import Callback


@pytest.mark.parametrize("number", ["0939123456", "+84939123456", "113", "1201",
                                    "9" * 15, "+" + "9" * 15])
def test_a_phone_number_is_kept_and_can_be_called_back(number: str) -> None:
    assert stored_caller_number(number) == number
    assert callback_for(stored_caller_number(number)) is Callback.PENDING


@pytest.mark.parametrize("given", [
    "=1+2", "'%3B--", "9" * 500, "", "anonymous", "12", "0939 123 456", "+", "++84939123",
    "0939123456\n", "\n0939123456", "٠٩٣٩١٢٣٤٥٦", "9" * 16,
])
def test_anything_else_is_stored_as_unknown_and_never_called_back(given: str) -> None:
    assert stored_caller_number(given) == UNKNOWN_CALLER
    assert callback_for(stored_caller_number(given)) is Callback.NO_NUMBER


def test_the_number_as_given_is_kept_for_the_timeline_truncated() -> None:
    assert number_as_given("=1+2") == "=1+2"
    assert number_as_given("9" * 500) == "9" * AS_GIVEN_MAX_LEN
