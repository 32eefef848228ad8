"""Column types for encrypted fields and their blind indexes.

``EncryptedText("customer.email")`` encrypts on the way in and decrypts on the way out, for the
ORM and Core alike; the bulk writer calls :func:`encode_bulk_columns` because it bypasses types.
A blind-index column is declared with :func:`blind_index_column`, naming the column it indexes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import LargeBinary, String, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import MappedColumn, mapped_column
from sqlalchemy.types import TypeDecorator

from patron.security import crypto

BLIND_INDEX_INFO = "blind_index"  # Column.info key: (source column name, normaliser kind)
BLIND_INDEX_LENGTH = 64  # hex HMAC-SHA256


class EncryptedText(TypeDecorator[str]):
    """Text stored as an AES-256-GCM envelope bound to ``context`` (``table.column``)."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(self.context, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return crypto.decrypt(self.context, value)

    def process_literal_param(self, value: str | None, dialect: Dialect) -> str:
        raise NotImplementedError("encrypted values are never rendered into SQL text")


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document (an event's record snapshot) stored as one encrypted envelope of its
    JSON text. Not searchable in SQL, by design."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(self.context, json.dumps(value, separators=(",", ":"), default=str))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(crypto.decrypt(self.context, value))


class EncryptedBytes(TypeDecorator[bytes]):
    """Bytes (a kept response body) stored as the ASCII envelope of their base64 text."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        plain = base64.b64encode(value).decode("ascii")
        return crypto.encrypt(self.context, plain).encode("ascii")

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        stored = bytes(value).decode("ascii", errors="replace")
        if not crypto.is_envelope(stored):  # kept before encryption: expires within a day
            return bytes(value)
        return base64.b64decode(crypto.decrypt(self.context, stored))


ENCRYPTED_TYPES = (EncryptedText, EncryptedJSON)  # text envelopes, rotated in place


def blind_index_column(source: str, kind: str) -> MappedColumn[Any]:
    """A nullable, indexed HMAC column for ``source``, filled on insert from its plain value.

    ORM updates keep it current through the model's ``@validates`` (see Customer)."""

    def default(context: Any) -> str | None:
        return crypto.blind_index(kind, context.get_current_parameters().get(source))

    return mapped_column(
        String(BLIND_INDEX_LENGTH),
        index=True,
        default=default,
        info={BLIND_INDEX_INFO: (source, kind)},
    )


def encrypted_columns(table: Table) -> list[str]:
    """Columns holding text envelopes (what ``patron keys rotate`` rewrites)."""
    return [column.name for column in table.c if isinstance(column.type, ENCRYPTED_TYPES)]


def blind_index_columns(table: Table) -> dict[str, tuple[str, str]]:
    """{index column: (source column, kind)} of ``table``."""
    return {
        column.name: column.info[BLIND_INDEX_INFO]
        for column in table.c
        if BLIND_INDEX_INFO in column.info
    }


def encode_bulk_columns(
    table: Table, columns: Mapping[str, Sequence[Any]]
) -> dict[str, Sequence[Any]]:
    """For writers that bypass column types: blind indexes computed from the plain values, then
    the encrypted columns sealed. Other columns pass through untouched."""
    keyring = crypto.active_keyring()
    out: dict[str, Sequence[Any]] = dict(columns)
    for index_name, (source, kind) in blind_index_columns(table).items():
        if source in columns and index_name not in columns:
            out[index_name] = [
                keyring.blind_index(kind, value) for value in _as_list(columns[source])
            ]
    for name in encrypted_columns(table):
        if name in columns:
            context = table.c[name].type.context  # type: ignore[attr-defined]
            out[name] = [
                None if value is None else keyring.encrypt(context, value)
                for value in _as_list(columns[name])
            ]
    return out


def _as_list(values: Sequence[Any]) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else list(values)
