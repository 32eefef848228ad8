"""The backup key: ``PATRON_BACKUP_KEY`` or ``backup.key`` in the data directory.

The key is 32 random bytes written as URL-safe base64. It is not the field-encryption keyring:
a backup key opens every backup ever made with it, so it is kept apart from the backups (see
docs/operations.md). The key file is created (mode 0600) the first time a backup is made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from patron.backup.errors import BackupKeyInvalid, BackupKeyMissing
from patron.config import Settings

KEY_FILE = "backup.key"
KEY_BYTES = 32


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise BackupKeyInvalid(
            f"The backup key in {source} must be {KEY_BYTES} bytes written as URL-safe base64 "
            "(44 characters)."
        )
    return key


def key_id(key: bytes) -> bytes:
    """Eight bytes that name a key without revealing it, stored in each backup's header."""
    return hashlib.sha256(b"patron-backup-key-id\x00" + key).digest()[:8]


def load_key(settings: Settings, *, create: bool) -> bytes:
    """The configured key; with ``create``, a new key file when there is none yet."""
    if settings.backup_key is not None:
        return decode_key(settings.backup_key.get_secret_value(), "PATRON_BACKUP_KEY")
    path = key_path(settings)
    if path.exists():
        return decode_key(path.read_text(encoding="ascii"), str(path))
    if not create:
        raise BackupKeyMissing(
            f"No backup key: set PATRON_BACKUP_KEY or put the key file at {path}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = new_key_text()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(text + "\n")
    return decode_key(text, str(path))
