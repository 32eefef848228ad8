"""Customers from the database as the plain table :mod:`patron.integration.dedup` reads.

One row per customer the caller may see: ``id`` and ``external_id`` (to name the pair), ``kind``,
and the standard columns ``name``, ``email``, ``phone``, ``address_line1``, ``address_line2``,
``city``, ``region``, ``postal_code``, ``country``, and ``date_of_birth`` when the custom fields
hold one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from patron.config import Settings
from patron.customers.models import Customer
from patron.customers.repository import customer_scope
from patron.db.engine import Database
from patron.security.permissions import Action, Principal

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "id",
    "external_id",
    "kind",
    "name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)
DATE_OF_BIRTH_KEYS = ("date_of_birth", "dob", "birth_date", "birthdate")


def _date_of_birth(custom_fields: Any) -> str | None:
    if not isinstance(custom_fields, dict):
        return None
    for key in DATE_OF_BIRTH_KEYS:
        value = custom_fields.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def customers_frame(database: Database, principal: Principal) -> pd.DataFrame:
    """The customers ``principal`` may read, oldest first, as standard columns."""
    import pandas as pd

    principal.require("customers", Action.READ)
    columns = [getattr(Customer, name) for name in COLUMNS]
    statement = (
        select(*columns, Customer.custom_fields)
        .where(Customer.merged_into_id.is_(None))
        .order_by(Customer.id)
    )
    predicate = customer_scope(principal)
    if predicate is not None:
        statement = statement.where(predicate)
    with database.engine.connect() as connection:
        rows = connection.execute(statement).all()
    frame = pd.DataFrame.from_records(
        [row[: len(COLUMNS)] for row in rows], columns=list(COLUMNS)
    ).astype(object)
    frame["id"] = frame["id"].astype(str)
    frame["date_of_birth"] = [_date_of_birth(row[len(COLUMNS)]) for row in rows]
    return frame


def load_customers_from_database(settings: Settings | None = None) -> pd.DataFrame:
    """For the command line: every customer in the configured database."""
    database = Database((settings or Settings()).resolved_database_url)
    database.check()
    try:
        return customers_frame(database, Principal.system())
    finally:
        database.dispose()
