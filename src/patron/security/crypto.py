"""Field-level encryption: the keyring, AES-256-GCM envelopes and the keyed blind index.

A value is stored as ``v1:<key id>:<base64(nonce + ciphertext + tag)>``: a fresh 96-bit nonce per
value, and associated data naming the table and column (``customer.email``) and the key id, so a
value copied into another column, or relabelled with another key id, fails to decrypt instead of
reading as something else. Keys come from ``PATRON_ENCRYPTION_KEYS`` or ``keyring.json`` in the data
directory (mode 0600), never from the database. Exact-match lookups use a blind index: HMAC-SHA256
of the normalised value under a key of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from patron.config import Settings
from patron.errors import PatronError

ENVELOPE_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
DATA = "data"
INDEX = "index"
PURPOSES = (DATA, INDEX)
KEYRING_FILE = "keyring.json"
RELOAD_SECONDS = 1.0  # how often a running process looks for a changed keyring file


class EncryptionKeyError(PatronError):
    """The keys to read or write encrypted data are missing or wrong. Never carries key material."""

    code = "encryption_key_unavailable"
    title = "Encrypted data cannot be read or written"
    status = 500


@dataclass(frozen=True)
class Key:
    id: str
    purpose: str
    material: bytes = field(repr=False)
    created_at: str = ""


def new_key(purpose: str) -> Key:
    return Key(
        id=secrets.token_hex(4),
        purpose=purpose,
        material=secrets.token_bytes(KEY_BYTES),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


@dataclass
class Keyring:
    """Every key by id; for each purpose the current one (used for writes) is named."""

    keys: dict[str, Key]
    current: dict[str, str]
    from_environment: bool = False
    rotation: dict[str, Any] | None = None
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for purpose in PURPOSES:
            key_id = self.current.get(purpose)
            if key_id is None or key_id not in self.keys:
                raise EncryptionKeyError(f"The keyring has no current {purpose} key.")
            if self.keys[key_id].purpose != purpose:
                raise EncryptionKeyError(f"Key {key_id} is not a {purpose} key.")
        for key in self.keys.values():
            if len(key.material) != KEY_BYTES:
                raise EncryptionKeyError(f"Key {key.id} is not a 256-bit key.")

    @classmethod
    def generate(cls) -> Keyring:
        data, index = new_key(DATA), new_key(INDEX)
        return cls(keys={data.id: data, index.id: index}, current={DATA: data.id, INDEX: index.id})

    def with_new_keys(self, purposes: tuple[str, ...]) -> Keyring:
        """A copy with a fresh current key for each of ``purposes``; the old ones stay readable."""
        keys, current = dict(self.keys), dict(self.current)
        for purpose in purposes:
            key = new_key(purpose)
            keys[key.id] = key
            current[purpose] = key.id
        return Keyring(keys=keys, current=current, rotation=self.rotation)

    def current_key(self, purpose: str) -> Key:
        return self.keys[self.current[purpose]]

    # -- encryption --------------------------------------------------------------------------

    def _cipher(self, key: Key) -> AESGCM:
        cipher = self._ciphers.get(key.id)
        if cipher is None:
            cipher = self._ciphers[key.id] = AESGCM(key.material)
        return cipher

    def encrypt(self, context: str, plaintext: str) -> str:
        key = self.current_key(DATA)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(key).encrypt(nonce, plaintext.encode(), _aad(context, key.id))
        return f"{ENVELOPE_VERSION}:{key.id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, context: str, stored: str) -> str:
        """The plain value. Values written before encryption was introduced (no envelope) are
        returned as they are, until ``patron keys rotate`` encrypts them."""
        if not is_envelope(stored):
            return stored
        key_id, payload = split_envelope(stored)
        key = self.keys.get(key_id)
        if key is None or key.purpose != DATA:
            raise EncryptionKeyError(
                f"A value in {context} is encrypted with key {key_id}, which the keyring lacks."
            )
        try:
            raw = base64.b64decode(payload, validate=True)
            plain = self._cipher(key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(context, key_id)
            )
        except (InvalidTag, ValueError) as exc:
            raise EncryptionKeyError(
                f"A value in {context} does not decrypt with key {key_id}: "
                "the key is wrong or the value was altered."
            ) from exc
        return plain.decode()

    # -- blind index -------------------------------------------------------------------------

    def blind_index(self, kind: str, value: str | None) -> str | None:
        """The index of ``value`` under the current index key (what writes store)."""
        return _blind_index(self.current_key(INDEX), kind, value)

    def blind_indexes(self, kind: str, value: str | None) -> list[str]:
        """The index of ``value`` under every index key: lookups match any of them, so they keep
        working while a rotation recomputes the column."""
        found = [
            _blind_index(key, kind, value) for key in self.keys.values() if key.purpose == INDEX
        ]
        return [index for index in found if index is not None]

    # -- storage -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "current": dict(self.current),
            "rotation": self.rotation,
            "keys": [
                {
                    "id": key.id,
                    "purpose": key.purpose,
                    "created_at": key.created_at,
                    "key": base64.b64encode(key.material).decode("ascii"),
                }
                for key in self.keys.values()
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> Keyring:
        try:
            keys = {
                entry["id"]: Key(
                    id=str(entry["id"]),
                    purpose=str(entry["purpose"]),
                    material=base64.b64decode(entry["key"], validate=True),
                    created_at=str(entry.get("created_at", "")),
                )
                for entry in data["keys"]
            }
            return cls(keys=keys, current=dict(data["current"]), rotation=data.get("rotation"))
        except (KeyError, TypeError, ValueError) as exc:
            raise EncryptionKeyError("The keyring file is not a valid Patron keyring.") from exc

    @classmethod
    def parse_environment(cls, value: str) -> Keyring:
        """``PATRON_ENCRYPTION_KEYS``: comma-separated ``purpose:id:base64key`` entries; the first
        key of each purpose is the current one."""
        keys: dict[str, Key] = {}
        current: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            parts = entry.split(":")
            if len(parts) != 3 or parts[0] not in PURPOSES or not parts[1].isalnum():
                raise EncryptionKeyError(
                    "PATRON_ENCRYPTION_KEYS must be comma-separated purpose:id:base64key entries "
                    "(purpose 'data' or 'index', id letters and digits)."
                )
            purpose, key_id, material = parts
            try:
                decoded = base64.b64decode(material, validate=True)
            except ValueError as exc:
                raise EncryptionKeyError(f"Key {key_id} is not valid base64.") from exc
            keys[key_id] = Key(id=key_id, purpose=purpose, material=decoded)
            current.setdefault(purpose, key_id)
        return cls(keys=keys, current=current, from_environment=True)


def _aad(context: str, key_id: str) -> bytes:
    return f"patron/{ENVELOPE_VERSION}/{context}/{key_id}".encode()


def is_envelope(stored: str) -> bool:
    return stored.startswith(ENVELOPE_VERSION + ":")


def split_envelope(stored: str) -> tuple[str, str]:
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != ENVELOPE_VERSION:
        raise EncryptionKeyError("A stored value is not a Patron encryption envelope.")
    return parts[1], parts[2]


# -- normalisation for the blind index ---------------------------------------------------------


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    """E.164 digits (no '+') when the number parses as international, else its digits."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    except phonenumbers.NumberParseException:
        pass
    return "".join(ch for ch in value if ch.isdigit())


NORMALISERS = {"email": normalise_email, "phone": normalise_phone}


def _blind_index(key: Key, kind: str, value: str | None) -> str | None:
    if value is None:
        return None
    normalised = NORMALISERS[kind](value)
    if not normalised:
        return None
    message = f"{kind}:{normalised}".encode()
    return hmac.new(key.material, message, hashlib.sha256).hexdigest()


# -- where the keys come from ------------------------------------------------------------------


def keyring_path(settings: Settings) -> Path:
    return settings.data_dir / KEYRING_FILE


def load_keyring(settings: Settings) -> Keyring:
    """The keyring of ``settings``: ``PATRON_ENCRYPTION_KEYS`` if set, else the keyring file."""
    if settings.encryption_keys is not None:
        return Keyring.parse_environment(settings.encryption_keys.get_secret_value())
    path = keyring_path(settings)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise EncryptionKeyError(
            "No encryption keys: PATRON_ENCRYPTION_KEYS is not set and the data directory has no "
            "keyring.json. Run 'patron init' to create one, or restore the keyring from backup."
        ) from None
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise EncryptionKeyError(
            "keyring.json can be read by other users; restrict it with 'chmod 600' first."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EncryptionKeyError("The keyring file is not valid JSON.") from exc
    return Keyring.from_json(data)


def save_keyring(settings: Settings, keyring: Keyring) -> None:
    """Write the keyring file atomically, readable by its owner only."""
    if keyring.from_environment:
        raise EncryptionKeyError("Keys from PATRON_ENCRYPTION_KEYS cannot be written to a file.")
    path = keyring_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{KEYRING_FILE}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(keyring.to_json(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _active.forget()


def ensure_keyring(settings: Settings) -> bool:
    """Create the keyring file unless keys are already configured; True when one was created."""
    if settings.encryption_keys is not None or keyring_path(settings).exists():
        return False
    save_keyring(settings, Keyring.generate())
    return True


class _ActiveKeyring:
    """The keyring the column types use in this process, reloaded when its file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._keyring: Keyring | None = None
        self._stamp: object = None
        self._checked_at = 0.0

    def configure(self, settings: Settings) -> None:
        with self._lock:
            self._settings = settings
            self._keyring, self._stamp, self._checked_at = None, None, 0.0

    def use(self, keyring: Keyring | None) -> None:
        """Pin a keyring (tests, tools); None goes back to the configured source."""
        with self._lock:
            self._keyring, self._stamp = keyring, ("pinned" if keyring else None)
            self._checked_at = float("inf") if keyring else 0.0

    def forget(self) -> None:
        with self._lock:
            if self._stamp != "pinned":
                self._keyring, self._stamp, self._checked_at = None, None, 0.0

    def get(self, *, fresh: bool = False) -> Keyring:
        now = time.monotonic()
        keyring = self._keyring
        if keyring is not None and (
            self._stamp == "pinned" or (not fresh and now - self._checked_at < RELOAD_SECONDS)
        ):
            return keyring
        with self._lock:
            if self._settings is None:
                self._settings = Settings()
            settings = self._settings
            stamp = self._stamp_of(settings)
            if self._keyring is None or stamp != self._stamp:
                self._keyring = load_keyring(settings)
                self._stamp = stamp
            self._checked_at = now
            return self._keyring

    @staticmethod
    def _stamp_of(settings: Settings) -> object:
        if settings.encryption_keys is not None:
            return (
                "environment",
                hashlib.sha256(settings.encryption_keys.get_secret_value().encode()).hexdigest(),
            )
        try:
            info = keyring_path(settings).stat()
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)


_active = _ActiveKeyring()
configure = _active.configure
use_keyring = _active.use


def active_keyring(*, fresh: bool = False) -> Keyring:
    return _active.get(fresh=fresh)


def encrypt(context: str, plaintext: str) -> str:
    return active_keyring().encrypt(context, plaintext)


def decrypt(context: str, stored: str) -> str:
    if not is_envelope(stored):
        return stored
    keyring = active_keyring()
    key_id, _ = split_envelope(stored)
    if key_id not in keyring.keys:  # a rotation elsewhere may have just added it
        keyring = active_keyring(fresh=True)
    return keyring.decrypt(context, stored)


def blind_index(kind: str, value: str | None) -> str | None:
    return active_keyring().blind_index(kind, value)


def blind_indexes(kind: str, value: str | None) -> list[str]:
    return active_keyring().blind_indexes(kind, value)
