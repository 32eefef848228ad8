"""Who may do what: every route needs credentials; a role x entity x action matrix.

The matrix checks each answer against the permission table in ``patron.security.permissions``
(which ``docs/security.md`` prints), and that nothing changed when a request was refused.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from patron.security import permissions
from patron.security.permissions import Action, Role
from tests.conftest import Caller, Callers
from tests.factories import make_customer, make_product, make_stage

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/static/vendor/plotly.min.js"),  # a static file, served from the plotly package
}
FAKE_ID = "0195f2d2-6b8a-7c3e-9d4f-123456789abc"


def all_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        path = getattr(context, "path_format", None) or getattr(context, "path", None)
        for method in sorted(getattr(context, "methods", None) or []):
            if method != "HEAD":
                found.append((method, path))
    return found


def test_every_route_needs_credentials(app: Any, client: TestClient) -> None:
    routes = all_routes(app)
    assert len(routes) > 60  # the enumeration found the API, not an empty list
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", FAKE_ID, path)
        response = client.request(method, url, follow_redirects=False, json={})
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["content-type"].startswith("application/problem+json")
        else:
            assert response.status_code in (303, 401), (method, path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login")
    assert client.get("/static/patron.css").status_code == 200
    assert client.get("/health").json()["status"] == "ok"


def test_bad_credentials_are_refused(client: TestClient, callers: Callers) -> None:
    caller = callers.make(Role.ADMIN)
    for header in ("Bearer ptn_wrong", "Basic abc", "Bearer", "ptn_x"):
        response = client.get("/api/v1/customers", headers={"Authorization": header})
        assert response.status_code == 401, header
    revoked = caller.delete(f"/api/v1/api-keys/{_key_id(caller)}")
    assert revoked.status_code == 200
    assert caller.get("/api/v1/customers").status_code == 401


def _key_id(caller: Caller) -> str:
    keys = caller.get("/api/v1/api-keys").json()
    return keys[0]["id"]


# ----- the matrix ------------------------------------------------------------------------------
class World:
    """Records in team A that each test case can act on; created fresh by an admin."""

    def __init__(self, admin: Caller, team_a: uuid.UUID) -> None:
        self.admin = admin
        self.team_a = str(team_a)
        self.customer = make_customer(admin, team_id=self.team_a)
        self.product = make_product(admin, currency="USD")
        self.stage = make_stage(admin, name="Lead")

    def create_body(self, entity: str) -> dict[str, Any]:
        token = secrets.token_hex(3)
        return {
            "customers": {"name": f"New {token}", "team_id": self.team_a},
            "products": {"sku": f"SKU-{token}", "name": "P", "price_minor": 100},
            "orders": {
                "customer_id": self.customer["id"],
                "lines": [{"product_id": self.product["id"], "quantity": 1}],
            },
            "tickets": {"customer_id": self.customer["id"], "subject": "Help"},
            "activities": {"customer_id": self.customer["id"], "type": "note"},
            "deals": {"customer_id": self.customer["id"], "title": "Deal"},
            "pipeline_stages": {"name": f"Stage {token}", "position": 5},
            "sales_targets": {
                "team_id": self.team_a,
                "period_start": "2026-01-01",
                "period_end": "2026-01-31",
                "amount_minor": 1000,
            },
            "campaigns": {"name": f"Campaign {token}"},
            "segments": {"name": f"Segment {token}"},
            "users": {"email": f"u-{token}@example.com", "role": "readonly"},
            "teams": {"name": f"Team {token}"},
            # A public address literal: the SSRF guard passes it without a DNS look-up.
            "webhooks": {"url": "https://93.184.216.34/hook", "event_types": ["customer.*"]},
        }[entity]

    def update_body(self, entity: str) -> dict[str, Any]:
        return {
            "customers": {"city": "Lyon"},
            "products": {"name": "Renamed"},
            "orders": {"status": "paid"},
            "tickets": {"priority": "urgent"},
            "activities": {"subject": "Edited"},
            "deals": {"title": "Edited"},
            "pipeline_stages": {"probability": 55},
            "sales_targets": {"amount_minor": 2000},
            "campaigns": {"status": "running"},
            "segments": {"description": "Edited"},
            "users": {"name": "Edited"},
            "teams": {"description": "Edited"},
            "webhooks": {"description": "Edited"},
        }[entity]

    def make(self, entity: str) -> str:
        response = self.admin.post(
            f"/api/v1/{entity.replace('_', '-')}", json=self.create_body(entity)
        )
        assert response.status_code == 201, (entity, response.text)
        return response.json()["id"]

    def count(self, entity: str) -> int:
        path = f"/api/v1/{entity.replace('_', '-')}?limit=100"
        return len(self.admin.get(path).json()["data"])


# Every entity with the five CRUD routes. API keys (created with their secret, revoked rather
# than deleted), the change feed, analysis runs, the audit trail (read-only), personal data
# (export and erasure) and imports (uploads) have routes of their own shape, tested in their
# own modules.
OWN_SHAPE = ("api_keys", "events", "analysis_runs", "audit", "personal_data", "imports")
ENTITIES = [e for e in permissions.ENTITIES if e not in OWN_SHAPE]


def _allowed(role: Role, entity: str, action: Action) -> bool:
    return action in permissions.PERMISSIONS[role][entity]


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_authorization_matrix(role: Role, callers: Callers, admin: Caller) -> None:
    world = World(admin, callers.team("A"))
    caller = callers.make(role, team="A")
    for entity in ENTITIES:
        path = f"/api/v1/{entity.replace('_', '-')}"
        record_id = world.make(entity)
        before = admin.get(f"{path}/{record_id}").json()

        read = caller.get(f"{path}/{record_id}")
        listed = caller.get(path)
        expected = 200 if _allowed(role, entity, Action.READ) else 403
        assert (read.status_code, listed.status_code) == (expected, expected), (role, entity)

        count = world.count(entity)
        created = caller.post(path, json=world.create_body(entity))
        if _allowed(role, entity, Action.CREATE):
            assert created.status_code == 201, (role, entity, created.text)
        else:
            assert created.status_code == 403, (role, entity, created.status_code)
            assert world.count(entity) == count, (role, entity)

        updated = caller.patch(f"{path}/{record_id}", json=world.update_body(entity))
        if _allowed(role, entity, Action.UPDATE):
            assert updated.status_code == 200, (role, entity, updated.text)
        else:
            assert updated.status_code == 403, (role, entity, updated.status_code)
            assert admin.get(f"{path}/{record_id}").json() == before, (role, entity)

        deleted = caller.delete(f"{path}/{record_id}")
        if _allowed(role, entity, Action.DELETE):
            assert deleted.status_code == 204, (role, entity, deleted.text)
            assert admin.get(f"{path}/{record_id}").status_code == 404
        else:
            assert deleted.status_code == 403, (role, entity, deleted.status_code)
            assert admin.get(f"{path}/{record_id}").status_code == 200


@pytest.mark.parametrize("role", [Role.SALES, Role.MANAGER], ids=lambda role: role.value)
def test_team_scope_hides_other_teams_records(role: Role, callers: Callers, admin: Caller) -> None:
    team_b = str(callers.team("B"))
    caller = callers.make(role, team="A")
    mine = make_customer(caller, name="Mine")
    theirs = make_customer(admin, name="Theirs", team_id=team_b)
    product = make_product(admin, currency="USD")
    order = admin.post(
        "/api/v1/orders",
        json={"customer_id": theirs["id"], "lines": [{"product_id": product["id"]}]},
    ).json()
    ticket = admin.post(
        "/api/v1/tickets", json={"customer_id": theirs["id"], "subject": "x"}
    ).json()

    names = [c["name"] for c in caller.get("/api/v1/customers").json()["data"]]
    assert names == ["Mine"]
    checks: list[tuple[str, Callable[..., Any]]] = [
        (f"/api/v1/customers/{theirs['id']}", caller.get),
        (f"/api/v1/customers/{theirs['id']}/timeline", caller.get),
        (f"/api/v1/orders/{order['id']}", caller.get),
        (f"/api/v1/tickets/{ticket['id']}", caller.get),
    ]
    for url, method in checks:
        assert method(url).status_code == 404, url
    before = admin.get(f"/api/v1/customers/{theirs['id']}").json()
    assert (
        caller.patch(f"/api/v1/customers/{theirs['id']}", json={"name": "Taken"}).status_code == 404
    )
    assert caller.delete(f"/api/v1/customers/{theirs['id']}").status_code in (403, 404)
    assert admin.get(f"/api/v1/customers/{theirs['id']}").json() == before
    assert caller.get("/api/v1/orders").json()["data"] == []
    refused = caller.post("/api/v1/activities", json={"customer_id": theirs["id"], "type": "note"})
    assert refused.status_code == 422
    assert caller.get(f"/api/v1/customers/{mine['id']}").status_code == 200
    # Field level: nobody below admin hands a customer to another team.
    moved = caller.patch(f"/api/v1/customers/{mine['id']}", json={"team_id": team_b})
    assert moved.status_code == 403
