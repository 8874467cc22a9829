"""Password hashes: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile),
and the one rule a new password follows (the console's forms and `hotline users` share it).

Passwords are normalised to Unicode NFC before hashing and verifying: "mật khẩu" typed
with composed or decomposed accents is the same password. NFC leaves ASCII unchanged, so
hashes made before this normalisation from ASCII passwords still verify.
"""

from __future__ import annotations

import unicodedata
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256

_HASHER = PasswordHasher()
# A hash of nothing anyone knows: an unknown user name costs as much as a wrong
# password, so the answer's time does not tell which names exist.
_DUMMY = _HASHER.hash("hotline: no such user")


class Weakness(Enum):
    """Why a new password is refused (the console says it in Vietnamese, the CLI in
    English)."""

    SHORT = f"a password needs at least {MIN_LENGTH} characters"
    LONG = f"a password has at most {MAX_LENGTH} characters"
    BLANK = "a password cannot be only spaces"
    IS_USERNAME = "a password cannot be the user name"


class WeakPasswordError(ValueError):
    def __init__(self, weakness: Weakness) -> None:
        super().__init__(weakness.value)
        self.weakness = weakness


def normalised(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def weakness(password: str, username: str) -> Weakness | None:
    """What is wrong with `password` as `username`'s new password; None: nothing."""
    password = normalised(password)
    if len(password) < MIN_LENGTH:
        return Weakness.SHORT
    if len(password) > MAX_LENGTH:
        return Weakness.LONG
    if not password.strip():
        return Weakness.BLANK
    if password.strip().casefold() == normalised(username).strip().casefold():
        return Weakness.IS_USERNAME
    return None


def check_strength(password: str, username: str) -> None:
    found = weakness(password, username)
    if found is not None:
        raise WeakPasswordError(found)


def hash_password(password: str, *, username: str = "") -> str:
    """The argon2 hash of a password that follows the rule (as `username`'s, when given)."""
    check_strength(password, username)
    return _HASHER.hash(normalised(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown user (None) takes the same time."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, normalised(password)) and (
            password_hash is not None)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
