"""Plain factories that create records through the API, as a user would."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from tests.conftest import Caller


def make_customer(caller: Caller, **overrides: Any) -> dict[str, Any]:
    body = {"name": f"Customer {secrets.token_hex(3)}", "kind": "person", **overrides}
    response = caller.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_product(caller: Caller, **overrides: Any) -> dict[str, Any]:
    body = {
        "sku": f"SKU-{secrets.token_hex(4)}",
        "name": "Widget",
        "price_minor": 1250,
        "currency": "EUR",
        "category": "tools",
        **overrides,
    }
    response = caller.post("/api/v1/products", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_stage(caller: Caller, **overrides: Any) -> dict[str, Any]:
    body = {"name": f"Stage {secrets.token_hex(3)}", "position": 1, "probability": 20, **overrides}
    response = caller.post("/api/v1/pipeline-stages", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_order(
    caller: Caller, customer_id: str, product_id: str, **overrides: Any
) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "currency": "EUR",
        "lines": [{"product_id": product_id, "quantity": 2}],
        **overrides,
    }
    response = caller.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def demo_sqlite(directory: Path, *, customers: int = 150, seed: int = 3) -> str:
    """A migrated SQLite file holding a small demo business; returns its URL, for the commands'
    database mode (``PATRON_DATABASE_URL``)."""
    from patron.db import migrate
    from patron.db.engine import Database
    from patron.demo import generate

    url = f"sqlite:///{directory / 'patron.db'}"
    database = Database(url)
    try:
        migrate.upgrade(database.engine)
        generate(database.engine, customers=customers, seed=seed)
    finally:
        database.dispose()
    return url


def scalar(url: str, sql: str, **params: Any) -> Any:
    """One value from a database, read with plain SQL (what a test checks the app against)."""
    from sqlalchemy import text

    from patron.db.engine import Database

    database = Database(url)
    try:
        with database.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar_one()
    finally:
        database.dispose()
