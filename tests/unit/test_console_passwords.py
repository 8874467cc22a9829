"""The one rule for new passwords (console forms and `hotline users` alike) and the
Unicode normalisation of passwords before hashing and verifying."""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher

from console.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    Weakness,
    WeakPasswordError,
    check_strength,
    hash_password,
    verify_password,
    weakness,
)


@pytest.mark.parametrize(("password", "username", "expected"), [
    ("x" * (MIN_LENGTH - 1), "lan", Weakness.SHORT),
    ("x" * (MAX_LENGTH + 1), "lan", Weakness.LONG),
    (" " * 10, "lan", Weakness.BLANK),
    ("\t \u00a0" * 4, "lan", Weakness.BLANK),
    ("quantri-hau-giang", "quantri-hau-giang", Weakness.IS_USERNAME),
    (" Quantri-Hau-Giang ", "quantri-hau-giang", Weakness.IS_USERNAME),
    ("mật khẩu đủ dài 2026", "lan", None),
    ("x" * MIN_LENGTH, "lan", None),
])
def test_the_password_rule(password: str, username: str, expected: Weakness | None) -> None:
    assert weakness(password, username) is expected


def test_a_weak_password_is_a_value_error_saying_why() -> None:
    with pytest.raises(WeakPasswordError, match="only spaces") as caught:
        check_strength(" " * 12, "lan")
    assert isinstance(caught.value, ValueError) and caught.value.weakness is Weakness.BLANK
    with pytest.raises(ValueError, match="user name"):
        hash_password("nguyen-van-an", username="nguyen-van-an")


def test_composed_and_decomposed_accents_are_the_same_password() -> None:
    composed = "mật khẩu đủ dài 2026"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert verify_password(hash_password(decomposed), composed)
    assert verify_password(hash_password(composed), decomposed)


def test_a_hash_made_before_normalisation_from_an_ascii_password_still_verifies() -> None:
    old_hash = PasswordHasher().hash("an old ascii password")
    assert verify_password(old_hash, "an old ascii password")
    assert not verify_password(old_hash, "another password")
