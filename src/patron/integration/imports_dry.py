"""A dry run's memory of what its batches wrote, so that later batches count as a real run would.

A dry run rolls every batch back, so without help a key seen in two batches would be counted
"created" twice, where the real run creates it once and then updates it or finds it unchanged.
The memory keeps, for every record a dry-run batch created or changed, its column values after
that batch, under its keys (external id, email, sku, number). Before each batch, the records the
batch's rows name are put back into the database inside the batch's savepoint, so matching,
diffing and the services' rules see what the real run's batch would see; then they are rolled
back with the batch.

The memory is a temporary SQLite file, not a dict: a million-row dry run remembers up to a
million records, and the process must stay at one batch's memory. The values hold personal data,
so they are sealed with the data key like the columns they come from. SQLite deletes the file
when the run closes it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.integration import cleaning
from patron.integration.imports_entities import EntitySpec, specs
from patron.security import crypto

CONTEXT = "import.dry_run"
BOOKKEEPING = ("version",)  # the ORM hands out versions itself


class DryRunMemory:
    """Column values of the records a dry run wrote, by id, and the keys that find them."""

    def __init__(self) -> None:
        # An empty name: a private temporary database on disk, deleted when it is closed.
        self._db = sqlite3.connect("")
        self._db.executescript(
            """
            CREATE TABLE state (id TEXT PRIMARY KEY, entity TEXT NOT NULL, body TEXT NOT NULL);
            CREATE TABLE key (
                entity TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL,
                PRIMARY KEY (entity, name, value, id)
            ) WITHOUT ROWID;
            CREATE TABLE wanted (
                entity TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
                PRIMARY KEY (entity, name, value)
            ) WITHOUT ROWID;
            """
        )

    def close(self) -> None:
        self._db.close()

    def remember(self, touched: Iterable[tuple[str, Any]]) -> None:
        """Keep the records a batch created or changed, as they are after it."""
        keyring = crypto.active_keyring()
        states, keys = [], []
        for entity, record in touched:
            values = {
                attr.key: getattr(record, attr.key)
                for attr in sa_inspect(record).mapper.column_attrs
            }
            body = json.dumps(values, default=_encode, separators=(",", ":"))
            states.append((str(record.id), entity, keyring.encrypt(CONTEXT, body)))
            for name in specs()[entity].keys:
                if values.get(name):
                    keys.append((entity, name, str(values[name]), str(record.id)))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", states)
            self._db.executemany("INSERT OR IGNORE INTO key VALUES (?, ?, ?, ?)", keys)

    def replay(self, session: Session, spec: EntitySpec, rows: list[dict[str, Any]]) -> None:
        """Put back, in the session's (rolled-back) transaction, the remembered records that
        the rows name: by the entity's own keys, and the customers and products they refer to."""
        wanted = [
            (entity, name, value)
            for (entity, name), values in _wanted(spec, rows).items()
            for value in values
        ]
        if not wanted:
            return
        keyring = crypto.active_keyring()
        states: dict[str, tuple[str, dict[str, Any]]] = {}
        with self._db:
            self._db.execute("DELETE FROM wanted")
            self._db.executemany("INSERT OR IGNORE INTO wanted VALUES (?, ?, ?)", wanted)
            found = self._db.execute(
                "SELECT DISTINCT state.id, state.entity, state.body FROM wanted"
                " JOIN key USING (entity, name, value) JOIN state ON state.id = key.id"
            ).fetchall()
        pending = list(found)
        while pending:  # and the remembered records they point at (an order's new customer)
            record_id, entity, body = pending.pop()
            if record_id in states:
                continue
            state = json.loads(keyring.decrypt(CONTEXT, body))
            states[record_id] = (entity, state)
            for name in _foreign_keys(entity):
                if state.get(name) and state[name] not in states:
                    pending.extend(
                        self._db.execute(
                            "SELECT id, entity, body FROM state WHERE id = ?", (state[name],)
                        )
                    )
        by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entity, state in states.values():
            by_entity[entity].append(state)
        for entity, entity_states in by_entity.items():
            _restore(session, _model(entity), entity_states)
        session.flush()


def _model(entity: str) -> Any:
    return specs()[entity].service.resource.model


def _foreign_keys(entity: str) -> list[str]:
    """The columns of ``entity`` that point at other records."""
    mapper = sa_inspect(_model(entity))
    return [attr.key for attr in mapper.column_attrs if attr.columns[0].foreign_keys]


def _wanted(spec: EntitySpec, rows: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(entity, key) -> the values the rows look records up by."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for values in rows:
        for name in spec.keys:
            if values.get(name):
                wanted[(spec.name, name)].add(str(values[name]))
        if not spec.references:
            continue
        if values.get("customer_external_id"):
            wanted[("customers", "external_id")].add(str(values["customer_external_id"]))
        if values.get("customer_email"):
            try:
                email = cleaning.email(values["customer_email"])
            except cleaning.CleaningError:
                email = None
            if email:
                wanted[("customers", "email")].add(email)
        for line in values.get("lines") or [values]:
            sku = cleaning.text(line.get("sku"), max_length=64) if line.get("sku") else None
            if sku:
                wanted[("products", "sku")].add(sku)
    return wanted


def _restore(session: Session, model: Any, states: list[dict[str, Any]]) -> None:
    """Make the database hold ``states``: insert the records it lacks, update the others."""
    mapper = sa_inspect(model)
    columns = {attr.key: attr.columns[0] for attr in mapper.column_attrs}
    decoded = [_decode(state, columns) for state in states]
    ids = [state["id"] for state in decoded]
    present = {
        record.id: record for record in session.scalars(select(model).where(model.id.in_(ids)))
    }
    for state in decoded:
        record = present.get(state["id"])
        if record is None:
            session.add(model(**{k: v for k, v in state.items() if k not in BOOKKEEPING}))
            continue
        for name, value in state.items():
            if name not in BOOKKEEPING and getattr(record, name) != value:
                setattr(record, name, value)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot remember a {type(value).__name__}")


def _decode(state: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
    decoded = {}
    for name, value in state.items():
        if value is not None and isinstance(value, str):
            kind = _python_type(columns[name])
            if kind is datetime:
                value = datetime.fromisoformat(value)
            elif kind is date:
                value = date.fromisoformat(value)
            elif kind is uuid.UUID:
                value = uuid.UUID(value)
        decoded[name] = value
    return decoded


def _python_type(column: Any) -> type | None:
    try:
        return column.type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None
