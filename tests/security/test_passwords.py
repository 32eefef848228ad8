from __future__ import annotations

import pytest

from patron.errors import ValidationFailed
from patron.security.passwords import hash_password, validate_password, verify_password


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapl")
    assert not verify_password(None, "anything")


@pytest.mark.parametrize(
    ("password", "code"),
    [("short", "too_short"), ("password123", "common"), ("x" * 129, "too_long")],
)
def test_weak_passwords_are_refused(password: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_password(password)
    assert raised.value.extra["errors"][0]["code"] == code


def test_long_passphrases_are_fine() -> None:
    validate_password("a long passphrase with spaces and ünïcode " * 2)
