"""Purchase data from the database as plain tables for ``patron.analytics``.

``transactions``: one row per order — ``customer_id``, ``order_id``, ``ordered_at`` (UTC),
``amount`` (in currency units), ``currency``. ``baskets``: one row per order line — ``order_id``,
``item`` (the product sku). Cancelled and refunded orders are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    principal.require("orders", Action.READ)
    frame = _read(database, repository.transactions())
    if frame.empty:
        frame["amount"] = []
        return frame.drop(columns=["amount_minor"])
    scale = frame["currency"].map(lambda code: 10 ** exponent(code))
    frame["amount"] = frame["amount_minor"] / scale
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["order_id"] = frame["order_id"].astype(str)
    return frame.drop(columns=["amount_minor"])


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
