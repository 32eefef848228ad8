"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations)."""

from __future__ import annotations

import contextlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from patron.errors import ValidationFailed

_hasher = PasswordHasher()

MIN_LENGTH = 8
MAX_LENGTH = 128

# A short list of the passwords seen most often in breaches; refused outright.
COMMON_PASSWORDS = frozenset(
    [
        "123456",
        "123456789",
        "12345678",
        "password",
        "qwerty123",
        "qwerty",
        "1234567890",
        "111111",
        "1234567",
        "iloveyou",
        "password1",
        "abc123",
        "password123",
        "00000000",
        "11111111",
        "12341234",
        "123123123",
        "qwertyuiop",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "letmein123",
        "welcome1",
        "admin123",
        "administrator",
        "passw0rd",
        "p@ssw0rd",
        "changeme",
        "trustno1",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "dragon123",
        "monkey123",
        "superman",
        "starwars",
        "whatever",
        "qwerty12",
        "asdfghjkl",
        "zxcvbnm123",
        "88888888",
        "987654321",
        "iloveyou1",
        "charlie1",
        "michael1",
        "patron123",
    ]
)


def validate_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed.field(
            "password", f"A password needs at least {MIN_LENGTH} characters.", "too_short"
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed.field(
            "password", f"A password may have at most {MAX_LENGTH} characters.", "too_long"
        )
    if password.lower() in COMMON_PASSWORDS:
        raise ValidationFailed.field(
            "password", "This password is among the most common ones; choose another.", "common"
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        burn_verify_time()
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def generate_password() -> str:
    """A random password for the first admin and demo users (about 120 bits)."""
    return secrets.token_urlsafe(15)


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def burn_verify_time() -> None:
    """Verify against a dummy hash, so a missing account takes as long as a wrong password."""
    with contextlib.suppress(VerifyMismatchError):
        _hasher.verify(_DUMMY_HASH, "not-the-password")
