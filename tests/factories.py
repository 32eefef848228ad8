"""Plain factories that create records through the API, as a user would."""

from __future__ import annotations

import secrets
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
