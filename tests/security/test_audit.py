"""The audit trail records who did what, masked, from where — and admins read it (API, pages)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from patron.db.engine import Database
from patron.kit.clock import utcnow
from patron.kit.pagination import encode_cursor
from patron.security import audit, passwords
from patron.security.audit_models import AuditEntry
from patron.security.models import ApiKey
from patron.security.permissions import Principal, Role
from tests.conftest import Caller, Callers
from tests.factories import make_customer

PASSWORD = "audit-test-passphrase"
ADDRESS = "testclient"  # what Starlette's TestClient reports as the client's address
PERSONAL = {
    "email": "jane.roe@example.com",
    "phone": "+49 30 1234567",
    "address_line1": "Hauptstrasse 1",
    "notes": "prefers calls after six",
}


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def entries(caller: Caller, **filters: Any) -> list[dict[str, Any]]:
    response = caller.get("/api/v1/audit", params={"limit": 100, **filters})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def raw_trail(db: Database) -> str:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_entry")).all()
    return json.dumps([list(row) for row in rows], default=str)


def login(client: TestClient, email: str, password: str) -> int:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    return response.status_code


# ----- what is recorded ------------------------------------------------------------------------
def test_create_update_delete_are_recorded_with_personal_values_masked(
    admin: Caller, db: Database
) -> None:
    customer = make_customer(admin, name="Jane Roe", city="Berlin", **PERSONAL)
    changed = admin.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"city": "Lyon", "email": "jane@elsewhere.example", "notes": None},
    )
    assert changed.status_code == 200
    assert admin.delete(f"/api/v1/customers/{customer['id']}").status_code == 204

    found = entries(admin, entity="customer", entity_id=customer["id"])
    assert [e["action"] for e in found] == ["delete", "update", "create"]
    deleted, updated, created = found
    key_id = admin.get("/api/v1/api-keys").json()[0]["id"]
    for entry in found:
        assert entry["actor_type"] == "api_key"
        assert entry["actor_id"] == key_id
        assert entry["user_id"] == str(admin.user_id)
        assert entry["ip_address"] == ADDRESS

    # A customer's name and city are personal too (a product's name is not): masked, so an
    # erasure leaves nothing behind in a trail it cannot edit.
    assert created["changes"]["name"] == {"before": None, "after": "[masked]"}
    assert created["changes"]["city"] == {"before": None, "after": "[masked]"}
    assert created["changes"]["lifecycle_stage"] == {"before": None, "after": "lead"}
    for field in PERSONAL:
        assert created["changes"][field] == {"before": None, "after": "[masked]"}
    assert "version" not in created["changes"]
    assert "created_at" not in created["changes"]

    assert updated["changes"] == {
        "city": {"before": "[masked]", "after": "[masked]"},
        "email": {"before": "[masked]", "after": "[masked]"},
        "notes": {"before": "[masked]", "after": None},
    }
    assert deleted["changes"]["name"] == {"before": "[masked]", "after": None}
    assert deleted["changes"]["phone"] == {"before": "[masked]", "after": None}

    trail = raw_trail(db)
    for value in [*PERSONAL.values(), "jane@elsewhere.example", "Jane Roe", "Berlin", "Lyon"]:
        assert value not in trail


def test_login_and_failed_logins_are_recorded_with_the_address(
    client: TestClient, callers: Callers, admin: Caller
) -> None:
    user = callers.make(Role.SUPPORT, password=PASSWORD)
    assert login(client, user.email, "wrong password!") == 401
    assert login(client, "nobody@example.com", "wrong password!") == 401
    assert login(client, user.email, PASSWORD) == 303

    failed = entries(admin, action="login_failed")
    assert [(e["entity_id"], e["detail"]["reason"]) for e in failed] == [
        (None, "unknown_account"),
        (str(user.user_id), "wrong_password"),
    ]
    for entry in failed:
        assert entry["actor_type"] == "anonymous"
        assert entry["actor_id"] is None
        assert entry["ip_address"] == ADDRESS
    assert "nobody@example.com" not in json.dumps(failed)

    [logged_in] = entries(admin, action="login")
    assert logged_in["actor_type"] == "user"
    assert logged_in["actor_id"] == logged_in["user_id"] == str(user.user_id)
    assert logged_in["entity_id"] == str(user.user_id)
    assert logged_in["ip_address"] == ADDRESS


def test_a_role_change_is_recorded_as_such(callers: Callers, admin: Caller) -> None:
    user = callers.make(Role.SALES)
    assert admin.patch(f"/api/v1/users/{user.user_id}", json={"name": "Renamed"}).status_code == 200
    assert admin.patch(f"/api/v1/users/{user.user_id}", json={"role": "manager"}).status_code == 200
    found = entries(admin, entity="user", entity_id=str(user.user_id))
    assert [e["action"] for e in found] == ["role_change", "update", "create"]
    assert found[0]["changes"] == {"role": {"before": "sales", "after": "manager"}}
    assert [e["changes"]["role"] for e in entries(admin, action="role_change")] == [
        {"before": "sales", "after": "manager"}
    ]


def test_a_password_change_is_recorded_without_any_hash(
    callers: Callers, admin: Caller, db: Database
) -> None:
    user = callers.make(Role.SALES, password=PASSWORD)
    body = {"password": "another fine passphrase"}
    assert admin.patch(f"/api/v1/users/{user.user_id}", json=body).status_code == 200
    [changed] = entries(admin, entity="user", entity_id=str(user.user_id), action="update")
    assert changed["changes"] == {"password_hash": {"before": "[redacted]", "after": "[redacted]"}}
    assert "argon2" not in raw_trail(db)


def test_api_key_use_is_recorded_once_per_key_per_hour(
    callers: Callers, admin: Caller, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = callers.make(Role.SALES)
    keys = admin.get("/api/v1/api-keys").json()  # the admin's request, not the caller's
    [key_id] = [key["id"] for key in keys if key["user_id"] == str(caller.user_id)]

    def uses() -> list[dict[str, Any]]:
        return entries(admin, action="api_key_use", entity_id=key_id)

    def age_last_use() -> None:  # as if the key was last used two minutes ago
        with db.unit_of_work() as session:
            session.execute(update(ApiKey).values(last_used_at=utcnow() - timedelta(minutes=2)))

    assert caller.get("/api/v1/customers").status_code == 200
    [first] = uses()
    assert first["detail"] == {"request": "GET /api/v1/customers"}
    assert first["ip_address"] == ADDRESS
    assert first["actor_id"] == key_id

    age_last_use()
    assert caller.get("/api/v1/products").status_code == 200  # last_used_at bumped again...
    assert len(uses()) == 1  # ...but within the hour: no new entry

    monkeypatch.setattr(audit, "API_KEY_USE_EVERY", timedelta(0))
    age_last_use()
    assert caller.post("/api/v1/customers", json={"name": "X"}).status_code == 201
    assert [e["detail"]["request"] for e in uses()] == [
        "POST /api/v1/customers",
        "GET /api/v1/customers",
    ]


def test_exports_are_recorded(admin: Caller) -> None:
    make_customer(admin, country="DE")
    response = admin.get("/api/v1/exports/customers", params={"format": "jsonl", "country": "DE"})
    assert response.status_code == 200
    searched = admin.get("/api/v1/exports/customers", params={"q": "jane@example.com"})
    assert searched.status_code == 200
    found = entries(admin, action="export")
    assert [e["detail"] for e in found] == [
        {"export": "customers", "format": "csv", "filters": {"q": "[masked]"}},
        {"export": "customers", "format": "jsonl", "filters": {"country": "DE"}},
    ]
    assert {(e["entity"], e["actor_type"], e["ip_address"]) for e in found} == {
        ("customer", "api_key", ADDRESS)
    }


def test_a_refused_export_is_not_recorded(callers: Callers, admin: Caller) -> None:
    caller = callers.make(Role.SUPPORT)
    assert caller.get("/api/v1/exports/sales-targets").status_code == 403
    assert entries(admin, action="export") == []


def test_record_is_what_a_later_erasure_calls(db: Database, admin: Caller) -> None:
    customer = make_customer(admin)
    with db.unit_of_work() as session:
        audit.record(
            session,
            Principal.system(),
            action=audit.AuditAction.ERASE,
            entity="customer",
            entity_id=uuid.UUID(customer["id"]),
            changes={"email": {"before": "gone@example.com", "after": None}},
            detail={"tables": ["customer", "activity"]},
        )
    [erased] = entries(admin, action="erase")
    assert (erased["entity_id"], erased["actor_type"]) == (customer["id"], "system")
    assert erased["changes"] == {"email": {"before": "[masked]", "after": None}}
    assert erased["detail"] == {"tables": ["customer", "activity"]}
    with db.unit_of_work(write=False) as session:
        assert audit.verify(session).intact


# ----- reading it ------------------------------------------------------------------------------
def test_filters_and_cursor_paging(admin: Caller, callers: Callers) -> None:
    other = callers.make(Role.MANAGER)
    for index in range(5):
        make_customer(admin, name=f"Mine {index}")
    make_customer(other, name="Theirs")
    everything = entries(admin)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)

    mine = entries(admin, actor=str(admin.user_id), action="create", entity="customer")
    assert len(mine) == 5
    theirs = entries(admin, actor=str(other.user_id), entity="customer")
    assert [e["changes"]["name"]["after"] for e in theirs] == ["[masked]"]

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "entity": "customer", "action": "create"}
        if cursor:
            params["cursor"] = cursor
        response = admin.get("/api/v1/audit", params=params)
        body = response.json()
        pages.append([e["id"] for e in body["data"]])
        cursor = body["next_cursor"]
        assert body["has_more"] == bool(cursor) == ("link" in response.headers)
        if not cursor:
            break
    assert [len(page) for page in pages] == [2, 2, 2]
    walked = [entry_id for page in pages for entry_id in page]
    assert walked == [e["id"] for e in entries(admin, entity="customer", action="create")]

    middle = everything[len(everything) // 2]["occurred_at"]
    since = entries(admin, since=middle)
    until = entries(admin, until=middle)
    assert len(since) + len(until) == len(entries(admin))
    assert all(e["occurred_at"] >= middle for e in since)


def test_bad_filters_are_problems(admin: Caller) -> None:
    huge = encode_cursor("audit", [10**30])
    cases = [{"action": "dance"}, {"cursor": "nonsense"}, {"cursor": huge}, {"actor": "x"}]
    for params in [*cases, {"limit": 0}, {"since": "yesterday"}]:
        response = admin.get("/api/v1/audit", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN], ids=str)
def test_only_admins_read_the_trail(role: Role, callers: Callers) -> None:
    caller = callers.make(role)
    response = caller.get("/api/v1/audit")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_nobody_can_change_the_trail_through_the_api(admin: Caller) -> None:
    make_customer(admin)
    entry_id = entries(admin)[0]["id"]
    for method in ("post", "patch", "delete", "put"):
        response = admin.client.request(method, f"/api/v1/audit/{entry_id}", headers=admin.headers)
        assert response.status_code in (404, 405), method
    assert admin.client.post("/api/v1/audit", headers=admin.headers).status_code == 405


def _browser(app: Any, user: Caller) -> TestClient:
    browser = TestClient(app)
    assert login(browser, user.email, PASSWORD) == 303
    return browser


def test_the_audit_page_lists_and_filters(app: Any, callers: Callers) -> None:
    boss = callers.make(Role.ADMIN, password=PASSWORD)
    browser = _browser(app, boss)
    customer = make_customer(boss, name="Paged Person", email="paged@example.com")
    page = browser.get("/audit")
    assert page.status_code == 200
    assert 'data-action="create"' in page.text
    assert 'data-action="login"' in page.text
    assert boss.email in page.text
    assert "paged@example.com" not in page.text
    assert "[masked]" in page.text

    filtered = browser.get("/audit", params={"action": "login"})
    assert filtered.text.count('data-testid="audit-entry"') == 1
    record = browser.get("/audit", params={"entity": "customer", "entity_id": customer["id"]})
    assert record.text.count('data-testid="audit-entry"') == 1
    assert "Paged Person" not in record.text  # a customer's name is personal: masked
    bad = browser.get("/audit", params={"since": "yesterday"})
    assert bad.status_code == 200
    assert "not valid" in bad.text


def test_the_customer_page_shows_its_history_to_admins_only(app: Any, callers: Callers) -> None:
    boss = callers.make(Role.ADMIN, password=PASSWORD)
    rep = callers.make(Role.SUPPORT, password=PASSWORD)
    customer = make_customer(boss, name="History Person")
    other = make_customer(boss, name="Someone Else")
    moved = boss.patch(
        f"/api/v1/customers/{customer['id']}", json={"city": "Oslo", "lifecycle_stage": "prospect"}
    )
    assert moved.status_code == 200

    seen = _browser(app, boss).get(f"/customers/{customer['id']}")
    assert seen.status_code == 200
    history = seen.text.split('data-testid="history"', 1)[1]
    assert history.count('data-testid="audit-entry"') == 2
    assert "prospect" in history
    assert "Oslo" not in history  # personal: masked
    assert "Someone Else" not in history
    assert other["id"] not in history

    hidden = _browser(app, rep).get(f"/customers/{customer['id']}")
    assert hidden.status_code == 200
    assert 'data-testid="history"' not in hidden.text
    assert _browser(app, rep).get("/audit", follow_redirects=False).status_code == 403


def test_entries_are_stored_as_written(db: Database, admin: Caller) -> None:
    make_customer(admin, tags=["vip", "b2b"])
    with db.unit_of_work(write=False) as session:
        stored = session.scalars(select(AuditEntry)).all()
        assert stored
        assert all(audit.entry_hash(entry) == entry.hash for entry in stored)


def test_membership_changes_are_recorded(admin: Caller) -> None:
    customer = make_customer(admin, name="Member Person")
    campaign = admin.post("/api/v1/campaigns", json={"name": "Audited campaign"}).json()
    added = admin.post(
        f"/api/v1/campaigns/{campaign['id']}/members", json={"customer_ids": [customer["id"]]}
    )
    assert added.status_code == 200, added.text
    removed = admin.delete(f"/api/v1/campaigns/{campaign['id']}/members/{customer['id']}")
    assert removed.status_code == 204
    found = entries(admin, entity="campaign", entity_id=campaign["id"])
    details = [entry["detail"] for entry in found if entry["action"] == "update"]
    assert {"members_removed": [customer["id"]]} in details
    assert {"members_added": [customer["id"]]} in details
