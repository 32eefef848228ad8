"""Purchase data from the database as plain tables for ``patron.analytics``.

``transactions``: one row per order — ``customer_id``, ``order_id``, ``ordered_at`` (UTC),
``amount`` (in currency units), ``currency``. ``baskets``: one row per order line — ``order_id``,
``item`` (the product sku). ``purchase_totals``: one row per customer, summed up by the database
(what RFM needs, without moving every order out of it). Cancelled and refunded orders are left out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from patron.config import Settings
from patron.db.engine import Database
from patron.insights import repository
from patron.kit.money import exponent
from patron.security.permissions import Action, Principal

if TYPE_CHECKING:
    import pandas as pd

CHUNK = 100_000


def _read(database: Database, statement: object) -> pd.DataFrame:
    import pandas as pd

    frames = []
    with database.engine.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(statement)  # type: ignore[call-overload]
        columns = list(result.keys())
        for rows in result.partitions(CHUNK):
            frames.append(pd.DataFrame.from_records(rows, columns=columns))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def transactions_frame(database: Database, principal: Principal) -> pd.DataFrame:
    """Every purchase, one row per order, in the order placed (then by id).

    Read as plain tuples from the driver and converted a column at a time; on SQLite the ids
    (32 hex digits there) and times (ISO text) are rewritten with NumPy, never one by one.
    """
    import pandas as pd

    principal.require("orders", Action.READ)
    with database.engine.connect() as connection:
        columns = _columns(connection, repository.transactions(), [object] * 3 + [np.int64, object])
    customer_id, order_id, ordered_at, amount_minor, currency = columns
    if not len(customer_id):
        frame = pd.DataFrame(columns=["customer_id", "order_id", "ordered_at", "currency"])
        frame["amount"] = []
        return frame
    return pd.DataFrame(
        {
            "customer_id": _uuid_text(customer_id),
            "order_id": _uuid_text(order_id),
            "ordered_at": _utc_times(ordered_at),
            "currency": pd.Series(currency, dtype=str),
            "amount": amount_minor / _scales(currency),
        }
    )


def contact_events_frame(database: Database, principal: Principal) -> pd.DataFrame:
    """Tickets and activities as ``customer`` (the id as text, like ``transactions_frame``),
    ``at`` (UTC) and ``kind`` (``ticket`` or ``activity``)."""
    import pandas as pd

    principal.require("tickets", Action.READ)
    principal.require("activities", Action.READ)
    with database.engine.connect() as connection:
        customer, at, kind = _columns(connection, repository.contact_events(), [object] * 3)
    if not len(customer):
        return pd.DataFrame({"customer": [], "at": pd.to_datetime([], utc=True), "kind": []})
    return pd.DataFrame(
        {"customer": _uuid_text(customer), "at": _utc_times(at), "kind": pd.Series(kind, dtype=str)}
    )


def _uuid_text(values: np.ndarray) -> pd.Series:
    """UUIDs as text with dashes (``str(uuid)``), as a pandas string column."""
    import pandas as pd
    import pyarrow as pa

    first = values[0]
    if isinstance(first, str) and len(first) == 32:  # SQLite's hex: insert the dashes
        try:
            digits = values.astype("S32").view(np.uint8).reshape(-1, 32)
        except UnicodeEncodeError:
            digits = None
        if digits is not None and _all_hex(digits):
            text = np.full((len(values), 36), ord("-"), dtype=np.uint8)
            for start, stop, into in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19),
                                      (20, 32, 24)):  # fmt: skip
                text[:, into : into + stop - start] = digits[:, start:stop]
            offsets = np.arange(0, 36 * (len(values) + 1), 36, dtype=np.int64)
            array = pa.LargeStringArray.from_buffers(
                len(values), pa.py_buffer(offsets), pa.py_buffer(text.tobytes())
            )
            return pd.Series(array, dtype=str)
    return pd.Series([str(uuid.UUID(str(value))) for value in values], dtype=str)


_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = True


def _all_hex(digits: np.ndarray) -> bool:
    """Whether every byte is a lowercase hex digit."""
    return bool(_HEX[digits].all())


def _utc_times(values: np.ndarray) -> pd.Series:
    """Timestamps in UTC: SQLite's naive-UTC ISO text or the driver's aware datetimes."""
    import pandas as pd

    if isinstance(values[0], str):
        try:
            stamps = values.astype("S26")
        except UnicodeEncodeError:
            stamps = None
        if stamps is not None and (np.char.str_len(stamps) == 26).all():
            return pd.Series(stamps.astype("datetime64[us]")).dt.tz_localize("UTC")
        return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601")).astype(
            "datetime64[us, UTC]"
        )
    return pd.Series(pd.to_datetime(list(values), utc=True)).astype("datetime64[us, UTC]")


@dataclass(frozen=True)
class PurchaseTotals:
    """Each customer's purchases, summed up; one entry per customer, in customer-id order."""

    customer_ids: np.ndarray  # str: 32 lowercase hex digits, sorted
    last_day: np.ndarray  # int64: UTC day of the last purchase, days since 1970-01-01
    purchases: np.ndarray  # int64: how many orders
    amount: np.ndarray  # float64: their totals, in currency units (minor units / 10^exponent)

    def __len__(self) -> int:
        return len(self.customer_ids)


def purchase_totals(
    database: Database, principal: Principal, *, before: datetime | None = None
) -> PurchaseTotals:
    """Every customer's purchases (placed before ``before``, when given), counted and summed by
    the database, read as plain tuples straight from the driver.

    The amount is the sum of the order totals in minor units, divided by the currency's scale
    once (per customer and currency): exact, where adding up each order's amount in currency
    units rounds at every step. A customer who bought in several currencies gets the sum.
    """
    principal.require("orders", Action.READ)
    with database.engine.connect() as connection:
        statement = repository.purchase_totals(connection.dialect.name, before=before)
        dtypes = [object, np.int64, np.int64, np.int64, object]
        customer_ids, last_day, purchases, minor, currencies = _columns(
            connection, statement, dtypes
        )
    amount = minor / _scales(currencies)
    if len(customer_ids) > 1 and (customer_ids[1:] == customer_ids[:-1]).any():
        # Someone bought in more than one currency: one entry per customer, adding them up.
        starts = np.flatnonzero(np.r_[True, customer_ids[1:] != customer_ids[:-1]])
        customer_ids = customer_ids[starts]
        last_day = np.maximum.reduceat(last_day, starts)
        purchases = np.add.reduceat(purchases, starts)
        amount = np.add.reduceat(amount, starts)
    return PurchaseTotals(
        customer_ids=customer_ids, last_day=last_day, purchases=purchases, amount=amount
    )


def _columns(connection: Any, statement: Any, dtypes: list[Any]) -> list[np.ndarray]:
    """The rows of ``statement`` as one array per column, fetched from the driver's cursor."""
    result = connection.execute(statement)
    cursor = result.cursor  # the driver's: plain tuples, no row objects or type conversion
    parts: list[list[np.ndarray]] = [[] for _ in dtypes]
    while rows := cursor.fetchmany(CHUNK):
        for index, values in enumerate(zip(*rows, strict=True)):
            parts[index].append(np.array(values, dtype=dtypes[index]))
    result.close()
    return [
        np.concatenate(part) if part else np.empty(0, dtype=dtype)
        for part, dtype in zip(parts, dtypes, strict=True)
    ]


def _scales(currencies: np.ndarray) -> np.ndarray:
    """``10 ** exponent`` of each currency code, as floats."""
    if not len(currencies):
        return np.ones(0)
    codes, inverse = np.unique(currencies.astype(str), return_inverse=True)
    return np.array([10.0 ** exponent(str(code)) for code in codes])[inverse.reshape(-1)]


def baskets_frame(database: Database, principal: Principal) -> pd.DataFrame:
    principal.require("orders", Action.READ)
    frame = _read(database, repository.basket_lines())
    frame["order_id"] = frame["order_id"].astype(str)
    return frame


def load_transactions_from_database(settings: Settings | None = None) -> pd.DataFrame:
    """For the command line: every purchase in the configured database."""
    database = Database((settings or Settings()).resolved_database_url)
    database.check()
    try:
        return transactions_frame(database, Principal.system())
    finally:
        database.dispose()


def load_baskets_from_database(settings: Settings | None = None) -> pd.DataFrame:
    """For the command line: every order line in the configured database."""
    database = Database((settings or Settings()).resolved_database_url)
    database.check()
    try:
        return baskets_frame(database, Principal.system())
    finally:
        database.dispose()
