"""Password hashes: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10

_HASHER = PasswordHasher()
# A hash of nothing anyone knows: an unknown user name costs as much as a wrong
# password, so the answer's time does not tell which names exist.
_DUMMY = _HASHER.hash("hotline: no such user")


def hash_password(password: str) -> str:
    check_strength(password)
    return _HASHER.hash(password)


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown user (None) takes the same time."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
